"""The reporter's own routes for status messages: confirm the contact with its code, and the one-click
unsubscribe link (RFC 8058) of every status mail. The report id (the tracking id) and the code or the signed link
are the authority; answers never show the contact."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from emergency.errors import ValidationFailed
from feeds.citizen.updates import flows
from feeds.citizen.updates.models import ConfirmedOut, ConfirmIn, StoppedOut

router = APIRouter(prefix="/api/v1/reports", tags=["citizen reports"])
SIGNED = {403: {"description": "`sig` does not sign this link"}}
ONE_CLICK = {"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
    "type": "object", "required": ["List-Unsubscribe"],
    "properties": {"List-Unsubscribe": {"type": "string", "enum": ["One-Click"]}}}}}}}


def _id() -> object:
    return Path(max_length=400, description="the report's tracking id")


@router.post("/{report_id}/contact/confirm", response_model=ConfirmedOut, responses={
    404: {"description": "no such report, or it has no contact (the same answer either way)"},
    422: {"description": "`code` is wrong (tries left named), expired or tried too often"}})
async def confirm_contact(request: Request, body: ConfirmIn, report_id: str = _id()) -> ConfirmedOut:
    """Confirm the contact given with a report with the code of its confirmation message (5 tries; 24 h): from
    then on each status change of the report is sent to it."""
    rt = request.app.state.runtime
    u = await flows.confirm(store=rt.store, settings=rt.settings, report_id=report_id, code=body.code)
    return ConfirmedOut(id=u.report_id, confirmed=u.confirmed)


@router.get("/{report_id}/unsubscribe", response_class=HTMLResponse, responses=SIGNED)
async def unsubscribe_page(request: Request, report_id: str = _id(),
                           sig: str = Query(min_length=1, max_length=128)) -> HTMLResponse:
    """A page with one button that stops the status messages (the link in every status mail)."""
    await flows.check_sig(store=request.app.state.runtime.store, report_id=report_id, sig=sig)
    return HTMLResponse(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Stop status messages</title>"
        "<body><h1>Stop the status messages of your reports?</h1>"
        "<form method=\"post\" action=\"\"><input type=\"hidden\" name=\"List-Unsubscribe\" "
        "value=\"One-Click\"><button type=\"submit\">Stop</button></form></body></html>")


@router.post("/{report_id}/unsubscribe", response_model=StoppedOut, responses=SIGNED, openapi_extra=ONE_CLICK)
async def unsubscribe(request: Request, report_id: str = _id(),
                      sig: str = Query(min_length=1, max_length=128)) -> StoppedOut:
    """One-click unsubscribe (RFC 8058): body ``List-Unsubscribe=One-Click``; no more status messages to this
    report's contact (nor to it for any other report)."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    if form.get("List-Unsubscribe") != ["One-Click"]:
        raise ValidationFailed("List-Unsubscribe", "the body must be List-Unsubscribe=One-Click (RFC 8058)")
    await flows.unsubscribe(store=request.app.state.runtime.store, report_id=report_id, sig=sig)
    return StoppedOut(id=report_id, stopped=True)
