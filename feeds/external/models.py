"""External feeds: the feed configuration, the parsed item, the poll state kept in the store's cursors.

Geometries are GeoJSON (RFC 7946), WGS 84 longitude/latitude degrees.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from emergency.config import FEED_NAME

FeedOrigin = Literal["setting", "admin"]


@dataclass(frozen=True)
class FeedConfig:
    """One feed the system polls: from ``EMERGENCY_FEEDS`` (the operator's) or the admin API."""

    name: str
    url: str
    interval_s: float
    origin: FeedOrigin = "setting"
    created_by: str | None = None


@dataclass
class FeedItem:
    """One item of a feed, in the picture's terms. ``geometry``: GeoJSON, WGS 84 (None: not located)."""

    item_id: str                      # the feed's own id of the item (guid, feature id, CAP identifier)
    category: str                     # e.g. earthquake, bushfire, weather, cyclone, flood, incident
    text: str | None
    geometry: dict[str, Any] | None
    observed_at: datetime | None      # the item's own update/publication time, when it gives one
    attributes: dict[str, Any] = field(default_factory=dict)  # public: the layer's public fields only


@dataclass
class ParsedFeed:
    """What one body of a feed said: its format, publisher and attribution, and its items."""

    format: str                       # geojson-usgs, geojson-nws, geojson-vicemergency, geojson-nsw-rfs, geojson, georss, cap-index
    publisher: str | None
    attribution: str | None
    items: list[FeedItem]
    unlocated: int = 0                # items the feed gave without a usable place (not published)


@dataclass
class FeedState:
    """A feed's poll state and health, saved as JSON under the cursor ``feed:<name>``."""

    url: str | None = None            # the URL the validators below belong to
    etag: str | None = None
    last_modified: str | None = None
    format: str | None = None
    last_poll: str | None = None      # ISO 8601 UTC: the last request that got an answer or failed
    last_change: str | None = None    # the last poll that journaled something (new, changed or ended items)
    items: int = 0                    # items currently in the feed (published ones)
    unlocated: int = 0                # items of the last body without a usable place
    polls: int = 0
    not_modified: int = 0
    changes: int = 0                  # item versions journaled (new, changed, ended)
    errors: int = 0                   # failed polls, in total
    failures: int = 0                 # failed polls in a row (the backoff exponent)
    last_error: str | None = None
    next_poll: str | None = None
    body_hash: str | None = None      # SHA-256 of the last body read (a server without validators)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> FeedState:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


class FeedIn(BaseModel):
    """``POST /api/v1/admin/feeds``: a feed to poll."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="1-40 lower-case letters, digits, _ or -; part of every item id")
    url: str = Field(max_length=2048, description="http(s) URL of the feed (checked by the outbound-URL guard)")
    interval_s: float = Field(60.0, ge=10, le=86_400, description="seconds between polls")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not FEED_NAME.match(v):
            raise ValueError("must be 1-40 lower-case letters, digits, _ or - (starting with a letter or digit)")
        return v


class FeedOut(BaseModel):
    """A configured feed, as the admin API shows it."""

    name: str
    url: str
    interval_s: float
    origin: FeedOrigin
    created_by: str | None = None


class FeedHealth(BaseModel):
    """One feed's health (``GET /api/v1/feeds``): no URL (it may carry a key), no secrets."""

    name: str
    origin: FeedOrigin
    format: str | None
    last_poll: str | None
    last_change: str | None
    items: int
    errors: int
    last_error: str | None
    unlocated: int
    next_poll: str | None
