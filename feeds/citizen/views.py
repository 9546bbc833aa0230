"""``POST /api/v1/reports``: a citizen report (JSON, or multipart with photos), answered 202 once journaled;
``GET /api/v1/geocode``: place suggestions."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Header, Query, Request

from emergency.events import new_id, utcnow
from emergency.http import client_address
from emergency.i18n import negotiate
from feeds.citizen.contacts import CONTACTS
from feeds.citizen.errors import TranslatedRoute
from feeds.citizen.models import GEOCODE_LIMIT_MAX, GEOCODE_Q_MAX, CitizenReportIn, GeocodeOut, ReportAcceptedOut
from feeds.citizen.service import key_payload, suggest_places
from feeds.citizen.service import submit_report as submit
from feeds.intake import idempotent_id
from feeds.photos.repository import PHOTOS
from feeds.photos.views import read_submission, submission_body

router = APIRouter(prefix="/api/v1", tags=["citizen reports"], route_class=TranslatedRoute)  # 4xx in the reporter's language
REPORTS_PATH = "/api/v1/reports"  # its body limit makes room for photos (emergency.assembly.app)


@router.post("/reports", status_code=202, response_model=ReportAcceptedOut, response_model_exclude_none=True,
             openapi_extra=submission_body(CitizenReportIn, part="report"), responses={
                 400: {"description": "the Idempotency-Key is malformed"},
                 413: {"description": "the body, or a photo, is too large (bytes or declared pixels)"},
                 415: {"description": "a photo is not JPEG, PNG or WebP (HEIC is refused, with why)"}})
async def submit_report(request: Request,
                        idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
                        accept_language: str | None = Header(None, alias="Accept-Language")) -> ReportAcceptedOut:
    """Accept a report placed by ``lat``/``lon`` or by ``location_text`` (geocoded in the region), or, when it
    gives neither, by its photo's EXIF GPS position; the 202 echoes where it was placed and from what. JSON, or
    ``multipart/form-data`` with the JSON in part ``report`` and up to 3 ``photo`` files. It reaches the map
    through raw.citizen -> cop.reports. Rate-limited per client address and per contact (429). The 202 carries
    the ``tracking_url``; a ``contact`` is kept in a private store only (status messages), never in the report."""
    runtime = request.app.state.runtime
    report, photos = await read_submission(request, model=CitizenReportIn, part="report", settings=runtime.settings)
    await runtime.intake_limits.check(address=client_address(request), contact=report.contact)
    payload = key_payload(report, photos=photos)
    event_id = idempotent_id("citizen", idempotency_key, payload=payload) or new_id("citizen")
    return await submit(intake=runtime, report=report, event_id=event_id, source_type="citizen_api", now=utcnow(),
                        photos=photos, photo_repository=runtime.store.repository(PHOTOS),
                        base_url=runtime.settings.public_base_url(), contacts=runtime.store.repository(CONTACTS),
                        language=negotiate(accept_language))


@router.get("/geocode", response_model=GeocodeOut, responses={
    422: {"description": "`q` blank or too long, `limit` out of range, or no region on this server"}})
async def geocode(request: Request, q: str = Query("", description=f"a place, street, address or intersection "
                                                   f"(at most {GEOCODE_Q_MAX} characters)"),
                  limit: int = Query(5, description=f"suggestions, 1..{GEOCODE_LIMIT_MAX}")) -> GeocodeOut:
    """Places of the region's gazetteer a typed text may mean, best first, each a label, a precision and a point
    (WGS 84 degrees). Public: the report page's suggestions."""
    geocoder = request.app.state.runtime.geocoder
    found = await asyncio.to_thread(suggest_places, geocoder=geocoder, q=q, limit=limit)
    return GeocodeOut(query=q, candidates=found)
