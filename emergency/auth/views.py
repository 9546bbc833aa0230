"""Admin API for tokens: create (shown once) and revoke."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from emergency.auth.deps import require
from emergency.auth.models import TokenRecord
from emergency.auth.repository import TOKENS
from emergency.auth.tokens import Role, create_token, token_id
from emergency.events import utcnow
from emergency.geometry import validate_geojson

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    roles: list[Role] = Field(min_length=1)
    agency: str | None = Field(None, min_length=1, max_length=200)
    jurisdiction: dict[str, Any] | None = Field(None, description="GeoJSON Polygon/MultiPolygon, WGS 84")

    @field_validator("jurisdiction")
    @classmethod
    def _poly(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is not None and v.get("type") not in ("Polygon", "MultiPolygon"):
            raise ValueError("must be a GeoJSON Polygon or MultiPolygon")
        return validate_geojson(v) if v is not None else v


@router.post("/tokens", status_code=201)
async def create(body: TokenIn, request: Request, _: TokenRecord = Depends(require(Role.admin))) -> dict[str, Any]:
    """Create a token; the token text is in this response only."""
    try:
        token, rec = await create_token(request.app.state.runtime.store, name=body.name, roles=body.roles,
                                        agency=body.agency, jurisdiction=body.jurisdiction)
    except ValueError as exc:
        raise HTTPException(422, f"roles: {exc}") from None
    return {"token": token, "token_id": token_id(rec.token_hash), "name": rec.name, "roles": rec.roles,
            "agency": rec.agency}


@router.delete("/tokens/{token_hash}", status_code=200)
async def revoke(token_hash: str, request: Request, _: TokenRecord = Depends(require(Role.admin))) -> dict[str, Any]:
    """Revoke a token by its full SHA-256 hash."""
    if not await request.app.state.runtime.store.repository(TOKENS).revoke(token_hash, utcnow()):
        raise HTTPException(404, "token_hash: no active token with this hash")
    return {"revoked": token_id(token_hash)}
