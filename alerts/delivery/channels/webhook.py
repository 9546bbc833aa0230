"""The webhook channel: one signed JSON POST per delivery to the subscriber's URL.

Body: ``{"type": "alert", "delivery_id", "alert_id", "alert_version", "msg_type", "alert": <the public GeoJSON
feature>, "cap_xml": "<the CAP XML>"}``, signed per Standard Webhooks with the subscriber's secret (headers
``webhook-id`` = the delivery id — the receiver's idempotency key for the crash window —, ``webhook-timestamp``,
``webhook-signature``). The URL is checked against server-side request forgery (``emergency.netguard``) again,
with a fresh DNS answer, just before every call; redirects are not followed.

Answers: 2xx sent; 5xx, 429 (its ``Retry-After`` passed on), timeouts and connection errors may pass
(``retry=True``); any other answer (other 4xx, 3xx) is permanent.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
from standardwebhooks import Webhook

from alerts.delivery.models import ChannelType, Contact, DeliveryJob, Receipt, Rendered, SendFailed
from emergency.config import Settings
from emergency.errors import ValidationFailed
from emergency.events import utcnow
from emergency.netguard import check_outbound_url, parse_allow_hosts

USER_AGENT = "emergency-alerts-webhook/1"


def payload(*, job: DeliveryJob, message: Rendered) -> str:
    """The JSON body of one delivery (no contact data)."""
    return json.dumps({"type": "alert", "delivery_id": job.delivery_id, "alert_id": job.alert_id,
                       "alert_version": job.alert_version, "msg_type": job.msg_type, "alert": message.geojson,
                       "cap_xml": message.cap_xml}, ensure_ascii=False, separators=(",", ":"))


def signer(secret: str) -> Webhook:
    """A Standard Webhooks signer: ``whsec_<base64>`` secrets as the spec has them, any other text as raw bytes."""
    return Webhook(secret) if secret.startswith("whsec_") else Webhook(secret.encode("utf-8"))


def signed_headers(*, job: DeliveryJob, body: str, secret: str, at: datetime) -> dict[str, str]:
    """``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` for ``body``."""
    return {"webhook-id": job.delivery_id, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signer(secret).sign(job.delivery_id, at, body)}


def retry_after_s(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from an HTTP ``Retry-After`` (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class WebhookChannel:
    """POSTs each delivery to its subscriber's URL (one HTTP client per channel)."""

    type = ChannelType.webhook
    per_process = False

    def __init__(self, *, allow_hosts: frozenset[str] = frozenset(), timeout_s: float = 10.0) -> None:
        self.allow_hosts = allow_hosts
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), follow_redirects=False,
                                        headers={"User-Agent": USER_AGENT}, trust_env=False)

    async def send(self, job: DeliveryJob, contact: Contact, message: Rendered) -> Receipt:
        """Sign and POST; the receipt is "sent" once the receiver answered 2xx."""
        if not contact.url or not contact.secret:
            raise SendFailed("the contact has no webhook URL or secret", retry=False)
        try:
            await check_outbound_url(contact.url, field="url", allow_hosts=self.allow_hosts)
        except ValidationFailed as exc:
            # a name that does not resolve right now may resolve later; a forbidden address stays forbidden
            raise SendFailed(f"webhook URL refused: {exc.message}", retry="does not resolve" in exc.message) from None
        body = payload(job=job, message=message)
        now = utcnow()
        headers = {"Content-Type": "application/json",
                   **signed_headers(job=job, body=body, secret=contact.secret, at=now)}
        try:
            answer = await self.client.post(contact.url, content=body.encode("utf-8"), headers=headers)
        except httpx.TimeoutException:
            raise SendFailed("webhook timed out", retry=True) from None
        except httpx.HTTPError as exc:
            raise SendFailed(f"webhook unreachable: {type(exc).__name__}", retry=True) from None
        status = answer.status_code
        if 200 <= status < 300:
            return Receipt(delivery_id=job.delivery_id, alert_id=job.alert_id, alert_version=job.alert_version,
                           channel=self.type, state="sent", at=utcnow(), remote_id=f"HTTP {status}")
        if status == 429:
            raise SendFailed("webhook answered 429 Too Many Requests", retry=True,
                             retry_after_s=retry_after_s(answer.headers.get("Retry-After"), now=utcnow()))
        if status >= 500:
            raise SendFailed(f"webhook answered {status}", retry=True,
                             retry_after_s=retry_after_s(answer.headers.get("Retry-After"), now=utcnow()))
        what = "a redirect, which is not followed" if 300 <= status < 400 else "refused for good"
        raise SendFailed(f"webhook answered {status} ({what})", retry=False)

    async def close(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()


def from_settings(settings: Settings, **_deps: object) -> WebhookChannel:
    """The webhook channel: always on (each subscriber brings its own URL); the allow list is the SSRF guard's."""
    return WebhookChannel(allow_hosts=parse_allow_hosts(settings.webhook_allow_hosts),
                          timeout_s=settings.webhook_timeout_s)
