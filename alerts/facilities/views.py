"""``/api/v1/facilities``: the critical-facilities registry, managed by admins and alert originators (the people
who issue the alerts the facilities must hear of); the notification dashboard for them and coordinators; the
acknowledgement page a notification links to (public: the delivery id is the capability, as for every delivery)."""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from alerts.facilities import flows
from alerts.facilities.models import Dashboard, FacilityIn, FacilityList, FacilityOut
from alerts.facilities.page import DASHBOARD, ack_page
from alerts.facilities.service import facility_out
from emergency.auth.deps import require
from emergency.auth.models import TokenRecord
from emergency.auth.tokens import Role
from emergency.errors import ValidationFailed
from emergency.events import utcnow

router = APIRouter(tags=["critical facilities"])
MANAGER = require(Role.admin, Role.alert_originator)
WATCHER = require(Role.admin, Role.alert_originator, Role.coordinator)
DELIVERY_ID = re.compile(r"[0-9a-f]{64}")


def _store(request: Request):
    return request.app.state.runtime.store


@router.get("/api/v1/facilities/notifications", response_model=Dashboard)
async def notifications(request: Request, limit: int = Query(200, ge=1, le=2000),
                        _: TokenRecord = Depends(WATCHER)) -> Dashboard:
    """Every notification, newest first: the facility, the cause, who was told when (and through which channels,
    masked), who acknowledged and when, the next escalation."""
    return Dashboard(generated_at=utcnow(), items=await flows.dashboard(store=_store(request), limit=limit))


@router.post("/api/v1/facilities", status_code=201, response_model=FacilityOut)
async def create_facility(body: FacilityIn, request: Request, _: TokenRecord = Depends(MANAGER)) -> FacilityOut:
    """Register a facility: type, location (WGS 84), notification radius (metres), ordered operator contacts."""
    return facility_out(await flows.create(store=_store(request), payload=body))


@router.get("/api/v1/facilities", response_model=FacilityList)
async def list_facilities(request: Request, _: TokenRecord = Depends(MANAGER)) -> FacilityList:
    """Every facility (contacts masked)."""
    return FacilityList(items=[facility_out(f) for f in await flows.repository(_store(request)).all()])


@router.get("/api/v1/facilities/{facility_id}", response_model=FacilityOut)
async def read_facility(facility_id: str, request: Request, _: TokenRecord = Depends(MANAGER)) -> FacilityOut:
    return facility_out(await flows.get(store=_store(request), facility_id=facility_id))


@router.put("/api/v1/facilities/{facility_id}", response_model=FacilityOut)
async def replace_facility(facility_id: str, body: FacilityIn, request: Request,
                           _: TokenRecord = Depends(MANAGER)) -> FacilityOut:
    """Replace the facility whole (contacts in their new order)."""
    return facility_out(await flows.replace(store=_store(request), facility_id=facility_id, payload=body))


@router.delete("/api/v1/facilities/{facility_id}")
async def delete_facility(facility_id: str, request: Request, _: TokenRecord = Depends(MANAGER)) -> dict[str, object]:
    await flows.delete(store=_store(request), facility_id=facility_id)
    return {"id": facility_id, "deleted": True}


@router.get("/facilities/notifications", response_class=HTMLResponse)
async def notifications_page() -> HTMLResponse:
    """The dashboard page (it reads the notifications with the viewer's token)."""
    return HTMLResponse(DASHBOARD)


@router.get("/facilities/ack/{delivery_id}", response_class=HTMLResponse)
async def acknowledge_page(delivery_id: str) -> HTMLResponse:
    """The page a notification links to: one button posting ``POST /api/v1/deliveries/{id}/ack``."""
    if not DELIVERY_ID.fullmatch(delivery_id):
        raise ValidationFailed("delivery_id", "must be 64 lowercase hex digits (the id in the message's link)")
    return HTMLResponse(ack_page(delivery_id=delivery_id))
