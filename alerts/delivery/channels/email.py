"""The email channel: one SMTP submission per delivery (``aiosmtplib``).

Each mail is multipart/mixed: a multipart/alternative text + HTML body (every text HTML-escaped) and, for
alert messages, the version's CAP XML attached as ``application/cap+xml`` (``alert.xml``); a confirmation is
the texts alone. Headers: ``Message-ID: <delivery_id@host of EMERGENCY_PUBLIC_URL>`` (the idempotency key of
the crash window: the same delivery sent twice carries the same Message-ID, which receiving systems and mail
clients collapse), and the one-click way out, ``List-Unsubscribe`` + ``List-Unsubscribe-Post`` (RFC 8058).

Errors: a 4xx answer, a refused or broken connection or a timeout may pass (``SendFailed(retry=True)``); a
5xx answer is permanent (``retry=False``).
"""

from __future__ import annotations

import email.policy
import html
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from urllib.parse import unquote, urlsplit

import aiosmtplib

from alerts.delivery.models import ChannelType, Contact, DeliveryJob, Receipt, Rendered, SendFailed
from emergency.config import Settings
from emergency.events import utcnow

CAP_XML = "application/cap+xml"
# CRLF line ends; headers folded only past RFC 5322's hard limit, so a long unsubscribe URL stays on one line
POLICY = email.policy.SMTP.clone(max_line_length=998)

# The subject's prefix per priority class (alerts.delivery.models.priority).
PRIORITY_LABEL = ("Presidential Alert", "Extreme Alert", "Severe Alert", "AMBER Alert", "Public Safety Message",
                  "Test")


def message_id(*, delivery_id: str, public_url: str) -> str:
    """``<delivery_id@host>``: the same for every attempt of one delivery."""
    host = urlsplit(public_url).hostname or "localhost"
    return f"<{delivery_id}@{host}>"


def subject(*, job: DeliveryJob, message: Rendered) -> str:
    """One line: the tier label (or the message type for confirmations, updates, cancels) and the headline."""
    if job.msg_type in ("Confirmation", "Notice"):
        return message.headline
    label = PRIORITY_LABEL[job.priority]
    prefix = {"Update": f"{label} (update)", "Cancel": f"{label} (cancelled)"}.get(job.msg_type, label)
    return " ".join(f"{prefix}: {message.headline}".split())[:200]


def _paragraphs(message: Rendered) -> list[str]:
    return [t for t in (message.wea_long or message.wea_short, message.description, message.instruction) if t]


def text_body(*, job: DeliveryJob, message: Rendered, unsubscribe_url: str | None) -> str:
    """The plain-text part."""
    lines = [message.headline, "", *(p + "\n" for p in _paragraphs(message)), message.link]
    if unsubscribe_url:
        lines += ["", f"Stop these messages: {unsubscribe_url}"]
    return "\n".join(lines) + "\n"


def html_body(*, job: DeliveryJob, message: Rendered, unsubscribe_url: str | None) -> str:
    """The HTML part: the same texts, every one escaped."""
    e = html.escape
    parts = [f"<h1>{e(message.headline)}</h1>", *(f"<p>{e(p)}</p>" for p in _paragraphs(message)),
             f'<p><a href="{e(message.link, quote=True)}">{e(message.link)}</a></p>']
    if unsubscribe_url:
        parts.append(f'<p><small><a href="{e(unsubscribe_url, quote=True)}">Stop these messages</a></small></p>')
    return f'<!doctype html><html><body>{"".join(parts)}</body></html>'


def build_message(*, job: DeliveryJob, contact: Contact, message: Rendered, sender: str,
                  public_url: str) -> EmailMessage:
    """The mail of one delivery (see the module docstring)."""
    if not contact.address:
        raise SendFailed("the contact has no email address", retry=False)
    mail = EmailMessage(policy=POLICY)
    mail["From"] = sender
    mail["To"] = contact.address
    mail["Subject"] = subject(job=job, message=message)
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = message_id(delivery_id=job.delivery_id, public_url=public_url)
    mail["Auto-Submitted"] = "auto-generated"
    if contact.unsubscribe_url:
        mail["List-Unsubscribe"] = f"<{contact.unsubscribe_url}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mail.set_content(text_body(job=job, message=message, unsubscribe_url=contact.unsubscribe_url))
    mail.add_alternative(html_body(job=job, message=message, unsubscribe_url=contact.unsubscribe_url),
                         subtype="html")
    if job.msg_type != "Confirmation" and message.cap_xml:
        mail.add_attachment(message.cap_xml.encode("utf-8"), maintype="application", subtype="cap+xml",
                            filename="alert.xml")
    return mail


class EmailChannel:
    """Sends each delivery as one mail through one SMTP server (a connection per send)."""

    type = ChannelType.email
    per_process = False

    def __init__(self, *, url: str, sender: str, public_url: str, timeout_s: float = 30.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"EMERGENCY_SMTP_URL: expected smtp://host:port or smtps://host:port, got {parts.scheme!r}")
        self.host = parts.hostname
        self.port = parts.port or (465 if parts.scheme == "smtps" else 25)
        self.use_tls = parts.scheme == "smtps"
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.sender = sender
        self.public_url = public_url
        self.timeout_s = timeout_s

    async def send(self, job: DeliveryJob, contact: Contact, message: Rendered) -> Receipt:
        """Submit the mail; the receipt is "sent" with the server's answer to DATA as ``remote_id``."""
        mail = build_message(job=job, contact=contact, message=message, sender=self.sender,
                             public_url=self.public_url)
        try:
            _, answer = await aiosmtplib.send(  # our own bytes: aiosmtplib would re-fold the headers
                bytes(mail), sender=parseaddr(self.sender)[1], recipients=[contact.address or ""], hostname=self.host, port=self.port, use_tls=self.use_tls, username=self.username,
                password=self.password, timeout=self.timeout_s)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise SendFailed(f"SMTP refused the recipient ({', '.join(map(str, codes))})",
                             retry=all(400 <= c < 500 for c in codes)) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise SendFailed(f"SMTP {exc.code}: {exc.message[:200]}", retry=400 <= exc.code < 500) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise SendFailed(f"SMTP server unreachable: {type(exc).__name__}", retry=True) from None
        return Receipt(delivery_id=job.delivery_id, alert_id=job.alert_id, alert_version=job.alert_version,
                       channel=self.type, state="sent", at=utcnow(), remote_id=answer[:200] or None)

    async def close(self) -> None:
        """Nothing is held between sends."""


def from_settings(settings: Settings, **_deps: object) -> EmailChannel | None:
    """The email channel, or None when ``EMERGENCY_SMTP_URL`` is empty (off)."""
    if not settings.smtp_url:
        return None
    host = urlsplit(settings.public_base_url()).hostname or "localhost"
    return EmailChannel(url=settings.smtp_url, sender=settings.smtp_from or f"alerts@{host}",
                        public_url=settings.public_base_url(), timeout_s=settings.smtp_timeout_s)
