"""Pydantic shapes for issuing an alert."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from alerts.tiers import Tier
from emergency.geometry import validate_geojson


class Circle(BaseModel):
    """A circle: centre in WGS 84 degrees, radius in kilometres."""

    model_config = ConfigDict(extra="forbid")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius_km: float = Field(gt=0, le=500)


class AlertArea(BaseModel):
    """Where the alert applies: a GeoJSON Polygon/MultiPolygon (WGS 84) or a circle."""

    model_config = ConfigDict(extra="forbid")
    polygon: dict[str, Any] | None = None
    circle: Circle | None = None
    description: str | None = Field(None, max_length=500)

    @field_validator("polygon")
    @classmethod
    def _polygon(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is None:
            return v
        if v.get("type") not in ("Polygon", "MultiPolygon"):
            raise ValueError("must be a GeoJSON Polygon or MultiPolygon")
        return validate_geojson(v)

    @model_validator(mode="after")
    def _one(self) -> AlertArea:
        if (self.polygon is None) == (self.circle is None):
            raise ValueError("give exactly one of polygon or circle")
        return self


class AlertIn(BaseModel):
    """An alert as an originator submits it."""

    model_config = ConfigDict(extra="forbid")
    tier: Tier
    headline: str = Field(min_length=1, max_length=140)
    description: str | None = Field(None, max_length=4000)
    instruction: str | None = Field(None, max_length=2000)
    event: str | None = Field(None, max_length=100)
    area: AlertArea
    expires: AwareDatetime
    # Wireless Emergency Alert text. When ``wea_text`` is left out the headline is used, so it must
    # then fit WEA's 90 characters; the CAP validator (alerts.cap.validate, WEA profile) enforces
    # both limits (90 and 360 characters) and names the field it refuses.
    wea_text: str | None = Field(None, min_length=1, max_length=1000)
    wea_long_text: str | None = Field(None, min_length=1, max_length=4000)


class AlertCancelIn(BaseModel):
    """Cancelling an issued alert: an optional note for the public (replaces the description)."""

    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(None, min_length=1, max_length=2000)
