"""What a citizen submits, and what the 202 echoes back."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from emergency.categories import ReportCategory
from emergency.events import GeoPrecision
from emergency.geometry import Lat, Lon
from emergency.timebounds import ObservedTime
from feeds.intake import AcceptedOut
from feeds.photos.models import PhotoOut


class CitizenReportIn(BaseModel):
    """A crowd report: a category, where (WGS 84 degrees, or a place text), and what the person sees.

    ``lat``/``lon`` win when given; a report with only ``location_text`` is geocoded against the
    region at intake and refused (422 naming ``location_text``) when nothing matches.
    """

    model_config = ConfigDict(extra="forbid")
    category: ReportCategory
    lat: Lat | None = Field(None, description="latitude, WGS 84 degrees, -90..90 (with lon); a JSON number")
    lon: Lon | None = Field(None, description="longitude, WGS 84 degrees, -180..180 (with lat); a JSON number")
    text: str = Field("", max_length=2000)
    observed_at: ObservedTime | None = Field(None, description="when it was seen (1970 to 1 day ahead); default: now")
    location_text: str | None = Field(None, max_length=500, description="where, in words (a street, an intersection, "
                                      "a place of the region); geocoded when lat/lon are absent, else kept as the "
                                      "description")
    contact: str | None = Field(None, max_length=200, description="private: never shown publicly")


class LocatedOut(BaseModel):
    """Where the system placed a report: a label, the precision, the point (WGS 84 degrees), and from what."""

    label: str
    geo_precision: GeoPrecision
    lat: float
    lon: float
    source: Literal["photo"] | None = Field(
        None, description="`photo` when the GPS position in its photo's EXIF placed it (used only when the report "
                          "gave neither lat/lon nor a location_text); absent otherwise")

class ReportAcceptedOut(AcceptedOut):
    """The 202 for a citizen report, echoing where it was placed."""

    located: LocatedOut
    photos: list[PhotoOut] | None = Field(None, description="the photos stored with it (re-encoded, "
                                   "every metadata block removed); seen by coordinators at once, by the public "
                                   "once the report is verified); absent without photos")
