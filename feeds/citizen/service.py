"""Turn a citizen submission into a raw.citizen event, placed by its lat/lon or its location text."""

from __future__ import annotations

import asyncio
import hashlib
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
from feeds.citizen.contacts import ContactRepository, parse_contact, remember_contact
from feeds.citizen.models import (
    GEOCODE_LIMIT_MAX,
    GEOCODE_Q_MAX,
    CitizenReportIn,
    LocatedOut,
    PlaceOut,
    ReportAcceptedOut,
)
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


def reporter_ref(contact: str) -> str:
    """A stand-in for a reporter's contact in events (SHA-256, hex, 32 chars): equal contacts give equal refs,
    so the correlator counts one reporter once, and no consumer of the journal ever reads the contact."""
    return hashlib.sha256(f"citizen-contact|{contact.strip().lower()}".encode()).hexdigest()[:32]


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
    private = dict(extra.pop("private", {}))
    if report.contact:  # the contact itself stays in the private contact store (feeds.citizen.contacts)
        private["reporter"] = reporter_ref(report.contact)
    attributes.update(extra)
    if private:
        attributes["private"] = private
    if report.incident_id:
        attributes["incident_hint"] = report.incident_id
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
                        now: datetime, base_url: str, located: Located | None = None,
                        photos: Sequence[StoredPhoto] = (), photo_repository: PhotoRepository | None = None,
                        extra: dict[str, Any] | None = None, contacts: ContactRepository | None = None,
                        language: str = "en") -> ReportAcceptedOut:
    """Place, build and journal a citizen report with its stored ``photos`` (attached in ``photo_repository``
    before it is journaled) and its contact (if any) into ``contacts`` (the private store); the answer echoes
    where it was placed and from what, and its tracking link (``ValidationFailed`` naming the field).

    ``located``: where an intake that already geocoded the person's words (an SMS conversation) placed it;
    otherwise ``location_text`` is geocoded here (or the first photo's GPS places it when it has no location).
    ``extra``: the intake path's own attributes (see :func:`citizen_event`).
    """
    if report.contact:
        parse_contact(report.contact)  # refused before anything is journaled
        if contacts is None:
            raise ValidationFailed("contact", "this intake path keeps no contacts")
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
    if report.contact and contacts is not None:  # before the journal: the status messages' worker finds it
        await remember_contact(contacts=contacts, report_id=event.id, contact=report.contact,
                               language=language, now=now)
    accepted = await intake.submit(event, RAW_CITIZEN)
    lon, lat = event.geometry["coordinates"]  # type: ignore[index]
    label = located.label if located else PHOTO_GPS_LABEL if placed else (report.location_text or f"{lat:.5f}, {lon:.5f}")
    return ReportAcceptedOut(id=accepted.event_id, duplicate=not accepted.created,
                             located=LocatedOut(label=label, geo_precision=event.geo_precision, lat=lat, lon=lon,
                                                source="photo" if placed is not None else None),
                             photos=[PhotoOut(**p.ref()) for p in photos] or None,
                             tracking_url=tracking_url(base_url=base_url, report_id=accepted.event_id),
                             incident_hint=report.incident_id)


def suggest_places(*, geocoder: Geocoder | None, q: str, limit: int) -> list[PlaceOut]:
    """Places of the region a typed ``q`` may mean, best first, each with a point (WGS 84 degrees).

    ``ValidationFailed`` naming ``q`` when it is blank or longer than ``GEOCODE_Q_MAX`` characters, naming
    ``limit`` outside 1..``GEOCODE_LIMIT_MAX``, and naming ``q`` when the server has no region to search.
    """
    if not q.strip():
        raise ValidationFailed("q", "give a place, street, address or intersection to look up")
    if len(q) > GEOCODE_Q_MAX:
        raise ValidationFailed("q", f"at most {GEOCODE_Q_MAX} characters")
    if not 1 <= limit <= GEOCODE_LIMIT_MAX:
        raise ValidationFailed("limit", f"between 1 and {GEOCODE_LIMIT_MAX}")
    if geocoder is None:
        raise ValidationFailed("q", "geocoding is unavailable on this server (no region loaded)")
    out = []
    for found in geocoder.suggest(query=q, limit=limit):
        lon, lat = representative_point(found.geometry)
        out.append(PlaceOut(label=found.label, precision=found.geo_precision, lat=round(lat, 6), lon=round(lon, 6)))
    return out
