"""What a citizen submits."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from emergency.categories import ReportCategory
from emergency.timebounds import ObservedTime


class CitizenReportIn(BaseModel):
    """A crowd report: a category, where (WGS 84 degrees), and what the person sees."""

    model_config = ConfigDict(extra="forbid")
    category: ReportCategory
    lat: float = Field(ge=-90, le=90, description="latitude, WGS 84 degrees")
    lon: float = Field(ge=-180, le=180, description="longitude, WGS 84 degrees")
    text: str = Field("", max_length=2000)
    observed_at: ObservedTime | None = Field(None, description="when it was seen (1970 to 1 day ahead); default: now")
    location_text: str | None = Field(None, max_length=500)
    contact: str | None = Field(None, max_length=200, description="private: never shown publicly")
