"""Web Push (RFC 8030 protocol, RFC 8291 aes128gcm message encryption, RFC 8292 VAPID) with ``pywebpush``.

One POST per delivery to the subscriber's push service endpoint (the browser's push subscription, read from
the subscription repository just before sending):

- ``Authorization: vapid t=<ES256 JWT>, k=<public key>`` signed with the server's VAPID key (``vapid.py``),
  ``aud`` the endpoint's origin, ``exp`` 12 h ahead;
- body: JSON ``{delivery_id, alert_id, alert_version, msg_type, headline, wea, link}`` encrypted aes128gcm
  to the subscription's ``p256dh`` key and ``auth`` secret;
- ``Topic``: a 32-character hash of the alert thread id, so a newer version replaces an older one the push
  service still holds (this is what covers the crash window between the push service's 201 and the ledger's
  mark: a resend replaces, it does not add, while the first is undelivered; one the device already showed
  is shown again, with the same ``delivery_id`` for the page to drop);
- ``Urgency: high`` for priority classes 0-2 (presidential, imminent threat), ``normal`` otherwise;
  ``TTL``: the seconds until the alert expires.

Answers: 201/202 sent; 404/410 the subscription is gone (not retried; ``on_gone`` is told so the
subscription's channel can be removed); 429 and 5xx retried; other 4xx not. The endpoint URL is checked with
``emergency.netguard.check_outbound_url`` before every call (``EMERGENCY_WEBHOOK_ALLOW_HOSTS``).

Real browsers' push services (FCM, Mozilla autopush, Apple) are on the internet: offline deployments and
the tests reach only a push service on their own network.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from urllib.parse import urlsplit

import aiohttp
from py_vapid import Vapid02
from pywebpush import WebPusher, WebPushException

from alerts.delivery.channels.vapid import ensure_vapid
from alerts.delivery.models import ChannelType, Contact, DeliveryJob, Receipt, Rendered, SendFailed
from emergency.config import Settings
from emergency.errors import ValidationFailed
from emergency.events import utcnow
from emergency.netguard import check_outbound_url, parse_allow_hosts
from emergency.store.base import Store

JWT_LIFETIME_S = 12 * 3600
HEADLINE_MAX = 200  # the whole encrypted payload must stay under 4 KB

OnGone = Callable[[str, str], Awaitable[None] | None]  # (subscription_id, channel_id)


def push_topic(alert_id: str) -> str:
    """The RFC 8030 ``Topic`` of an alert thread: 32 hex characters of its SHA-256 (base64url alphabet)."""
    return hashlib.sha256(alert_id.encode("utf-8")).hexdigest()[:32]


def urgency(priority: int) -> str:
    """``high`` for presidential and imminent threat (priority 0-2), else ``normal`` (RFC 8030 §5.3)."""
    return "high" if priority <= 2 else "normal"


def ttl_seconds(expires: datetime, now: datetime) -> int:
    """Seconds from ``now`` until ``expires`` (0 or more)."""
    return max(0, int((expires - now).total_seconds()))


def push_payload(job: DeliveryJob, message: Rendered) -> bytes:
    """The plaintext the service worker receives (no personal data)."""
    return json.dumps({"delivery_id": job.delivery_id, "alert_id": job.alert_id, "alert_version": job.alert_version,
                       "msg_type": job.msg_type, "headline": message.headline[:HEADLINE_MAX],
                       "wea": message.wea_short, "link": message.link}, separators=(",", ":")).encode("utf-8")


class WebPushChannel:
    """Sends each delivery to its browser push subscription; once per system (from the channel's group)."""

    type = ChannelType.webpush
    per_process = False

    def __init__(self, *, store: Store, subject: str, allow_hosts: frozenset[str] = frozenset(),
                 timeout_s: float = 10.0, on_gone: OnGone | None = None) -> None:
        self.store = store
        self.subject = subject
        self.allow_hosts = allow_hosts
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.on_gone = on_gone
        self.gone: set[tuple[str, str]] = set()  # (subscription_id, channel_id) the push service says are gone
        self._vapid: Vapid02 | None = None
        self._session: aiohttp.ClientSession | None = None
        self._lock = asyncio.Lock()

    async def _ready(self) -> tuple[Vapid02, aiohttp.ClientSession]:
        async with self._lock:
            if self._vapid is None:
                self._vapid = await ensure_vapid(self.store)
            if self._session is None:
                self._session = aiohttp.ClientSession()
        return self._vapid, self._session

    async def send(self, job: DeliveryJob, contact: Contact, message: Rendered) -> Receipt:
        """POST the encrypted message to the push service; see the module docstring for the answers."""
        sub = contact.push or {}
        endpoint = sub.get("endpoint")
        if not isinstance(endpoint, str) or not isinstance(sub.get("keys"), dict):
            raise SendFailed("the push subscription has no endpoint or keys", retry=False)
        now = utcnow()
        ttl = ttl_seconds(job.expires, now)
        if ttl == 0:
            raise SendFailed("the alert expired before it could be pushed", retry=False)
        try:
            await check_outbound_url(endpoint, field="webpush.endpoint", allow_hosts=self.allow_hosts)
        except ValidationFailed as exc:
            raise SendFailed(f"push endpoint refused: {exc.message}", retry=False) from None
        vapid, session = await self._ready()
        headers = vapid.sign({"sub": self.subject, "aud": _origin(endpoint), "exp": int(now.timestamp()) + JWT_LIFETIME_S})
        headers.update({"Topic": push_topic(job.alert_id), "Urgency": urgency(job.priority)})
        try:
            pusher = WebPusher(sub, aiohttp_session=session)
            resp = await pusher.send_async(push_payload(job, message), headers, ttl=ttl, timeout=self.timeout)
        except WebPushException as exc:  # keys that do not decode: the subscription is unusable
            raise SendFailed(f"push subscription unusable: {exc.message}", retry=False) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise SendFailed(f"push service unreachable: {type(exc).__name__}", retry=True) from None
        status = resp.status
        if status in (200, 201, 202):
            return Receipt(delivery_id=job.delivery_id, alert_id=job.alert_id, alert_version=job.alert_version,
                           channel=self.type, state="sent", at=utcnow())  # the Location may identify the browser
        if status in (404, 410):
            await self._gone(contact)
            raise SendFailed(f"push subscription gone ({status})", retry=False)
        raise SendFailed(f"push service answered {status}", retry=status == 429 or status >= 500)

    async def _gone(self, contact: Contact) -> None:
        self.gone.add((contact.subscription_id, contact.channel_id))
        if self.on_gone is not None:
            done = self.on_gone(contact.subscription_id, contact.channel_id)
            if done is not None:
                await done

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _origin(url: str) -> str:
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc}"


def vapid_subject(settings: Settings) -> str:
    """The VAPID ``sub`` claim: EMERGENCY_VAPID_SUBJECT, else EMERGENCY_PUBLIC_URL, else this server's address."""
    return settings.vapid_subject or settings.public_base_url()


def from_settings(settings: Settings, *, store: Store | None = None, on_gone: OnGone | None = None,
                  **_: object) -> WebPushChannel | None:
    """The Web Push channel (on whenever a store is given: its only peer is each subscriber's push service)."""
    if store is None:
        return None
    return WebPushChannel(store=store, subject=vapid_subject(settings),
                          allow_hosts=parse_allow_hosts(settings.webhook_allow_hosts), on_gone=on_gone)
