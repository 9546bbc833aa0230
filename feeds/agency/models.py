"""What an agency submits."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from emergency.geometry import LineGeometry


class RoadClosureIn(BaseModel):
    """A road closure: the closed stretch, why, and when.

    The stretch is either a GeoJSON LineString (WGS 84; ``"snap": true`` moves a rough line onto
    the named roads it follows) or a road and two cross streets
    (``{"road": "SE Hawthorne Blvd", "from": "SE 12th Ave", "to": "SE 20th Ave"}``), which the API
    snaps to the region's road network. Exactly one of the two.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    reference: str | None = Field(None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:\-]+$",
                                  description="the agency's own id; resubmitting it updates the closure")
    reason: str = Field(min_length=1, max_length=500)
    geometry: LineGeometry | None = None
    road: str | None = Field(None, min_length=1, max_length=200, description="closed road, instead of geometry")
    from_: str | None = Field(None, alias="from", min_length=1, max_length=200, description="first cross street")
    to: str | None = Field(None, min_length=1, max_length=200, description="second cross street")
    snap: bool = Field(False, description="snap a hand-drawn geometry onto the named roads it follows")
    start: AwareDatetime
    end: AwareDatetime | None = None
    road_name: str | None = Field(None, max_length=200)

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
        if self.snap and self.geometry is None:
            raise ValueError("snap: applies to a geometry only (a road with from/to is always snapped)")
        return self
