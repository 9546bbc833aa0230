"""``POST /api/v1/reports``: a citizen report, answered 202 once journaled."""

from __future__ import annotations

from fastapi import APIRouter, Header, HTTPException, Request

from emergency.events import new_id, utcnow
from emergency.stream.topics import RAW_CITIZEN
from feeds.citizen.models import CitizenReportIn
from feeds.citizen.service import citizen_event
from feeds.intake import AcceptedOut, idempotent_id

router = APIRouter(prefix="/api/v1", tags=["citizen reports"])


@router.post("/reports", status_code=202, response_model=AcceptedOut)
async def submit_report(report: CitizenReportIn, request: Request,
                        idempotency_key: str | None = Header(None, alias="Idempotency-Key")) -> AcceptedOut:
    """Accept a report; it reaches the map through raw.citizen -> cop.reports."""
    event_id = idempotent_id("citizen", idempotency_key, payload=report) or new_id("citizen")
    try:
        event = citizen_event(report, event_id=event_id, source_type="citizen_api", now=utcnow())
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    accepted = await request.app.state.runtime.submit(event, RAW_CITIZEN)
    return AcceptedOut(id=accepted.event_id, duplicate=not accepted.created)
