"""Turn a citizen submission into a raw.citizen event, placed by its lat/lon or its location text."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel

from emergency.errors import ValidationFailed
from emergency.events import Envelope, GeoPrecision, Kind, Source
from emergency.geocoding import Geocoder, Located, no_match
from emergency.geometry import representative_point
from emergency.stream.topics import RAW_CITIZEN
from feeds.citizen.models import CitizenReportIn, LocatedOut, ReportAcceptedOut
from feeds.intake import Intake
from feeds.photos.models import PhotoOut, StoredPhoto
from feeds.photos.repository import PhotoRepository
from feeds.photos.service import attach_photos

FUTURE_TOLERANCE = timedelta(minutes=5)
PHOTO_GPS_LABEL = "the photo's GPS position (EXIF)"


def tracking_url(*, base_url: str, report_id: str) -> str:
    """The public tracking page of a report, ``<base>/r/<report id>``: the link every intake path answers with.

    The tracking id is the report's event id (its random part makes it unguessable); the page and
    ``GET /api/v1/reports/{id}/status`` show its status and nothing private.
    """
    return f"{base_url.rstrip('/')}/r/{quote(report_id, safe=':')}"


def citizen_event(report: CitizenReportIn, *, event_id: str, source_type: str, now: datetime,
                  located: Located | None = None, photos: Sequence[StoredPhoto] = (),
                  from_photo: bool = False, extra: dict[str, Any] | None = None) -> Envelope:
    """The envelope for a citizen report; the contact goes under the private attributes, the ``photos``'
    references under ``attributes.photos`` (shown by ``emergency.cop.features`` per its rule).

    The point is ``lat``/``lon`` (precision exact; ``from_photo`` when they came from a photo's EXIF GPS) or
    else ``located`` (from :func:`locate_report`). ``extra``: attributes an intake path adds under its own key
    (its ``private`` entries join ``attributes.private``).
    Raises ``ValidationFailed`` naming the field when ``observed_at`` is in the future or nothing places it.
    """
    observed = report.observed_at or now
    if observed > now + FUTURE_TOLERANCE:
        raise ValidationFailed("observed_at", "is in the future")
    attributes: dict = {"verified": False}
    extra = dict(extra or {})
    private = {**extra.pop("private", {}), **({"contact": report.contact} if report.contact else {})}
    attributes.update(extra)
    if private:
        attributes["private"] = private
    if photos:
        attributes["photos"] = [p.ref() for p in photos]
    if from_photo:
        attributes["located_as"] = PHOTO_GPS_LABEL
    if report.lat is not None and report.lon is not None:
        geometry, precision, confidence = {"type": "Point", "coordinates": [report.lon, report.lat]}, GeoPrecision.exact, 0.5
    elif located is not None:
        lon, lat = representative_point(located.geometry)
        geometry, precision, confidence = {"type": "Point", "coordinates": [lon, lat]}, located.geo_precision, \
            round(0.5 * located.confidence, 3)
        attributes["located_as"] = located.label
    else:
        raise ValidationFailed("location_text", "give lat and lon, or a location_text to geocode")
    return Envelope(
        id=event_id, kind=Kind.citizen_report, source=Source(type=source_type), observed_at=observed,
        received_at=now, category=report.category.value, text=report.text, geometry=geometry,
        location_text=report.location_text, geo_precision=precision, confidence=confidence,
        attributes=attributes,
    )


def locate_report(report: CitizenReportIn, *, geocoder: Geocoder | None) -> Located | None:
    """Where a report without lat/lon is, from its ``location_text`` (geometry GeoJSON, WGS 84).

    None when lat and lon are both given (they win); ``ValidationFailed`` naming the field when only one
    of them is, when neither nor a location text is, or when the region has no match.
    """
    if (report.lat is None) != (report.lon is None):
        missing = "lon" if report.lon is None else "lat"
        raise ValidationFailed(missing, "give lat and lon together (or neither, with a location_text)")
    if report.lat is not None:
        return None
    if not (report.location_text or "").strip():
        raise ValidationFailed("location_text", "give lat and lon, or a location_text to geocode")
    if geocoder is None:
        raise ValidationFailed("location_text", "geocoding is unavailable on this server (no region loaded); give lat and lon")
    found = geocoder.locate(location_text=report.location_text, text=None)
    if found is None:
        raise ValidationFailed("location_text", no_match(geocoder))
    return found


def photo_location(report: CitizenReportIn, *, photos: Sequence[StoredPhoto]) -> CitizenReportIn | None:
    """The report placed at its first photo's EXIF GPS position (WGS 84 degrees) when it gives neither lat/lon
    nor a location text; None when it gives one (they win) or no photo carries a position."""
    if report.lat is not None or report.lon is not None or (report.location_text or "").strip():
        return None
    gps = next((p.gps for p in photos if p.gps is not None), None)
    return None if gps is None else report.model_copy(update={"lat": gps[0], "lon": gps[1]})


class _ReportWithPhotos(BaseModel):
    report: CitizenReportIn
    photos: list[str]


def key_payload(report: CitizenReportIn, *, photos: Sequence[StoredPhoto]) -> BaseModel:
    """What an anonymous Idempotency-Key is scoped to: the report, and the hashes of its stored photos when it has
    any (so a JSON report and the same report sent as multipart without a photo share one id)."""
    return _ReportWithPhotos(report=report, photos=[p.sha256 for p in photos]) if photos else report


async def submit_report(*, intake: Intake, report: CitizenReportIn, event_id: str, source_type: str,
                        now: datetime, located: Located | None = None, photos: Sequence[StoredPhoto] = (),
                        photo_repository: PhotoRepository | None = None,
                        extra: dict[str, Any] | None = None) -> ReportAcceptedOut:
    """Place, build and journal a citizen report with its stored ``photos`` (attached in ``photo_repository``
    before it is journaled); the answer echoes where it was placed and from what (``ValidationFailed`` naming the
    field).

    ``located``: where an intake that already geocoded the person's words (an SMS conversation) placed it;
    otherwise ``location_text`` is geocoded here (or the first photo's GPS places it when it has no location).
    ``extra``: the intake path's own attributes (see :func:`citizen_event`).
    """
    placed = None if located is not None else photo_location(report, photos=photos)
    report = placed or report
    if located is None and (report.lat is None or report.lon is None):  # geocoding reads the region's indexes: off the event loop
        located = await asyncio.to_thread(locate_report, report, geocoder=intake.geocoder)
    if photos:
        if photo_repository is None:
            raise TypeError("submit_report with photos needs the photo repository")
        await attach_photos(photos=photos, owner_id=event_id, repository=photo_repository)
    event = citizen_event(report, event_id=event_id, source_type=source_type, now=now, located=located,
                          photos=photos, from_photo=placed is not None, extra=extra)
    accepted = await intake.submit(event, RAW_CITIZEN)
    lon, lat = event.geometry["coordinates"]  # type: ignore[index]
    label = located.label if located else PHOTO_GPS_LABEL if placed else (report.location_text or f"{lat:.5f}, {lon:.5f}")
    return ReportAcceptedOut(id=accepted.event_id, duplicate=not accepted.created,
                             located=LocatedOut(label=label, geo_precision=event.geo_precision, lat=lat, lon=lon,
                                                source="photo" if placed is not None else None),
                             photos=[PhotoOut(**p.ref()) for p in photos] or None)
