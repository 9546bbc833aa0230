"""The event envelope carried on every topic (DESIGN.md "The event envelope").

Geometries are GeoJSON (RFC 7946) in WGS 84 longitude/latitude degrees. Times are
timezone-aware UTC.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from emergency.geometry import validate_geojson
from emergency.timebounds import to_utc

SCHEMA_VERSION = 1


class Kind(str, Enum):
    social_post = "social_post"
    citizen_report = "citizen_report"
    agency_report = "agency_report"
    feed_item = "feed_item"
    incident = "incident"
    alert = "alert"
    receipt = "receipt"
    subscription = "subscription"  # a change of an alert subscription (no contact data: see alerts.subscriptions)
    alert_draft = "alert_draft"  # a version of an alert draft with its approval trail (alerts.drafts; never public)


class GeoPrecision(str, Enum):
    exact = "exact"
    street = "street"
    place = "place"
    region = "region"
    none = "none"


class Source(BaseModel):
    """Where an event came from: the source type and its own reference (post id, agency ref...)."""

    model_config = ConfigDict(extra="forbid")
    type: str = Field(min_length=1, max_length=64)
    ref: str | None = Field(None, max_length=256)


class Envelope(BaseModel):
    """One event. ``id`` is stable per source item, so consumers upsert by it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(min_length=1, max_length=256)
    schema_version: int = Field(SCHEMA_VERSION, alias="schema")
    kind: Kind
    source: Source
    observed_at: AwareDatetime
    received_at: AwareDatetime
    category: str | None = Field(None, max_length=64)
    text: str | None = Field(None, max_length=20_000)
    geometry: dict[str, Any] | None = None
    location_text: str | None = Field(None, max_length=1000)
    geo_precision: GeoPrecision = GeoPrecision.none
    confidence: float = Field(1.0, ge=0.0, le=1.0)
    attributes: dict[str, Any] = Field(default_factory=dict)

    @field_validator("schema_version")
    @classmethod
    def _known_schema(cls, v: int) -> int:
        if v != SCHEMA_VERSION:
            raise ValueError(f"unsupported schema version {v}; this build reads {SCHEMA_VERSION}")
        return v

    @field_validator("observed_at", "received_at")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return to_utc(v)  # ValueError (not OverflowError) outside years 1-9999 in UTC: a readable refusal

    @field_validator("geometry")
    @classmethod
    def _geojson(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if v is None else validate_geojson(v)

    def to_json(self) -> bytes:
        """UTF-8 JSON with the public field names (``schema``, not ``schema_version``)."""
        return self.model_dump_json(by_alias=True).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes | str) -> Envelope:
        """Parse and validate; raises ``pydantic.ValidationError`` or ``ValueError``."""
        return cls.model_validate(json.loads(raw))


def utcnow() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """A fresh event id for intake without a source reference: ``prefix:<ms since epoch, hex>-<random>``.

    Time-ordered, so new rows land at the end of the stores' id indexes instead of at random
    places (which made per-row insert cost grow with the store's size).
    """
    return f"{prefix}:{time.time_ns() // 1_000_000:012x}-{secrets.token_hex(8)}"
