"""``GET /api/v1/alerts/{id}/deliveries`` (originator of the alert, coordinators, admins), ``POST
/api/v1/deliveries/{delivery_id}/ack`` (public: the delivery id in the message's link is the capability) and the
page ``/alerts/{id}/deliveries`` drawing the delivery curve per channel."""

from __future__ import annotations

import html
import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from alerts.delivery import service
from alerts.delivery.page import delivery_page
from emergency.auth.deps import require
from emergency.auth.models import TokenRecord
from emergency.auth.tokens import Role

router = APIRouter(tags=["alert delivery"])
WATCHER = require(Role.alert_originator, Role.coordinator, Role.admin)


@router.get("/api/v1/alerts/{alert_id}/deliveries")
async def alert_deliveries(alert_id: str, request: Request,
                           principal: TokenRecord = Depends(WATCHER)) -> dict[str, Any]:
    """Per channel and per version of the alert thread: targeted, queued, sent, delivered, failed, acknowledged;
    ``time_to_reached_s`` (seconds from the version's issue until 50/90/99 % of the targeted deliveries were
    delivered, or sent where the channel reports no delivery; null until reached) and ``curve`` ([seconds,
    count] cumulative). An originator sees only its own alerts (403 ``alert_id``)."""
    return await service.delivery_report(store=request.app.state.runtime.store, alert_id=alert_id, principal=principal)


@router.post("/api/v1/deliveries/{delivery_id}/ack")
async def acknowledge_delivery(delivery_id: str, request: Request) -> dict[str, Any]:
    """Acknowledge one delivered message (the link in it, or an app); idempotent. 404 for an unknown id, 409 for
    a delivery not sent yet."""
    runtime = request.app.state.runtime
    return await service.acknowledge(store=runtime.store, delivery_id=delivery_id, publish=runtime.publish_receipt)


@router.get("/alerts/{alert_id}/deliveries", response_class=HTMLResponse)
async def alert_deliveries_page(alert_id: str) -> HTMLResponse:
    """The delivery curve per channel of an alert (offline page; it asks for a token to read the report)."""
    return HTMLResponse(delivery_page(alert_id=html.escape(alert_id), report_url=json.dumps(
        f"/api/v1/alerts/{alert_id}/deliveries")))
