"""Citizen reports by email: an SMTP listener (``aiosmtpd``) for the reports address, and the reply by mail.

Off unless ``EMERGENCY_REPORTS_SMTP_PORT`` is set; the runtime starts it on its own event loop
(:func:`start_listener`). What it does with a mail:

- RCPT to any address but the reports address (``EMERGENCY_REPORTS_ADDRESS``): ``550 5.1.1``;
- larger than ``EMERGENCY_REPORTS_MAIL_MAX_BYTES``: ``552`` (aiosmtpd's ``data_size_limit``, announced in SIZE);
- an attachment that is not an image (JPEG, PNG, WebP by its declared type), more than
  ``EMERGENCY_REPORTS_MAX_ATTACHMENTS`` of them, or one larger than ``EMERGENCY_REPORTS_ATTACHMENT_MAX_BYTES``:
  ``552``/``554`` naming the attachment (the images' content is checked by the photo rules where they are kept);
- an automatic mail (``Auto-Submitted`` other than ``no``, ``Precedence: bulk/junk/list/auto_reply``, a null
  sender, ``MAILER-DAEMON``/``postmaster``): accepted (250) and dropped, never answered (no mail loops);
- beyond the sender's rate: ``451 4.7.1`` (the sending server retries later, as a 429's Retry-After asks);
- otherwise subject and body (quoted lines dropped) go into the sender's conversation
  (``service.MessageDesk.answer``, keyed by the From address) and the answer goes back by the email channel
  (``alerts.delivery.channels.email``, as a non-alert message: the texts alone), with the tracking link once
  the report is filed.

Photos: the accepted images travel in ``Inbound.photos``; ``MessageDesk`` puts each through the photo rules
(``feeds.photos.service.accept_photo``: content type, size, pixels, metadata stripped, stored by hash) and files
the report with the ones kept; the answer says how many were attached and names each refused one with its reason.
aiosmtpd logs every envelope address at INFO on ``mail.log``: the listener raises that logger to WARNING.
"""

from __future__ import annotations

import asyncio
import email.policy
import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

from aiosmtpd.smtp import SMTP

from alerts.delivery.channels import email as email_channel
from alerts.delivery.models import ChannelType, Contact, DeliveryJob, Rendered, SendFailed
from emergency.config import Settings
from emergency.events import utcnow
from feeds.messaging.service import Answer, Inbound, MessageDesk, Photo

log = logging.getLogger(__name__)

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
AUTOMATIC_SENDERS = frozenset({"mailer-daemon", "postmaster"})
AUTOMATIC_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})
MAX_TEXT = 2000
_QUOTED = re.compile(r"^\s*>.*$|^On .{0,200} wrote:\s*$", re.MULTILINE)
_TAG = re.compile(r"<[^>]*>")


