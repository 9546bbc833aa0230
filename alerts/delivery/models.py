"""The delivery contract shared by the fan-out, the channel workers, the channels and the receipts API.

Flow (see docs/architecture.md, "Alert delivery"):

    alerts.issued --(group "fanout")--> ledger rows (unique (alert_version, subscription, channel))
                                        + one DeliveryJob per row on alerts.deliveries.p<priority>
    alerts.deliveries.p0..p5 --(group "channel.<type>", highest priority first)--> Channel.send
                                        --> Receipt on alerts.receipts (queued/sent/delivered/failed/acknowledged)

No personal data travels on a topic: a job names the subscription and the channel id; the channel worker
reads the address, number, URL, secret or push subscription from the subscription repository just before
sending. Receipts carry no personal data either.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from alerts.tiers import POLICY, Tier
from emergency.stream.topics import ALERTS_DELIVERIES, DELIVERY_PRIORITIES, SUBSCRIPTIONS


class ChannelType(str, Enum):
    websocket = "websocket"
    webpush = "webpush"
    email = "email"
    sms = "sms"
    webhook = "webhook"
    mqtt = "mqtt"
    mastodon = "mastodon"  # post-out of each public alert to one account: a system-wide "subscriber"


# Priority classes, 0 first: presidential > imminent extreme > imminent severe > AMBER > public safety > test.
# The topic names live in the kernel (emergency.stream.topics), which creates them.
PRIORITIES = DELIVERY_PRIORITIES
DELIVERY_TOPICS = ALERTS_DELIVERIES
SUBSCRIPTIONS_TOPIC = SUBSCRIPTIONS


def priority(tier: Tier | str, severity: str | None = None) -> int:
    """The priority class of an alert version (0 = first): presidential 0, imminent threat extreme 1, imminent
    threat severe 2, child abduction (AMBER) 3, public safety 4, test 5 (the tier's ``rank``). A tier name this
    system does not know is taken as an imminent threat (1 when its CAP ``severity`` is Extreme, else 2): a
    warning is never held back for being unclassified. ``severity`` is only used for that case."""
    try:
        return POLICY[Tier(tier)].rank
    except ValueError:
        return 1 if (severity or "").lower() == "extreme" else 2


class DeliveryJob(BaseModel):
    """One delivery: an alert version to one channel of one subscription. Keyed by ``subscription_id`` on its
    priority's topic. ``delivery_id`` is the ledger key ``<alert_version>|<subscription_id>|<channel_id>``
    hashed (hex), also the channel's idempotency key (Message-ID, webhook-id, Web Push Topic, MQTT msg id)."""

    model_config = ConfigDict(extra="forbid")
    delivery_id: str
    alert_id: str             # the alert thread's event id (alert:...)
    alert_version: str        # the CAP identifier of this version (event id, or "<id>:<n>" for updates)
    # Notice: a message to one person that is not an alert version (a registrant's check-in, a facility operator's
    # notification; alerts.delivery.notices): the directory renders it (``Directory.notice``)
    msg_type: Literal["Alert", "Update", "Cancel", "Confirmation", "Status", "Notice"] = "Alert"
    subscription_id: str
    channel_id: str           # the subscription's channel (e.g. "email-0"); its contact lives in the repository
    channel: ChannelType
    language: str | None = None   # the info block chosen for this subscriber (BCP 47), None = the first
    priority: int = Field(ge=0, lt=PRIORITIES)
    expires: datetime         # retries stop here; then the job is dead-lettered with the reason
    created_at: datetime


ReceiptState = Literal["queued", "sent", "delivered", "failed", "acknowledged", "skipped"]
"""``skipped``: a ``Notice`` job with nothing left to send when its turn came (the check-in was answered, the
facility notification acknowledged, the reporter's status moved on): done, not a failure, not dead-lettered."""


class Receipt(BaseModel):
    """A state change of one delivery, on ``alerts.receipts`` (no personal data)."""

    model_config = ConfigDict(extra="forbid")
    delivery_id: str
    alert_id: str
    alert_version: str
    channel: ChannelType
    state: ReceiptState
    at: datetime
    reason: str | None = None        # why it failed (never an address)
    remote_id: str | None = None     # the peer's id for the message (SMTP queue id, Kannel id, ...)


class Contact(BaseModel):
    """What a channel needs to reach one subscription's channel; read from the subscription repository only by
    channel workers, never put on a topic, a log line or a public answer."""

    subscription_id: str
    channel_id: str
    channel: ChannelType
    address: str | None = None         # email
    number: str | None = None          # sms, E.164
    url: str | None = None             # webhook
    secret: str | None = None          # webhook signing secret (Standard Webhooks "whsec_..." or raw)
    push: dict[str, Any] | None = None  # Web Push subscription {"endpoint", "keys": {"p256dh", "auth"}}
    cell: str | None = None            # mqtt: the subscriber's cell topic suffix, if any
    unsubscribe_url: str | None = None  # one-click unsubscribe (RFC 8058) for email; STOP for sms


class Rendered(BaseModel):
    """The message for one delivery in the subscriber's language: texts and the CAP XML of the version."""

    headline: str
    description: str | None = None
    instruction: str | None = None
    wea_short: str            # WEA 90-character text
    wea_long: str | None = None  # WEA 360-character text
    cap_xml: str
    geojson: dict[str, Any]   # the alert's public feature
    link: str                 # EMERGENCY_PUBLIC_URL + the alert's public page / CAP URL
    ack_url: str | None = None  # POST here to acknowledge this delivery (the delivery id is the capability)


class SendFailed(Exception):
    """A channel could not deliver; ``retry`` says whether trying again may succeed (5xx, timeouts, 429,
    connection refused) or not (4xx other than 429, an address the peer refuses for good). ``retry_after_s``: the
    peer asked to wait this long before the next try (HTTP ``Retry-After``), None = the worker's own backoff."""

    def __init__(self, reason: str, *, retry: bool, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry
        self.retry_after_s = retry_after_s


class NothingToSend(SendFailed):
    """A ``Notice`` job whose owner has nothing to send any more (answered, acknowledged, superseded, gone)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, retry=False)


class Channel(Protocol):
    """One delivery channel. ``per_process`` True (WebSocket) means every API process delivers to its own live
    sessions; False means the channel sends once system-wide, from its consumer group."""

    type: ChannelType
    per_process: bool

    async def send(self, job: DeliveryJob, contact: Contact, message: Rendered) -> Receipt:
        """Send one delivery; the receipt is "sent" (or "delivered" when the peer confirms at once).
        Raises SendFailed."""
        ...

    async def close(self) -> None: ...


class TargetChannel(BaseModel):
    """One channel of a subscription as the fan-out sees it (no contact data)."""

    channel_id: str
    channel: ChannelType
    confirmed: bool  # email and sms only count once confirmed; other channels are confirmed at creation


class Target(BaseModel):
    """A subscription as the fan-out index holds it: where, which tiers, which languages, which channels.
    ``areas``: GeoJSON Polygon/MultiPolygon geometries in WGS 84 degrees (a point + radius_m is kept as
    ``{"type": "Point", "coordinates": [lon, lat], "radius_m": r}``; zones resolved to their polygons).
    This is also the payload on ``alerts.subscriptions`` (``deleted`` True removes it)."""

    subscription_id: str
    version: int                 # increases with every change; the index keeps the highest
    areas: list[dict[str, Any]]
    tiers: list[Tier]            # the tiers this subscription takes (already per alerts.tiers.delivers rules)
    languages: list[str]
    channels: list[TargetChannel]
    deleted: bool = False


class Directory(Protocol):
    """What the fan-out and the channel workers read from the subscription repository."""

    async def targets(self) -> list[Target]:
        """Every live subscription (for an index rebuilt at a worker's start)."""
        ...

    async def contact(self, subscription_id: str, channel_id: str, *, pending: bool = False) -> Contact | None:
        """The contact of one channel; None when the subscription or channel is gone, or not confirmed.
        ``pending=True`` (only for a Confirmation job) also gives the contact of a channel not confirmed yet."""
        ...

    async def confirmation(self, subscription_id: str, channel_id: str) -> str | None:
        """The pending confirmation code of an unconfirmed channel (email, sms); None when there is none.
        Optional to implement: the fan-out looks it up with ``getattr`` and sends no confirmation without it."""
        ...

    async def notice(self, job: DeliveryJob) -> Rendered | None:
        """The message of a ``Notice`` job (None: nothing to send any more). Optional, looked up with ``getattr``
        (``alerts.delivery.notices.RoutedDirectory`` has it)."""
        ...
