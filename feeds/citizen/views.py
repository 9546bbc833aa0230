"""``POST /api/v1/reports``: a citizen report, answered 202 once journaled."""

from __future__ import annotations

from fastapi import APIRouter, Header, Request

from emergency.events import new_id, utcnow
from emergency.http import client_address
from feeds.citizen.models import CitizenReportIn, ReportAcceptedOut
from feeds.citizen.service import submit_report as submit
from feeds.intake import idempotent_id

router = APIRouter(prefix="/api/v1", tags=["citizen reports"])


@router.post("/reports", status_code=202, response_model=ReportAcceptedOut)
async def submit_report(report: CitizenReportIn, request: Request,
                        idempotency_key: str | None = Header(None, alias="Idempotency-Key")) -> ReportAcceptedOut:
    """Accept a report placed by ``lat``/``lon`` or by ``location_text`` (geocoded in the region); the 202
    echoes where it was placed. It reaches the map through raw.citizen -> cop.reports."""
    runtime = request.app.state.runtime
    await runtime.intake_limits.check(address=client_address(request), contact=report.contact)
    event_id = idempotent_id("citizen", idempotency_key, payload=report) or new_id("citizen")
    return await submit(intake=runtime, report=report, event_id=event_id,
                        source_type="citizen_api", now=utcnow())
