"""Evacuation zones and orders: a polygon or the region's zone codes (UGC/SAME, ``mapping.zones``),
level advisory / warning / order ("Ready, Set, Go"), status, effective times. The answer for an
order carries ``suggested_alert``: a ready-made body for ``POST /api/v1/alerts`` covering the zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field, model_validator

from emergency.errors import ValidationFailed
from emergency.events import Envelope
from emergency.geometry import AreaGeometry
from emergency.timebounds import ALERT_HORIZON, ClosureTime
from feeds.agency.inputs.base import AgencyInputIn, Built, InputKind
from mapping.regions import Region
from mapping.zones import zone_geometry

READY_SET_GO = {"advisory": "Ready", "warning": "Set", "order": "Go"}
ALERT_HOURS = 12  # how long a suggested alert lasts when the order names no end, hours


class EvacuationZoneIn(AgencyInputIn):
    """An evacuation zone: a GeoJSON Polygon/MultiPolygon (WGS 84 degrees) or ``zones``, the region's
    UGC/SAME codes (``"ORZ006"``, ``"041051"``; comma-separated), whose union is the area. Exactly one."""

    name: str = Field(min_length=1, max_length=200)
    geometry: AreaGeometry | None = None
    zones: str | None = Field(None, min_length=1, max_length=500, description="the region's UGC or SAME codes")
    level: Literal["advisory", "warning", "order"] = Field(
        description='advisory ("Ready"), warning ("Set") or order ("Go": leave now)')
    status: Literal["active", "lifted"] = Field("active", description="lifted takes the zone off the map")
    effective_from: ClosureTime | None = None
    effective_until: ClosureTime | None = None
    instruction: str | None = Field(None, max_length=1000)

    @model_validator(mode="after")
    def _one(self) -> EvacuationZoneIn:
        if (self.geometry is None) == (self.zones is None):
            raise ValueError("geometry: give exactly one of geometry or zones")
        if self.effective_from and self.effective_until and self.effective_until <= self.effective_from:
            raise ValueError("effective_until: must be after effective_from")
        return self


def needs_region(item: EvacuationZoneIn) -> bool:
    """Zone codes are resolved on the region's zones."""
    return item.zones is not None


def build(*, item: EvacuationZoneIn, existing: Envelope | None, region: Region | None, now: datetime) -> Built:
    """The zone's event parts; codes become their union polygon (ValidationFailed naming ``zones``)."""
    codes: list[str] | None = None
    names: list[str] | None = None
    geometry = item.geometry
    if item.zones is not None:
        assert region is not None
        try:
            found = zone_geometry(item.zones, region)
        except ValueError as exc:
            raise ValidationFailed("zones", str(exc).removeprefix("zone: ")) from None
        codes, names, geometry = found["codes"], found["names"], found["geometry"]
    assert geometry is not None
    start = item.effective_from or now
    attrs = {"name": item.name, "level": item.level, "ready_set_go": READY_SET_GO[item.level], "zones": codes,
             "zone_names": names, "effective_from": start.isoformat(),
             "effective_until": item.effective_until.isoformat() if item.effective_until else None,
             "instruction": item.instruction, "status": item.status,
             "ended": now.isoformat() if item.status == "lifted" else None}
    text = f"Evacuation {item.level} ({READY_SET_GO[item.level]}): {item.name}"
    alert = suggested_alert(item=item, geometry=geometry, now=now) \
        if item.level == "order" and item.status == "active" else None
    return Built(geometry=geometry, text=text, observed_at=min(start, now), attributes=attrs, location_text=item.name,
                 understood={"name": item.name, "level": item.level, "ready_set_go": READY_SET_GO[item.level],
                             "zones": codes, "zone_names": names},
                 suggested_alert=alert)


def suggested_alert(*, item: EvacuationZoneIn, geometry: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A body for ``POST /api/v1/alerts``: an imminent-threat evacuation alert over the zone's polygon,
    expiring with the order (at most the alert horizon; ``ALERT_HOURS`` when the order names no end)."""
    until = item.effective_until or now + timedelta(hours=ALERT_HOURS)
    until = min(until, now + ALERT_HORIZON - timedelta(minutes=5))
    headline = f"Evacuate now: {item.name}"[:140]
    return {"tier": "imminent_threat_severe", "headline": headline, "event": "Evacuation Immediate",
            "same_code": "EVI", "instruction": item.instruction or "Leave the area now.",
            "area": {"polygon": geometry, "description": item.name[:500]}, "expires": until.isoformat()}


EVACUATION_ZONES = InputKind(path="evacuation-zones", slug="evacuation", category="evacuation_zone",
                             title="evacuation zone", model=EvacuationZoneIn, build=build, ended_status="lifted",
                             needs_region=needs_region)
