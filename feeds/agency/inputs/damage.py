"""Damage reports: where, what kind of property, the FEMA preliminary damage assessment level
(affected, minor, major, destroyed) and counts. A Point (WGS 84)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from emergency.events import Envelope
from emergency.geometry import PointGeometry
from emergency.timebounds import ObservedTime
from feeds.agency.inputs.base import AgencyInputIn, Built, InputKind


class DamageCounts(BaseModel):
    """How many were counted at the place (all optional, none negative)."""

    model_config = ConfigDict(extra="forbid")
    structures: int = Field(1, ge=0, le=1_000_000, description="buildings or structures assessed")
    households: int | None = Field(None, ge=0, le=1_000_000, description="households affected")
    people_displaced: int | None = Field(None, ge=0, le=10_000_000)


class DamageReportIn(AgencyInputIn):
    """A damage assessment at a GeoJSON Point (WGS 84 degrees)."""

    geometry: PointGeometry
    place: str = Field(min_length=1, max_length=300, description="address or place name, as the agency writes it")
    kind: Literal["residential", "commercial", "infrastructure", "road"]
    level: Literal["affected", "minor", "major", "destroyed"] = Field(
        description="FEMA preliminary damage assessment level")
    counts: DamageCounts = Field(default_factory=DamageCounts)
    assessed_at: ObservedTime | None = Field(None, description="when it was assessed; default: now")
    notes: str | None = Field(None, max_length=2000)


def build(*, item: DamageReportIn, existing: Envelope | None, region: Any, now: datetime) -> Built:
    """The damage report's event parts."""
    at = item.assessed_at or now
    attrs = {"place": item.place, "damage_kind": item.kind, "level": item.level,
             "counts": item.counts.model_dump(), "assessed_at": at.isoformat(), "notes": item.notes,
             "status": "reported"}
    return Built(geometry=item.geometry, text=item.notes or f"{item.level} damage ({item.kind}) at {item.place}",
                 observed_at=at, attributes=attrs, location_text=item.place,
                 understood={"place": item.place, "kind": item.kind, "level": item.level,
                             "counts": attrs["counts"]})


DAMAGE_REPORTS = InputKind(path="damage-reports", slug="damage", category="damage_report", title="damage report",
                           model=DamageReportIn, build=build, ended_status="withdrawn")
