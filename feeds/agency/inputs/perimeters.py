"""Hazard perimeters: a polygon (WGS 84), hazard fire / flood / plume, observed time, source (e.g. an
infrared flight). A newer perimeter for the same reference replaces the old; the earlier ones' areas
stay in ``history`` (observed time and km²), with ``area_km2`` now and ``area_km2_before``, so the
map can show the growth. An older observation than the current one is refused (409)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from emergency.errors import Conflict
from emergency.events import Envelope
from emergency.geometry import AreaGeometry, area_km2
from emergency.timebounds import ObservedTime
from feeds.agency.inputs.base import AgencyInputIn, Built, InputKind

MAX_HISTORY = 100  # earlier perimeters kept per reference


class HazardPerimeterIn(AgencyInputIn):
    """A hazard's perimeter: a GeoJSON Polygon/MultiPolygon (WGS 84 degrees) observed at ``observed``."""

    name: str | None = Field(None, max_length=200, description='e.g. "Cedar Creek Fire"')
    geometry: AreaGeometry
    hazard: Literal["fire", "flood", "plume"]
    observed: ObservedTime = Field(description="when the perimeter was observed")
    source: str = Field(min_length=1, max_length=200, description='e.g. "infrared flight", "field GPS"')
    status: Literal["active", "ended"] = "active"


def build(*, item: HazardPerimeterIn, existing: Envelope | None, region: Any, now: datetime) -> Built:
    """The perimeter's event parts, with the areas of the perimeters it replaces."""
    area = area_km2(item.geometry)
    history: list[dict[str, Any]] = []
    before = None
    if existing is not None and not existing.attributes.get("ended"):
        prev = existing.attributes
        if datetime.fromisoformat(prev["observed"]) > item.observed:
            raise Conflict("observed", f"is older than the current perimeter of {item.reference}, observed "
                                       f"{prev['observed']}: only a newer perimeter replaces it")
        history = [*prev.get("history", []), {"observed": prev["observed"], "area_km2": prev["area_km2"]}]
        history = history[-MAX_HISTORY:]
        before = prev["area_km2"]
    attrs = {"name": item.name, "hazard": item.hazard, "observed": item.observed.isoformat(), "source": item.source,
             "area_km2": area, "area_km2_before": before, "history": history, "status": item.status,
             "ended": now.isoformat() if item.status == "ended" else None}
    label = item.name or item.reference
    return Built(geometry=item.geometry, text=f"{item.hazard} perimeter {label}: {area:g} km²",
                 observed_at=item.observed, attributes=attrs, location_text=item.name,
                 understood={"hazard": item.hazard, "area_km2": area, "area_km2_before": before,
                             "observed": attrs["observed"]})


HAZARD_PERIMETERS = InputKind(path="hazard-perimeters", slug="perimeter", category="hazard_perimeter",
                              title="hazard perimeter", model=HazardPerimeterIn, build=build)
