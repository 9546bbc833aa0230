"""Shapes of the subscription domain: the request bodies, the stored subscription, and the answers.

Areas are GeoJSON in WGS 84 degrees (``[lon, lat]``); a point with a radius is kept as
``{"type": "Point", "coordinates": [lon, lat], "radius_m": r}`` (metres, at most 50 km), a zone as its
polygon with ``zone`` (the codes) and ``name`` added. Contacts (address, number, URL, secret, push
subscription, cell) exist only in :class:`StoredChannel`, which only the repository reads and writes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from alerts.delivery.models import ChannelType
from alerts.tiers import Tier

MAX_AREAS = 10
MAX_CHANNELS = 6
MAX_LANGUAGES = 10

AREA_HELP = ("1 to 10 areas, each one of: `{\"point\": {\"lat\", \"lon\"}, \"radius_m\"}` (WGS 84 degrees, metres, "
             "at most 50,000), `{\"polygon\": GeoJSON Polygon or MultiPolygon}` (WGS 84), or `{\"zone\": \"ORZ111\"}` "
             "(a UGC or SAME code, or the name of a zone of the region)")
CHANNEL_HELP = ("1 to 6 channels, each one of: `{\"type\": \"email\", \"address\"}`, `{\"type\": \"sms\", \"number\"}` "
                "(E.164), `{\"type\": \"webhook\", \"url\", \"secret\"?}`, `{\"type\": \"mqtt\", \"cell\"?}`, "
                "`{\"type\": \"webpush\", \"subscription\": {\"endpoint\", \"keys\": {\"p256dh\", \"auth\"}}}`")
TIER_HELP = ("opt-outs and opt-ins by tier name (presidential, imminent_threat_extreme, imminent_threat_severe, "
             "imminent_threat for both, child_abduction or amber, public_safety, test): every tier but test is taken "
             "unless set false; test only when set true; presidential cannot be set false")


class SubscriptionIn(BaseModel):
    """``POST /api/v1/subscriptions``."""

    model_config = ConfigDict(extra="forbid")
    areas: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_AREAS, description=AREA_HELP)
    channels: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_CHANNELS, description=CHANNEL_HELP)
    languages: list[str] = Field(["en"], min_length=1, max_length=MAX_LANGUAGES,
                                 description="BCP 47 language tags in preference order (default [\"en\"])")
    tiers: dict[str, bool] = Field(default_factory=dict, description=TIER_HELP)


class SubscriptionPatch(BaseModel):
    """``PATCH /api/v1/subscriptions/{id}``: each field given replaces that field whole."""

    model_config = ConfigDict(extra="forbid")
    areas: list[dict[str, Any]] | None = Field(None, min_length=1, max_length=MAX_AREAS, description=AREA_HELP)
    channels: list[dict[str, Any]] | None = Field(None, min_length=1, max_length=MAX_CHANNELS,
                                                  description=CHANNEL_HELP + "; a channel given again unchanged "
                                                  "keeps its id and confirmation, a changed address or number "
                                                  "must be confirmed again")
    languages: list[str] | None = Field(None, min_length=1, max_length=MAX_LANGUAGES)
    tiers: dict[str, bool] | None = Field(None, description=TIER_HELP)


class ConfirmIn(BaseModel):
    """``POST /api/v1/subscriptions/{id}/confirm``."""

    model_config = ConfigDict(extra="forbid")
    channel: str = Field(min_length=1, max_length=32, description="the channel type (email, sms) or its id (email-1)")
    code: str = Field(min_length=1, max_length=16, description="the code from the confirmation message")


class StoredChannel(BaseModel):
    """One channel of a subscription as the repository keeps it: the contact and its confirmation state."""

    channel_id: str
    channel: ChannelType
    address: str | None = None
    number: str | None = None
    url: str | None = None
    secret: str | None = None
    push: dict[str, Any] | None = None
    cell: str | None = None
    confirmed: bool
    code: str | None = None               # the pending confirmation code (email, sms), None once confirmed
    code_expires_at: datetime | None = None
    attempts: int = 0                     # wrong codes tried against the pending code
    stopped: bool = False                 # sms: the number replied STOP

    def same_contact(self, other: StoredChannel) -> bool:
        """Whether ``other`` reaches the same place (type and address, number, URL, push endpoint or cell)."""
        return (self.channel, self.address, self.number, self.url, (self.push or {}).get("endpoint"), self.cell) == \
            (other.channel, other.address, other.number, other.url, (other.push or {}).get("endpoint"), other.cell)


class Subscription(BaseModel):
    """A subscription as stored. ``version`` increases with every change (the Target's version)."""

    id: str
    token_hash: str                      # SHA-256 hex of the management token (the token itself is never kept)
    version: int
    areas: list[dict[str, Any]]
    tiers: list[Tier]
    languages: list[str]
    channels: list[StoredChannel]
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None


class ChannelOut(BaseModel):
    """A channel in an answer: masked contact only."""

    channel_id: str
    type: ChannelType
    confirmed: bool
    stopped: bool = False
    contact: str | None = Field(None, description="masked: a***@example.org, +1503*****00, https://host/…")


class SubscriptionOut(BaseModel):
    """A subscription as its holder (or, without areas, an admin) sees it."""

    id: str
    version: int
    areas: list[dict[str, Any]]
    tiers: list[Tier]
    languages: list[str]
    channels: list[ChannelOut]
    pending_confirmation: list[str] = Field(description="channel types still to confirm with their code")
    created_at: datetime
    updated_at: datetime


class SubscriptionCreated(SubscriptionOut):
    """The answer to a creation: the management token, shown this once."""

    token: str = Field(description="the management token (Authorization: Bearer) for GET/PATCH/DELETE; shown once")
    webhook_secrets: dict[str, str] | None = Field(
        None, description="signing secrets generated for webhook channels that gave none, by channel id; shown once")


class SubscriptionPatched(SubscriptionOut):
    """The answer to a PATCH (with any webhook secret generated for it, shown once)."""

    webhook_secrets: dict[str, str] | None = None


class ConfirmOut(BaseModel):
    id: str
    channel_id: str
    confirmed: bool
    pending_confirmation: list[str]


class DeletedOut(BaseModel):
    id: str
    deleted: bool


class UnsubscribedOut(BaseModel):
    id: str
    channel_id: str
    unsubscribed: bool


class AdminItem(BaseModel):
    """One subscription in the admin list: masked contacts, area count, no geometry."""

    id: str
    version: int
    areas: int
    tiers: list[Tier]
    languages: list[str]
    channels: list[ChannelOut]
    created_at: datetime
    updated_at: datetime


class AdminSubscriptions(BaseModel):
    """``GET /api/v1/admin/subscriptions``."""

    total: int
    counts: dict[str, dict[str, int]] = Field(
        description="channels by type, then by state (confirmed, unconfirmed, stopped)")
    items: list[AdminItem]
    next: str | None = Field(None, description="pass as `after` for the next page")
