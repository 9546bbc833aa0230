"""``GET /api/v1/webpush/vapid`` (public): the server's VAPID public key for a page's ``PushManager.subscribe``."""

from __future__ import annotations

from fastapi import APIRouter, Request

from alerts.delivery.channels.vapid import application_server_key, ensure_vapid

router = APIRouter(tags=["alerts"])


@router.get("/api/v1/webpush/vapid")
async def webpush_vapid(request: Request) -> dict[str, str]:
    """The ``applicationServerKey`` (uncompressed P-256 point, base64url) a browser subscribes with; the
    same for as long as the store keeps it."""
    return {"applicationServerKey": application_server_key(await ensure_vapid(request.app.state.runtime.store))}
