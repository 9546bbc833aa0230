"""``/api/v1/registry/*``: the vulnerable-persons registry. Registrants are entered and read by registry officers
only (every read audited; the audit readable by officers and admins); the check-in links are public, the signed
token being the authority; the tasking list of an alert (JSON, CSV, and a page that reads it with a token)."""

from __future__ import annotations

import csv
import io
import json

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from alerts.registry import flows
from alerts.registry.models import (
    AuditList,
    CaregiverConfirmOut,
    CheckinOut,
    RegistrantIn,
    RegistrantList,
    RegistrantOut,
    RegistrantPatch,
    Tasking,
)
from alerts.registry.page import checkin_page, confirm_page, tasking_page
from alerts.registry.service import TASKING_COLUMNS, caregiver_language, page_language, registrant_out, tasking_row
from emergency.auth.deps import require
from emergency.auth.models import TokenRecord
from emergency.auth.tokens import Role

router = APIRouter(tags=["vulnerable-persons registry"])
OFFICER = require(Role.registry_officer)
AUDITOR = require(Role.registry_officer, Role.admin)
TOKEN = Path(min_length=1, max_length=200, description="the signed token of a check-in link")
SIGNED = {403: {"description": "the link's signature is not valid"}}
CONFIRM_SIGNED = {403: {"description": "the link's signature is not valid (or the caregiver's phone changed since)"}}


def _runtime(request: Request):
    return request.app.state.runtime


@router.post("/api/v1/registry/registrants", status_code=201, response_model=RegistrantOut)
async def create_registrant(body: RegistrantIn, request: Request,
                            principal: TokenRecord = Depends(OFFICER)) -> RegistrantOut:
    """Register a person (an officer enters it with their explicit consent); the answer echoes where the address
    was placed. 422 naming the field: an unknown need, a bad contact, consent not given, an ambiguous address (with
    what it matched)."""
    rt = _runtime(request)
    reg = await flows.register(store=rt.store, intake=rt, payload=body, principal=principal)
    return registrant_out(reg)


@router.get("/api/v1/registry/registrants", response_model=RegistrantList)
async def list_registrants(request: Request, after: str | None = Query(None, max_length=64),
                           limit: int = Query(100, ge=1, le=1000),
                           principal: TokenRecord = Depends(OFFICER)) -> RegistrantList:
    """A page of registrants in id order (this read is audited)."""
    total, items = await flows.page(store=_runtime(request).store, after=after, limit=limit, principal=principal)
    return RegistrantList(total=total, items=[registrant_out(r) for r in items])


@router.get("/api/v1/registry/registrants/{registrant_id}", response_model=RegistrantOut)
async def read_registrant(registrant_id: str, request: Request,
                          principal: TokenRecord = Depends(OFFICER)) -> RegistrantOut:
    """One registrant (audited)."""
    return registrant_out(await flows.read(store=_runtime(request).store, registrant_id=registrant_id,
                                           principal=principal))


@router.patch("/api/v1/registry/registrants/{registrant_id}", response_model=RegistrantOut, responses={
    404: {"description": "no such registrant"},
    409: {"description": "`version` is not the entry's (it was changed meanwhile): read it again"},
    422: {"description": "a field is invalid: `detail` names it (an ambiguous address with what it matched)"}})
async def patch_registrant(registrant_id: str, body: RegistrantPatch, request: Request,
                           principal: TokenRecord = Depends(OFFICER)) -> RegistrantOut:
    """Correct an entry (a new phone, a new need, a move): each field given replaces that field whole; give back
    the ``version`` read so a change made meanwhile is not overwritten. Audited. The answer echoes where a new
    address was placed."""
    rt = _runtime(request)
    return registrant_out(await flows.update(store=rt.store, intake=rt, registrant_id=registrant_id, payload=body,
                                             principal=principal))


@router.delete("/api/v1/registry/registrants/{registrant_id}")
async def delete_registrant(registrant_id: str, request: Request,
                            principal: TokenRecord = Depends(OFFICER)) -> dict[str, object]:
    """Erase a registrant (consent withdrawn)."""
    await flows.erase(store=_runtime(request).store, registrant_id=registrant_id, principal=principal)
    return {"id": registrant_id, "deleted": True}


