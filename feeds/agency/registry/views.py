"""``/api/v1/admin/agencies``: register, list (contacts masked), read, change agencies; their audit log."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Path, Query, Request

from emergency.auth.deps import require
from emergency.auth.models import TokenRecord
from emergency.auth.tokens import Role
from emergency.errors import ConfigError
from emergency.events import utcnow
from feeds.agency.registry.models import AgencyIn, AgencyOut, AgencyPatch, AuditOut
from feeds.agency.registry.service import agency_audit, get_agency, list_agencies, register_agency, update_agency
from mapping.regions import Region, load_region

router = APIRouter(prefix="/api/v1/admin/agencies", tags=["admin"])
AGENCY_ID = Path(min_length=1, max_length=200, pattern=r"^[a-z0-9-]+$", description="the agency's id")


async def _region(request: Request, needed: bool) -> Region | None:
    if not needed:
        return None
    try:
        return await asyncio.to_thread(load_region, request.app.state.runtime.settings.region_dir)
    except ConfigError:
        return None


@router.post("", status_code=201, response_model=AgencyOut, responses={
    409: {"description": "an agency with this exact name is registered"},
    422: {"description": "a bad field, or a name that only looks like a known agency's (`candidates`)"}})
async def post_agency(item: AgencyIn, request: Request,
                      principal: TokenRecord = Depends(require(Role.admin))) -> AgencyOut:
    """Register an agency; its tokens (existing and new) act in its jurisdiction."""
    return await register_agency(store=request.app.state.runtime.store, item=item,
                                 region=await _region(request, item.jurisdiction_codes is not None),
                                 principal=principal, now=utcnow())


@router.get("", response_model=list[AgencyOut])
async def get_agencies(request: Request, _: TokenRecord = Depends(require(Role.admin))) -> list[AgencyOut]:
    """Every registered agency, contacts masked."""
    return await list_agencies(store=request.app.state.runtime.store)


@router.get("/{agency_id}", response_model=AgencyOut, responses={404: {"description": "no such agency"}})
async def get_one(request: Request, agency_id: str = AGENCY_ID,
                  _: TokenRecord = Depends(require(Role.admin))) -> AgencyOut:
    """One agency with its contacts in full."""
    return await get_agency(store=request.app.state.runtime.store, agency_id=agency_id)


@router.patch("/{agency_id}", response_model=AgencyOut, responses={404: {"description": "no such agency"}})
async def patch_agency(patch: AgencyPatch, request: Request, agency_id: str = AGENCY_ID,
                       principal: TokenRecord = Depends(require(Role.admin))) -> AgencyOut:
    """Change an agency's jurisdiction (its tokens follow) or contacts."""
    return await update_agency(store=request.app.state.runtime.store, agency_id=agency_id, patch=patch,
                               region=await _region(request, patch.jurisdiction_codes is not None),
                               principal=principal, now=utcnow())


@router.get("/{agency_id}/audit", response_model=list[AuditOut], responses={404: {"description": "no such agency"}})
async def get_audit(request: Request, agency_id: str = AGENCY_ID, limit: int = Query(1000, ge=1, le=10_000),
                    _: TokenRecord = Depends(require(Role.admin))) -> list[AuditOut]:
    """Every action of or on the agency (who, when, what), newest first."""
    return await agency_audit(store=request.app.state.runtime.store, agency_id=agency_id, limit=limit)
