"""The SMS channel through a Twilio-shaped REST API (``EMERGENCY_SMS_GATEWAY_URL=twilio+https://SID:TOKEN@host``).

One ``POST /2010-04-01/Accounts/{SID}/Messages.json`` (form ``To``, ``From``, ``Body``; HTTP Basic SID:token) per
delivery, the same text as the Kannel driver (``sms.sms_text``); the provider splits and encodes it. The receipt
is "sent" with the message ``sid``. Answers: 201/200 sent; 429 (``Retry-After`` passed on) and 5xx, timeouts and
connection errors retry; other 4xx do not (error 21610 means the person replied STOP to the provider, which
handles STOP/START/HELP itself on this driver).

Inbound: the provider's webhook (form ``From``, ``To``, ``Body``, ``MessageSid``) is served by feeds/messaging;
:func:`check_signature` verifies its ``X-Twilio-Signature`` with the auth token of ``EMERGENCY_SMS_GATEWAY_URL``.
Not built: the provider's status callbacks (so no "delivered" receipts on this driver).
Crash window: no idempotency key in this API, so a crash between the 201 and the ledger mark sends again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from alerts.delivery.channels.sms import sms_text
from alerts.delivery.channels.webhook import retry_after_s
from alerts.delivery.models import ChannelType, Contact, DeliveryJob, Receipt, Rendered, SendFailed
from emergency.config import Settings
from emergency.errors import Forbidden
from emergency.events import utcnow

SCHEMES = ("twilio+https", "twilio+http")
OPTED_OUT = 21610  # "Attempt to send to unsubscribed recipient"


def auth_token(settings: Settings) -> str | None:
    """The auth token of a Twilio-shaped ``EMERGENCY_SMS_GATEWAY_URL`` (its password part); None for Kannel or off."""
    parts = urlsplit(settings.sms_gateway_url)
    if parts.scheme not in SCHEMES or not parts.password:
        return None
    return unquote(parts.password)


def signature(*, token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Twilio's request signature: HMAC-SHA1 under the auth token of the full URL followed by every POST
    parameter's name and value, sorted by name, base64."""
    data = url + "".join(f"{k}{v}" for k, v in sorted(params, key=lambda kv: kv[0]))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def check_signature(*, settings: Settings, url: str, params: Iterable[tuple[str, str]], given: str | None) -> None:
    """Refuse (403 naming ``X-Twilio-Signature``) a webhook not signed with the configured auth token."""
    token = auth_token(settings)
    if token is None:
        raise Forbidden("X-Twilio-Signature", "no Twilio-shaped gateway (and so no auth token) is configured")
    expected = signature(token=token, url=url, params=params)
    if not given or not hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace")):
        raise Forbidden("X-Twilio-Signature", "the signature does not match this request")


class TwilioChannel:
    """Sends each delivery with one Messages API call (see the module docstring)."""

    type = ChannelType.sms
    per_process = False

    def __init__(self, *, gateway_url: str, sender: str, timeout_s: float = 10.0) -> None:
        parts = urlsplit(gateway_url)
        if parts.scheme not in SCHEMES or not parts.hostname or not parts.username or not parts.password:
            raise ValueError("EMERGENCY_SMS_GATEWAY_URL: expected twilio+https://ACCOUNT_SID:AUTH_TOKEN@host")
        if not sender:
            raise ValueError("EMERGENCY_SMS_FROM: the Twilio-style driver needs the sending number")
        self.account = unquote(parts.username)
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        base = urlunsplit((parts.scheme.removeprefix("twilio+"), netloc, "", "", ""))
        self.endpoint = f"{base}/2010-04-01/Accounts/{self.account}/Messages.json"
        self.sender = sender
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), follow_redirects=False, trust_env=False,
                                        auth=httpx.BasicAuth(self.account, unquote(parts.password)))

    async def send(self, job: DeliveryJob, contact: Contact, message: Rendered) -> Receipt:
        """Create the message; the receipt is "sent" with the provider's message sid."""
        if not contact.number:
            raise SendFailed("the contact has no phone number", retry=False)
        form = {"To": contact.number, "From": self.sender, "Body": sms_text(job=job, message=message)}
        try:
            answer = await self.client.post(self.endpoint, data=form)
        except httpx.TimeoutException:
            raise SendFailed("SMS provider timed out", retry=True) from None
        except httpx.HTTPError as exc:
            raise SendFailed(f"SMS provider unreachable: {type(exc).__name__}", retry=True) from None
        status = answer.status_code
        try:
            body = answer.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        if status in (200, 201) and body.get("sid"):
            return Receipt(delivery_id=job.delivery_id, alert_id=job.alert_id, alert_version=job.alert_version,
                           channel=self.type, state="sent", at=utcnow(), remote_id=str(body["sid"])[:64])
        code = body.get("code")
        if code == OPTED_OUT:
            raise SendFailed("the number replied STOP to the SMS provider (21610)", retry=False)
        reason = f"SMS provider answered {status}" + (f" (code {code})" if code else "")
        if status == 429 or status >= 500:
            raise SendFailed(reason, retry=True, retry_after_s=retry_after_s(answer.headers.get("Retry-After"),
                                                                             now=utcnow()))
        raise SendFailed(reason, retry=False)

    async def close(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()
