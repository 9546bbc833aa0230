"""What an agency submits."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from emergency.geometry import validate_geojson


class RoadClosureIn(BaseModel):
    """A road closure: the closed stretch as a GeoJSON LineString (WGS 84), why, and when."""

    model_config = ConfigDict(extra="forbid")
    reference: str | None = Field(None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:\-]+$",
                                  description="the agency's own id; resubmitting it updates the closure")
    reason: str = Field(min_length=1, max_length=500)
    geometry: dict[str, Any]
    start: AwareDatetime
    end: AwareDatetime | None = None
    road_name: str | None = Field(None, max_length=200)

    @field_validator("geometry")
    @classmethod
    def _line(cls, v: dict[str, Any]) -> dict[str, Any]:
        if v.get("type") not in ("LineString", "MultiLineString"):
            raise ValueError("must be a GeoJSON LineString or MultiLineString")
        return validate_geojson(v)

    @model_validator(mode="after")
    def _times(self) -> RoadClosureIn:
        if self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        return self
