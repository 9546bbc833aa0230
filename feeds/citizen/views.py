"""``POST /api/v1/reports``: a citizen report, answered 202 once journaled; ``GET /api/v1/geocode``: place suggestions."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Header, Query, Request

from emergency.events import new_id, utcnow
from emergency.i18n import negotiate
from feeds.citizen.contacts import CONTACTS
from feeds.citizen.errors import TranslatedRoute
from feeds.citizen.models import GEOCODE_LIMIT_MAX, GEOCODE_Q_MAX, CitizenReportIn, GeocodeOut, ReportAcceptedOut
from feeds.citizen.service import submit_report as submit
from feeds.citizen.service import suggest_places
from feeds.intake import idempotent_id

router = APIRouter(prefix="/api/v1", tags=["citizen reports"], route_class=TranslatedRoute)  # 4xx in the reporter's language


@router.post("/reports", status_code=202, response_model=ReportAcceptedOut)
async def submit_report(report: CitizenReportIn, request: Request,
                        idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
                        accept_language: str | None = Header(None, alias="Accept-Language")) -> ReportAcceptedOut:
    """Accept a report placed by ``lat``/``lon`` or by ``location_text`` (geocoded in the region); the 202
    echoes where it was placed and its ``tracking_url``. It reaches the map through raw.citizen -> cop.reports.
    A ``contact`` is kept in a private store only (status messages), never in the report."""
    event_id = idempotent_id("citizen", idempotency_key, payload=report) or new_id("citizen")
    runtime = request.app.state.runtime
    return await submit(intake=runtime, report=report, event_id=event_id, source_type="citizen_api", now=utcnow(),
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
