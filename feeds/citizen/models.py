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
    contact: str | None = Field(None, max_length=200, description="private: an e-mail address or phone number for "
                                "status messages; kept in a private store, never in the event nor shown publicly")
    incident_id: str | None = Field(None, max_length=64, pattern=r"^incident:[0-9a-f]{1,40}$",
                                    description="add this report to that incident (the nearby incident the report "
                                    "page offered); honoured when it is open and compatible, else the report is "
                                    "correlated as usual")


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
    """The 202 for a citizen report, echoing where it was placed and where to follow it."""

    located: LocatedOut
    photos: list[PhotoOut] | None = Field(None, description="the photos stored with it (re-encoded, "
                                   "every metadata block removed); seen by coordinators at once, by the public "
                                   "once the report is verified); absent without photos")
    tracking_url: str = Field(description="the public page of this report's status (`/r/{id}`)")
    incident_hint: str | None = Field(None, description="the incident_id asked for, when one was: the correlator "
                                      "adds the report to it if it is open and compatible, else correlates as usual")


GEOCODE_Q_MAX = 200     # characters of a typed place
GEOCODE_LIMIT_MAX = 10  # suggestions per answer


class PlaceOut(BaseModel):
    """One suggestion of ``GET /api/v1/geocode``: a label, its precision and a point (WGS 84 degrees)."""

    label: str
    precision: GeoPrecision
    lat: float
    lon: float


class GeocodeOut(BaseModel):
    """The suggestions for a typed place, best first (empty when nothing in the region matches)."""

    query: str
    candidates: list[PlaceOut]
