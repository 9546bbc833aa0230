"""What an agency submits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from emergency.geometry import LineGeometry
from emergency.timebounds import ClosureTime
from feeds.intake import AcceptedOut


class RoadClosureIn(BaseModel):
    """A road closure: the closed stretch, why, and when.

    The stretch is either a GeoJSON LineString (WGS 84; ``"snap": true`` moves a rough line onto
    the named roads it follows) or a road and two cross streets
    (``{"road": "SE Hawthorne Blvd", "from": "SE 12th Ave", "to": "SE 20th Ave"}``), which the API
    snaps to the region's road network. Exactly one of the two.

    ``road``, ``from`` and ``to`` must each be a road's own name in the region; only case,
    punctuation and standard abbreviations ("Southeast" = "SE", "Avenue" = "Ave") may differ.
    Anything else (a typo, a missing direction, a bare "12th", a street the region lacks) is
    refused with 422 naming the field and listing ``candidates``; resubmitting with a candidate's
    exact name accepts it.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    reference: str | None = Field(None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:\-]+$",
                                  description="the agency's own id; resubmitting it updates the closure")
    reason: str = Field(min_length=1, max_length=500)
    geometry: LineGeometry | None = None
    road: str | None = Field(None, min_length=1, max_length=200, description=(
        "closed road, instead of geometry: the road's exact name in the region (case, punctuation and "
        "abbreviations such as SE/Southeast, Ave/Avenue aside); otherwise 422 with candidates"))
    from_: str | None = Field(None, alias="from", min_length=1, max_length=200,
                              description="first cross street, its exact name (as for road)")
    to: str | None = Field(None, min_length=1, max_length=200,
                           description="second cross street, its exact name (as for road)")
    snap: bool = Field(False, description="snap a hand-drawn geometry onto the named roads it follows")
    start: ClosureTime  # emergency.timebounds: 1970 to 365 days ahead
    end: ClosureTime | None = None
    road_name: str | None = Field(None, max_length=200)
    status: Literal["planned", "active", "reopened"] | None = Field(None, description=(
        "planned, active or reopened (reopened ends the closure: it leaves the map); default: planned "
        "when start is ahead, else active"))
    lanes_affected: int | Literal["all"] = Field("all", description='"all", or how many lanes are closed')
    detour: LineGeometry | None = Field(None, description="the signed detour, a GeoJSON LineString (WGS 84)")
    detour_snap: bool = Field(False, description="snap a hand-drawn detour onto the named roads it follows")

    @model_validator(mode="after")
    def _times(self) -> RoadClosureIn:
        if self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        if (self.geometry is None) == (self.road is None):
            raise ValueError("geometry: give exactly one of geometry or road (with from and to)")
        if self.road is not None and (self.from_ is None or self.to is None):
            raise ValueError(f"{'from' if self.from_ is None else 'to'}: is required with road")
        if self.road is None and (self.from_ is not None or self.to is not None):
            raise ValueError("road: from and to need a road")
        if isinstance(self.lanes_affected, int) and not 1 <= self.lanes_affected <= 20:
            raise ValueError("lanes_affected: give \"all\" or a number of lanes from 1 to 20")
        if self.detour_snap and self.detour is None:
            raise ValueError("detour_snap: needs a detour")
        if self.snap and self.geometry is None:
            raise ValueError("snap: applies to a geometry only (a road with from/to is always snapped)")
        return self


@dataclass(frozen=True)
class UnderstoodClosure:
    """What a closure was understood to close: ``geometry`` GeoJSON (WGS 84), road names as the
    region writes them (short form), ``length_m`` in metres measured in the region's projected CRS
    (None only for a drawn line when the region cannot be loaded)."""

    geometry: dict[str, Any]
    road: str | None
    from_: str | None
    to: str | None
    length_m: float | None


class ClosureAccepted(AcceptedOut):
    """An accepted road closure, with what was understood: check it is the stretch you meant."""

    model_config = ConfigDict(populate_by_name=True)
    road: str | None = Field(description="the closed road as named in the region (road_name for a drawn line)")
    from_: str | None = Field(alias="from", description="first cross street as named in the region; null for a line")
    to: str | None = Field(description="second cross street as named in the region; null for a line")
    length_m: float | None = Field(description="length of the closed stretch in metres (region's projected CRS)")
    closure_status: str | None = Field(None, description="planned, active or reopened, as recorded")
