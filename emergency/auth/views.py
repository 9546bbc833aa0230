"""Admin API for tokens: create (shown once) and revoke."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from emergency.auth.audit import AUDIT, audit_entry
from emergency.auth.deps import require
from emergency.auth.models import TokenRecord
from emergency.auth.tokens import Role, create_token, revoke_token, token_id
from emergency.geometry import AreaGeometry

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    roles: list[Role] = Field(min_length=1)
    agency: str | None = Field(None, min_length=1, max_length=200)
    person: str | None = Field(None, min_length=1, max_length=200, description="the person who holds the token "
                               "(an alert draft's approver must be another person than its author)")
    jurisdiction: AreaGeometry | None = Field(
        None, description="GeoJSON Polygon/MultiPolygon, WGS 84 degrees: the agency's jurisdiction, or the "
        "authorised area an alert_originator may issue alerts in (required for agency and alert_originator "
        "tokens, unless the agency is registered: then its registered jurisdiction; a national_authority token "
        "without one alerts nationwide)")


@router.post("/tokens", status_code=201)
async def create(body: TokenIn, request: Request,
                 principal: TokenRecord = Depends(require(Role.admin))) -> dict[str, Any]:
    """Create a token; the token text is in this response only. 422 naming the field when a role's
    requirement is missing (an agency and jurisdiction for agency tokens, an authorised area for alert
    originators), and naming ``agency`` (the existing name in ``candidates``) when the agency name differs
    from an existing agency's only in case, accents, punctuation or spacing. Tokens of one agency (the exact
    same name) share its ``agency_id``; a registered agency's token takes its jurisdiction when none is given.
    A token of an agency is recorded in the agency's audit log."""
    store = request.app.state.runtime.store
    token, rec = await create_token(store, name=body.name, roles=body.roles, agency=body.agency,
                                    jurisdiction=body.jurisdiction, person=body.person)
    if rec.agency_id:
        await store.repository(AUDIT).add(audit_entry(principal=principal, agency_id=rec.agency_id,
                                                      action="token.create", target=token_id(rec.token_hash),
                                                      detail={"roles": rec.roles}))
    return {"token": token, "token_id": token_id(rec.token_hash), "name": rec.name, "roles": rec.roles,
            "agency": rec.agency, "agency_id": rec.agency_id, "person": rec.person}


@router.delete("/tokens/{token_hash}", status_code=200)
async def revoke(token_hash: str, request: Request, _: TokenRecord = Depends(require(Role.admin))) -> dict[str, Any]:
    """Revoke a token by its ``token_id`` (16 hex digits, as create shows it) or its full SHA-256 hash;
    404 when no active token has it."""
    return {"revoked": await revoke_token(request.app.state.runtime.store, ref=token_hash, field="token_hash")}