class MailRefused(Exception):
    """A mail the listener answers with an SMTP error: ``reply`` is the whole line ("552 5.3.4 ...")."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


@dataclass(frozen=True)
class ReportMail:
    """What a report mail says: its sender (personal data), text, id and images."""

    sender: str
    text: str
    message_id: str
    photos: tuple[Photo, ...]


def reports_address(settings: Settings) -> str:
    """The one address the listener takes mail for: ``EMERGENCY_REPORTS_ADDRESS``, else reports@<public host>."""
    host = urlsplit(settings.public_base_url()).hostname or "localhost"
    return (settings.reports_address or f"reports@{host}").strip().lower()


def is_automatic(mail: EmailMessage, *, mail_from: str) -> bool:
    """Whether a mail was sent by a machine (an auto-reply, a bounce, a list): never answered."""
    envelope = (mail_from or "").strip("<> ").lower()
    if not envelope or envelope.split("@", 1)[0] in AUTOMATIC_SENDERS:
        return True
    if (mail.get("Auto-Submitted") or "no").strip().lower() != "no":
        return True
    if (mail.get("Precedence") or "").strip().lower() in AUTOMATIC_PRECEDENCE:
        return True
    return bool(mail.get("X-Autoreply") or mail.get("X-Autorespond"))


def read_mail(*, content: bytes, settings: Settings) -> ReportMail:
    """Subject, body and image attachments of a report mail; ``MailRefused`` for a bad attachment or no sender."""
    mail = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(mail, EmailMessage)
    sender = parseaddr(str(mail.get("From") or ""))[1].strip().lower()
    if "@" not in sender:
        raise MailRefused("550 5.1.7 From: no sender address to answer")
    photos: list[Photo] = []
    for n, part in enumerate(mail.iter_attachments(), start=1):
        ctype = part.get_content_type()
        name = (part.get_filename() or f"attachment {n}")[:80]
        if ctype not in IMAGE_TYPES:
            raise MailRefused(f"554 5.6.1 {name}: only images (JPEG, PNG, WebP) may be attached, not {ctype}")
        if len(photos) >= settings.reports_max_attachments:
            raise MailRefused(f"552 5.3.4 {name}: at most {settings.reports_max_attachments} images per report")
        data = part.get_payload(decode=True) or b""
        if len(data) > settings.reports_attachment_max_bytes:
            raise MailRefused(f"552 5.3.4 {name}: larger than {settings.reports_attachment_max_bytes} bytes")
        photos.append(Photo(filename=name, content_type=ctype, data=data))
    body = mail.get_body(preferencelist=("plain", "html"))
    text = body.get_content() if body is not None else ""
    if body is not None and body.get_content_type() == "text/html":
        text = _TAG.sub(" ", text)
    text = _QUOTED.sub("", text)
    subject = re.sub(r"^\s*((re|aw|fwd?|rv)\s*:\s*)+", "", str(mail.get("Subject") or ""), flags=re.I)
    joined = " ".join(f"{subject}\n{text}".split())[:MAX_TEXT]
    message_id = str(mail.get("Message-ID") or "") or hashlib.sha256(content).hexdigest()
    return ReportMail(sender=sender, text=joined, message_id=message_id, photos=tuple(photos))


class ReportMailHandler:
    """aiosmtpd's handler for the reports address (see the module docstring)."""

    def __init__(self, *, desk: MessageDesk, settings: Settings) -> None:
        self.desk = desk
        self.settings = settings
        self.address = reports_address(settings)
        self.channel = email_channel.from_settings(settings)  # None: email off, reports are taken unanswered
        self.replies: set[asyncio.Task] = set()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list) -> str:
        """Only the reports address."""
        if address.strip().lower() != self.address:
            return "550 5.1.1 this server takes reports at its reports address only"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Read the mail into the sender's conversation and answer by mail in the background."""
        raw = envelope.original_content or envelope.content
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        if is_automatic(parsed, mail_from=envelope.mail_from or ""):
            log.info("an automatic mail to the reports address was dropped unanswered")
            return "250 2.0.0 OK (automatic mail, not answered)"
        try:
            mail = read_mail(content=raw, settings=self.settings)
        except MailRefused as refused:
            return refused.reply
        try:
            answer = await self.desk.answer(message=Inbound(channel="email", sender=mail.sender, text=mail.text,
                                                            message_id=mail.message_id, photos=mail.photos),
                                            now=utcnow())
        except Exception as exc:  # the store or the broker down: the sending server keeps the mail and retries
            log.warning("a report mail was not taken: %s", type(exc).__name__)
            return "451 4.3.0 the report intake is not available now: try again later"
        if answer.limited:
            return "451 4.7.1 too many reports from this sender: try again later"
        if self.channel is not None:
            task = asyncio.create_task(self.reply(to=mail.sender, answer=answer, message_id=mail.message_id))
            self.replies.add(task)
            task.add_done_callback(self.replies.discard)
        return "250 2.0.0 OK" + (f" report {answer.report_id}" if answer.report_id else "")

    async def reply(self, *, to: str, answer: Answer, message_id: str) -> None:
        """Send ``answer`` to ``to`` through the email channel (a failure is logged without the address)."""
        assert self.channel is not None
        now = utcnow()
        key = hashlib.sha256(f"report-reply\0{message_id}".encode()).hexdigest()
        job = DeliveryJob(delivery_id=key, alert_id=answer.report_id or "report", alert_version=answer.report_id or
                          "report", msg_type="Confirmation", subscription_id="report-by-email",
                          channel_id="email-0", channel=ChannelType.email, language=answer.language, priority=4,
                          expires=now + timedelta(hours=1), created_at=now)
        headline = answer.text.split(". ", 1)[0][:120] if answer.report_id else answer.text[:120]
        message = Rendered(headline=headline, wea_short=answer.text[:90], wea_long=answer.text, cap_xml="",
                           geojson={}, link=answer.link or f"{self.settings.public_base_url()}/report")
        try:
            await self.channel.send(job, Contact(subscription_id="report-by-email", channel_id="email-0",
                                                 channel=ChannelType.email, address=to), message)
        except SendFailed as failed:
            log.warning("the answer to a report mail was not sent: %s", failed.reason)


@dataclass
class ReportListener:
    """The running reports SMTP listener."""

    server: asyncio.Server
    handler: ReportMailHandler

    async def close(self) -> None:
        """Stop listening and let the answers in flight finish (or give up on them after 10 s)."""
        self.server.close()
        if self.handler.replies:
            await asyncio.wait(set(self.handler.replies), timeout=10)


async def start_listener(*, desk: MessageDesk, settings: Settings) -> ReportListener:
    """The reports SMTP listener on ``EMERGENCY_REPORTS_SMTP_HOST:PORT``, on the running event loop."""
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs envelope addresses at INFO
    handler = ReportMailHandler(desk=desk, settings=settings)
    host = urlsplit(settings.public_base_url()).hostname or "localhost"
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, data_size_limit=settings.reports_mail_max_bytes, hostname=host,
                     ident="emergency reports", enable_SMTPUTF8=True),
        host=settings.reports_smtp_host, port=settings.reports_smtp_port)
    log.info("reports SMTP listener on %s:%d", settings.reports_smtp_host, settings.reports_smtp_port)
    return ReportListener(server=server, handler=handler)
