"""The SMS channel through Kannel's HTTP ``sendsms`` interface, its delivery reports and inbound STOP/START/HELP.

Sending: one ``sendsms`` GET per delivery with the WEA text (the 360-character text when there is one, else the
90-character one), the alert's link and "Reply STOP to end"; ``coding=2`` (UCS-2) when the text is not GSM-7
(``segments.py``), ``charset=UTF-8`` always. Kannel splits a long text itself (``concatenation = true`` in the
``sendsms-user`` group, ``max-messages`` at least 8; a UCS-2 WEA 360 text plus link needs up to 7 parts), so
every part carries the concatenation header and the phone shows one message.

Delivery reports: every send asks for all of them (``dlr-mask=31``) at ``dlr-url`` =
``EMERGENCY_PUBLIC_URL/api/v1/channels/sms/dlr?t=<delivery>&sig=<HMAC>&type=%d&reply=%A``; ``t`` names the
delivery (base64url JSON, no personal data) and ``sig`` is its HMAC-SHA256 under the callback key, so nobody
can forge a report. Type 1 (delivered to the phone) becomes a "delivered" receipt, 2 (undeliverable) and 16
(refused by the SMSC) "failed"; 4 (buffered) and 8 (accepted by the SMSC) are intermediate and recorded as
nothing. Kannel's fake SMSC answers 8 and then 1 for every message.

Inbound: Kannel's ``sms-service`` calls ``get-url`` = ``inbound_url(settings)`` (``from=%p&text=%a&id=%I``
and a static ``sig``); :func:`keyword_reply` handles STOP (and its synonyms), which opts the number out of every
subscription through the subscription repository, START, which opts it back in, and HELP, which says how; any
other text is a citizen report (``feeds/messaging``, which owns the route and asks here first). The reply is the
HTTP answer's text, which Kannel sends back to the number (``max-messages = 3``, ``concatenation = true``,
``omit-empty = true`` in that ``sms-service`` group: a report's answer with its tracking link may need two or
three parts, in Korean or Spanish above all).

Crash window: Kannel has no idempotency key, so a crash between Kannel's 202 and the ledger mark sends the SMS
again on redelivery.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import phonenumbers

from alerts.delivery.channels.segments import segmentation
from alerts.delivery.models import ChannelType, Contact, DeliveryJob, Receipt, Rendered, SendFailed
from emergency.config import Settings
from emergency.errors import Forbidden, Unavailable, ValidationFailed
from emergency.events import utcnow

if TYPE_CHECKING:
    from alerts.delivery.channels.sms_twilio import TwilioChannel

DLR_PATH = "/api/v1/channels/sms/dlr"
INBOUND_PATH = "/api/v1/channels/sms/inbound"
SIG_PATTERN = "^[0-9a-f]{64}$"  # HMAC-SHA256, hex
TOKEN_PATTERN = "^[A-Za-z0-9_-]{1,2048}$"  # base64url without padding
DLR_MASK = 31  # delivered 1 | undeliverable 2 | buffered 4 | SMSC accepted 8 | SMSC rejected 16
DLR_STATES = {1: ("delivered", None), 2: ("failed", "undeliverable to the phone"),
              16: ("failed", "refused by the SMS centre"), 4: (None, None), 8: (None, None)}

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "ALTO", "PARAR"})
START_WORDS = frozenset({"START", "UNSTOP", "YES", "SUBSCRIBE"})
HELP_WORDS = frozenset({"HELP", "INFO", "AYUDA"})
REPLY_STOPPED = "You will no longer receive alerts. Reply START to resume."
REPLY_STARTED = "You will receive alerts again. Reply STOP to end."
REPLY_HELP = "Emergency alerts from {host}. Reply STOP to end, START to resume. Manage: {url}"


class OptOuts(Protocol):
    """What the inbound handler needs from the subscription repository."""

    async def set_number_opt_out(self, number: str, stopped: bool) -> None:
        """Stop (or resume) every SMS delivery to ``number`` (E.164)."""
        ...


class ReceiptSink(Protocol):
    """Where delivery-report receipts go (the fan-out's receipts publisher)."""

    async def publish(self, receipt: Receipt) -> None: ...


# ---------------------------------------------------------------- signed callback URLs

def callback_key(settings: Settings) -> bytes:
    """The HMAC key of the callback URLs: ``EMERGENCY_SMS_CALLBACK_SECRET``, else a random key created once in
    ``data_dir/sms_callback.key`` (mode 0600) and read back by every process sharing that directory."""
    secret = settings.sms_callback_secret.get_secret_value()
    if secret:
        return secret.encode("utf-8")
    path = settings.data_dir / "sms_callback.key"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def _mac(key: bytes, purpose: str, value: str) -> str:
    return hmac.new(key, f"{purpose}\0{value}".encode(), hashlib.sha256).hexdigest()


def delivery_token(job: DeliveryJob) -> str:
    """``t``: the delivery, alert and version as base64url JSON (characters Kannel leaves alone)."""
    raw = json.dumps([job.delivery_id, job.alert_id, job.alert_version], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def dlr_url(*, public_url: str, job: DeliveryJob, key: bytes) -> str:
    """The signed delivery-report URL of one delivery, with Kannel's ``%d`` (type) and ``%A`` (SMSC reply)."""
    t = delivery_token(job)
    return f"{public_url.rstrip('/')}{DLR_PATH}?t={t}&sig={_mac(key, 'dlr', t)}&type=%d&reply=%A"


def inbound_url(settings: Settings) -> str:
    """The ``get-url`` of Kannel's ``sms-service`` group (Kannel's ``%p`` sender, ``%a`` text and ``%I`` message
    id filled in; the id makes a retried call the same report)."""
    sig = _mac(callback_key(settings), "inbound", "")
    return f"{settings.public_base_url()}{INBOUND_PATH}?sig={sig}&from=%p&text=%a&id=%I"


def check_sig(*, key: bytes, purpose: str, value: str, sig: str) -> None:
    """Refuse (403 naming ``sig``) a callback whose signature is not ours."""
    if not hmac.compare_digest(_mac(key, purpose, value).encode(), sig.encode("utf-8", "replace")):
        raise Forbidden("sig", "the signature does not match this callback")


def dlr_receipt(*, key: bytes, t: str, sig: str, dlr_type: int, reply: str | None) -> Receipt | None:
    """The receipt a signed Kannel delivery report stands for; None for an intermediate report (buffered,
    accepted by the SMSC). Refuses a bad signature (403 ``sig``), token (422 ``t``) or type (422 ``type``)."""
    check_sig(key=key, purpose="dlr", value=t, sig=sig)
    try:
        delivery_id, alert_id, alert_version = json.loads(base64.urlsafe_b64decode(t + "=" * (-len(t) % 4)))
    except ValueError:
        raise ValidationFailed("t", "not a delivery token") from None
    if dlr_type not in DLR_STATES:
        raise ValidationFailed("type", f"not a Kannel delivery-report type ({', '.join(map(str, DLR_STATES))})",
                               candidates=[str(k) for k in DLR_STATES])
    state, reason = DLR_STATES[dlr_type]
    if state is None:
        return None
    if reason and reply:
        reason = f"{reason}: {reply[:120]}"
    return Receipt(delivery_id=delivery_id, alert_id=alert_id, alert_version=alert_version, channel=ChannelType.sms,
                   state=state, at=utcnow(), reason=reason, remote_id=None)


# ---------------------------------------------------------------- inbound STOP / START / HELP

def e164(number: str, *, field: str = "from") -> str:
    """``number`` (as Kannel gives it, with or without ``+``) in E.164; 422 naming ``field`` otherwise."""
    text = number.strip()
    try:
        parsed = phonenumbers.parse(text if text.startswith("+") else f"+{text}", None)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_possible_number(parsed):
        raise ValidationFailed(field, "not a phone number in international form")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def keyword(text: str) -> str:
    """The first word of an inbound text, upper case, without punctuation."""
    words = text.strip().split()
    return "".join(c for c in words[0] if c.isalnum()).upper() if words else ""


def is_keyword(text: str) -> bool:
    """Whether an inbound text is STOP, START or HELP (or a synonym): issue 11's, answered by :func:`keyword_reply`."""
    word = keyword(text)
    return word in STOP_WORDS or word in START_WORDS or word in HELP_WORDS


async def keyword_reply(*, number: str, text: str, opt_outs: OptOuts | None, public_url: str) -> str | None:
    """The reply to STOP (opts ``number``, E.164, out), START (back in) or HELP; None for any other text."""
    word = keyword(text)
    if word in STOP_WORDS or word in START_WORDS:
        if opt_outs is None:
            raise Unavailable("from", "the subscription repository is not available in this process")
        stopped = word in STOP_WORDS
        await opt_outs.set_number_opt_out(number, stopped)
        return REPLY_STOPPED if stopped else REPLY_STARTED
    if word in HELP_WORDS:
        return REPLY_HELP.format(host=urlsplit(public_url).hostname or public_url, url=public_url)
    return None


# ---------------------------------------------------------------- sending

def sms_text(*, job: DeliveryJob, message: Rendered) -> str:
    """The text of one delivery: a confirmation's own text, else the WEA text, the link and the way out (one line:
    some SMS centres, Kannel's fake one among them, take a line end for the end of the message)."""
    body = message.wea_long or message.wea_short
    if job.msg_type in ("Confirmation", "Notice"):  # their text carries its own links
        return body
    return f"{body} {message.link} Reply STOP to end"


class KannelChannel:
    """Sends each delivery with one Kannel ``sendsms`` call (see the module docstring)."""

    type = ChannelType.sms
    per_process = False

    def __init__(self, *, gateway_url: str, sender: str, public_url: str, key: bytes, timeout_s: float = 10.0) -> None:
        parts = urlsplit(gateway_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("EMERGENCY_SMS_GATEWAY_URL: expected Kannel's http://host:port/cgi-bin/sendsms?"
                             "username=..&password=..")
        self.endpoint = urlunsplit(parts._replace(query=""))
        self.base_params = dict(parse_qsl(parts.query))  # username, password, and e.g. smsc=
        self.sender = sender
        self.public_url = public_url
        self.key = key
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), follow_redirects=False, trust_env=False)

    def params(self, *, job: DeliveryJob, contact: Contact, message: Rendered) -> dict[str, str]:
        """The ``sendsms`` query of one delivery."""
        if not contact.number:
            raise SendFailed("the contact has no phone number", retry=False)
        text = sms_text(job=job, message=message)
        params = {**self.base_params, "to": contact.number, "text": text, "charset": "UTF-8",
                  "coding": "2" if segmentation(text).encoding == "ucs2" else "0",
                  "dlr-mask": str(DLR_MASK), "dlr-url": dlr_url(public_url=self.public_url, job=job, key=self.key)}
        if self.sender:
            params["from"] = self.sender
        return params

    async def send(self, job: DeliveryJob, contact: Contact, message: Rendered) -> Receipt:
        """Hand the message to Kannel; the receipt is "sent" with Kannel's answer (delivery reports follow)."""
        query = urlencode(self.params(job=job, contact=contact, message=message))
        try:
            answer = await self.client.get(f"{self.endpoint}?{query}")
        except httpx.TimeoutException:
            raise SendFailed("SMS gateway timed out", retry=True) from None
        except httpx.HTTPError as exc:
            raise SendFailed(f"SMS gateway unreachable: {type(exc).__name__}", retry=True) from None
        status, said = answer.status_code, answer.text.strip()[:200]
        if 200 <= status < 300:
            return Receipt(delivery_id=job.delivery_id, alert_id=job.alert_id, alert_version=job.alert_version,
                           channel=self.type, state="sent", at=utcnow(), remote_id=said or f"HTTP {status}")
        raise SendFailed(f"SMS gateway answered {status}: {said}", retry=status >= 500 or status == 429)

    async def close(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()


def from_settings(settings: Settings, **_deps: object) -> KannelChannel | TwilioChannel | None:
    """The SMS channel, or None when ``EMERGENCY_SMS_GATEWAY_URL`` is empty (off): Kannel for an http(s) URL, the
    Twilio-shaped driver (``sms_twilio.py``) for ``twilio+https://SID:TOKEN@host``."""
    if not settings.sms_gateway_url:
        return None
    if settings.sms_gateway_url.startswith("twilio+"):
        from alerts.delivery.channels.sms_twilio import TwilioChannel  # it imports sms_text from here

        return TwilioChannel(gateway_url=settings.sms_gateway_url, sender=settings.sms_from)
    return KannelChannel(gateway_url=settings.sms_gateway_url, sender=settings.sms_from,
                         public_url=settings.public_base_url(), key=callback_key(settings))
