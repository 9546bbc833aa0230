"""``POST /api/v1/reports``: a citizen report (JSON, or multipart with photos), answered 202 once journaled."""

from __future__ import annotations

from fastapi import APIRouter, Header, Request

from emergency.events import new_id, utcnow
from emergency.http import client_address
from feeds.citizen.models import CitizenReportIn, ReportAcceptedOut
from feeds.citizen.service import key_payload
from feeds.citizen.service import submit_report as submit
from feeds.intake import idempotent_id
from feeds.photos.repository import PHOTOS
from feeds.photos.views import read_submission, submission_body

router = APIRouter(prefix="/api/v1", tags=["citizen reports"])
REPORTS_PATH = "/api/v1/reports"  # its body limit makes room for photos (emergency.assembly.app)


@router.post("/reports", status_code=202, response_model=ReportAcceptedOut, response_model_exclude_none=True,
             openapi_extra=submission_body(CitizenReportIn, part="report"), responses={
                 400: {"description": "the Idempotency-Key is malformed"},
                 413: {"description": "the body, or a photo, is too large (bytes or declared pixels)"},
                 415: {"description": "a photo is not JPEG, PNG or WebP (HEIC is refused, with why)"}})
async def submit_report(request: Request,
                        idempotency_key: str | None = Header(None, alias="Idempotency-Key")) -> ReportAcceptedOut:
    """Accept a report placed by ``lat``/``lon`` or by ``location_text`` (geocoded in the region), or, when it
    gives neither, by its photo's EXIF GPS position; the 202 echoes where it was placed and from what. JSON, or
    ``multipart/form-data`` with the JSON in part ``report`` and up to 3 ``photo`` files. It reaches the map
    through raw.citizen -> cop.reports. Rate-limited per client address and per contact (429)."""
    runtime = request.app.state.runtime
    report, photos = await read_submission(request, model=CitizenReportIn, part="report", settings=runtime.settings)
    await runtime.intake_limits.check(address=client_address(request), contact=report.contact)
    payload = key_payload(report, photos=photos)
    event_id = idempotent_id("citizen", idempotency_key, payload=payload) or new_id("citizen")
    return await submit(intake=runtime, report=report, event_id=event_id, source_type="citizen_api", now=utcnow(),
                        photos=photos, photo_repository=runtime.store.repository(PHOTOS))