@router.get("/api/v1/registry/audit", response_model=AuditList)
async def registry_audit(request: Request, limit: int = Query(200, ge=1, le=5000),
                         _: TokenRecord = Depends(AUDITOR)) -> AuditList:
    """Every read and change of registry entries, newest first: who, when, what, which entries (ids only)."""
    return AuditList(items=await flows.repository(_runtime(request).store).audit_log(limit=limit))


@router.get("/api/v1/registry/alerts/{alert_id}/tasking", response_model=Tasking)
async def alert_tasking(alert_id: str, request: Request, principal: TokenRecord = Depends(OFFICER)) -> Tasking:
    """The registrants an issued alert covers, in tasking order (``order``), with their check-in (audited)."""
    return await flows.alert_tasking(store=_runtime(request).store, alert_id=alert_id, principal=principal,
                                     action="tasking.read")


@router.get("/api/v1/registry/alerts/{alert_id}/tasking.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})
async def alert_tasking_csv(alert_id: str, request: Request, principal: TokenRecord = Depends(OFFICER)) -> Response:
    """The tasking list as CSV (audited)."""
    t = await flows.alert_tasking(store=_runtime(request).store, alert_id=alert_id, principal=principal,
                                  action="tasking.csv")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(TASKING_COLUMNS)
    writer.writerows(tasking_row(i) for i in t.items)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="tasking.csv"', "Cache-Control": "no-store"})


@router.get("/registry/alerts/{alert_id}/tasking", response_class=HTMLResponse)
async def alert_tasking_page(alert_id: str) -> HTMLResponse:
    """The tasking page (no data in it: it reads the list with the officer's token)."""
    return HTMLResponse(tasking_page(alert_id=alert_id, url_json=json.dumps(
        f"/api/v1/registry/alerts/{alert_id}/tasking")))


@router.get("/api/v1/registry/checkins/{token}", response_class=HTMLResponse, responses=SIGNED)
async def checkin_form(request: Request, token: str = TOKEN) -> HTMLResponse:
    """The page a check-in link opens, in the language of the person it was sent to (the registrant, or their
    caregiver): one button sending the answer."""
    found, state, by = await flows.check_token(store=_runtime(request).store, token=token)
    return HTMLResponse(checkin_page(state=state, language=page_language(outreach=found, by=by), by=by))


@router.post("/api/v1/registry/checkins/{token}", response_model=CheckinOut, responses=SIGNED)
async def checkin(request: Request, token: str = TOKEN) -> CheckinOut:
    """Answer a check-in ("I am safe" or "I need help"; idempotent), by the registrant or by their caregiver for
    them (the registry audit records who): "need help" opens a needs-help report at the person's place in the
    picture (through the citizen intake; its tracking link is answered)."""
    rt = _runtime(request)
    return await flows.check_in(store=rt.store, intake=rt, token=token, base_url=rt.settings.public_base_url())


@router.get("/api/v1/registry/caregivers/{token}", response_class=HTMLResponse, responses=CONFIRM_SIGNED)
async def caregiver_form(request: Request, token: str = TOKEN) -> HTMLResponse:
    """The page a caregiver's confirmation link opens, in their language: one button confirming their phone."""
    reg = await flows.caregiver_of_token(store=_runtime(request).store, token=token)
    return HTMLResponse(confirm_page(language=caregiver_language(reg)))


@router.post("/api/v1/registry/caregivers/{token}", response_model=CaregiverConfirmOut, responses=CONFIRM_SIGNED)
async def caregiver_confirm(request: Request, token: str = TOKEN) -> CaregiverConfirmOut:
    """The caregiver confirms their phone (idempotent): from now on they get the registrant's check-ins, with
    links that answer for the registrant."""
    reg = await flows.confirm_caregiver(store=_runtime(request).store, token=token)
    return CaregiverConfirmOut(confirmed=True, confirmed_at=reg.caregiver.confirmed_at if reg.caregiver else None)
