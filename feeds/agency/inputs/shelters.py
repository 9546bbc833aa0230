"""Shelters: name, place, capacity, occupancy (at most the capacity), status, accessibility, pets.

``POST /api/v1/agency/shelters`` records a shelter (a Point, WGS 84); ``PATCH
/api/v1/agency/shelters/{reference}`` is the cheap, frequent occupancy update (no region, no
jurisdiction check: the place does not change); ``DELETE`` takes it off the map."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from emergency.errors import ValidationFailed
from emergency.events import Envelope
from emergency.geometry import PointGeometry
from emergency.timebounds import ObservedTime
from feeds.agency.inputs.base import AgencyInputIn, Built, InputKind

ShelterStatus = Literal["open", "full", "closed"]


class ShelterIn(AgencyInputIn):
    """A shelter at a GeoJSON Point (WGS 84 degrees)."""

    name: str = Field(min_length=1, max_length=200)
    geometry: PointGeometry
    place: str | None = Field(None, max_length=300, description="address or place name, as the agency writes it")
    capacity: int = Field(ge=0, le=100_000, description="people it can take")
    occupancy: int = Field(0, ge=0, le=100_000, description="people in it now; at most capacity")
    status: ShelterStatus = "open"
    accessible: bool | None = Field(None, description="wheelchair accessible")
    pets: bool | None = Field(None, description="pets accepted")
    updated_at: ObservedTime | None = Field(None, description="when the numbers were counted; default: now")

    @model_validator(mode="after")
    def _fits(self) -> ShelterIn:
        check_occupancy(occupancy=self.occupancy, capacity=self.capacity)
        return self


class OccupancyIn(BaseModel):
    """A shelter's new occupancy (and, optionally, status), as counted at ``updated_at``."""

    model_config = ConfigDict(extra="forbid")
    occupancy: int = Field(ge=0, le=100_000)
    status: ShelterStatus | None = None
    updated_at: ObservedTime | None = None


def check_occupancy(*, occupancy: int, capacity: int) -> None:
    """ValueError naming ``occupancy`` when it exceeds ``capacity`` (people)."""
    if occupancy > capacity:
        raise ValueError(f"occupancy: {occupancy} is more than the capacity {capacity}")


def _attributes(*, name: str, place: str | None, capacity: int, occupancy: int, status: str,
                accessible: bool | None, pets: bool | None, updated_at: datetime) -> dict[str, Any]:
    return {"name": name, "place": place, "capacity": capacity, "occupancy": occupancy,
            "available": max(capacity - occupancy, 0), "status": status, "accessible": accessible, "pets": pets,
            "updated_at": updated_at.isoformat()}


def build(*, item: ShelterIn, existing: Envelope | None, region: Any, now: datetime) -> Built:
    """The shelter's event parts: a Point, its numbers and status."""
    at = item.updated_at or now
    attrs = _attributes(name=item.name, place=item.place, capacity=item.capacity, occupancy=item.occupancy,
                        status=item.status, accessible=item.accessible, pets=item.pets, updated_at=at)
    return Built(geometry=item.geometry, text=f"Shelter {item.name}: {item.status}, {item.occupancy}/{item.capacity}",
                 observed_at=at, attributes=attrs, location_text=item.place or item.name,
                 understood={k: attrs[k] for k in ("name", "status", "capacity", "occupancy", "available")})


def updated_occupancy(*, existing: Envelope, update: OccupancyIn, now: datetime) -> Envelope:
    """A new version of the shelter ``existing`` with the new occupancy (ValidationFailed naming
    ``occupancy`` above the capacity, ``reference`` once the shelter was taken off the map)."""
    a = existing.attributes
    if a.get("ended"):
        raise ValidationFailed("reference", f"{a.get('reference')} was taken off the map; submit it again to reopen")
    try:
        check_occupancy(occupancy=update.occupancy, capacity=int(a["capacity"]))
    except ValueError as exc:
        raise ValidationFailed("occupancy", str(exc).removeprefix("occupancy: ")) from None
    at = min(update.updated_at or now, now)
    attrs = {**a, **_attributes(name=a["name"], place=a.get("place"), capacity=int(a["capacity"]),
                                occupancy=update.occupancy, status=update.status or a["status"],
                                accessible=a.get("accessible"), pets=a.get("pets"), updated_at=at)}
    return existing.model_copy(update={
        "attributes": attrs, "observed_at": at, "received_at": now,
        "text": f"Shelter {a['name']}: {attrs['status']}, {update.occupancy}/{a['capacity']}"})


SHELTERS = InputKind(path="shelters", slug="shelter", category="shelter", title="shelter", model=ShelterIn,
                     build=build, ended_status="closed")
