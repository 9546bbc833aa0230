"""The channels' public routes: ``GET /api/v1/webpush/vapid`` (the server's VAPID key for a page's
``PushManager.subscribe``) and Kannel's delivery-report callback ``/api/v1/channels/sms/dlr``, protected by the HMAC signature in its URL (see
channels/sms.py). Kannel's inbound callback ``/api/v1/channels/sms/inbound`` (STOP/START/HELP, then citizen
reports) lives in feeds/messaging/views.py."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from alerts.delivery.channels import sms
from alerts.delivery.channels.vapid import application_server_key, ensure_vapid
from emergency.errors import Unavailable

router = APIRouter(tags=["channels"])
SIGNED = {403: {"description": "`sig` is not this callback's signature"}}


@router.get(sms.DLR_PATH, response_class=PlainTextResponse, responses=SIGNED)
@router.post(sms.DLR_PATH, response_class=PlainTextResponse, responses=SIGNED)
async def sms_delivery_report(request: Request, t: str = Query(..., pattern=sms.TOKEN_PATTERN),
                              sig: str = Query(..., pattern=sms.SIG_PATTERN),
                              type: int = Query(..., description="Kannel's DLR type (%d)"),  # noqa: A002 - Kannel's name
                              reply: str | None = Query(None, max_length=1024)) -> str:
    """A Kannel delivery report for one delivery: "delivered" or "failed" becomes a receipt (403 on a bad ``sig``)."""
    runtime = request.app.state.runtime
    receipt = sms.dlr_receipt(key=sms.callback_key(runtime.settings), t=t, sig=sig, dlr_type=type, reply=reply)
    if receipt is not None:
        sink = runtime.delivery_receipts
        if sink is None:
            raise Unavailable("type", "delivery receipts are not recorded in this process")
        await sink.publish(receipt)
    return "ok"


@router.get("/api/v1/webpush/vapid", tags=["alerts"])
async def webpush_vapid(request: Request) -> dict[str, str]:
    """The ``applicationServerKey`` (uncompressed P-256 point, base64url) a browser subscribes with; the
    same for as long as the store keeps it."""
    return {"applicationServerKey": application_server_key(await ensure_vapid(request.app.state.runtime.store))}
