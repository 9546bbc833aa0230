"""``POST /api/v1/alerts`` (originators) and ``WS /ws/alerts?lat=&lon=`` (citizens)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, HTTPException, Request, WebSocket, WebSocketDisconnect

from alerts.models import AlertIn
from alerts.service import alert_event
from alerts.tiers import may_issue
from emergency.auth.deps import require
from emergency.auth.tokens import Role
from emergency.events import new_id, utcnow
from emergency.store.base import TokenRecord
from emergency.stream.topics import ALERTS_ISSUED
from feeds.intake import AcceptedOut, idempotent_id

router = APIRouter(tags=["alerts"])


@router.post("/api/v1/alerts", status_code=202, response_model=AcceptedOut)
async def issue_alert(alert: AlertIn, request: Request,
                      idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
                      principal: TokenRecord = Depends(require(Role.alert_originator, Role.national_authority))
                      ) -> AcceptedOut:
    """Issue an alert to everyone inside its area; 202 once journaled."""
    if not may_issue(alert.tier, set(principal.roles)):
        raise HTTPException(403, f"tier: this token may not issue {alert.tier.value} alerts")
    now = utcnow()
    if alert.expires <= now:
        raise HTTPException(422, "expires: must be in the future")
    event_id = idempotent_id("alert", idempotency_key) or new_id("alert")
    event = alert_event(alert, event_id=event_id, sender=principal.agency or principal.name, now=now)
    accepted = await request.app.state.runtime.submit(event, ALERTS_ISSUED)
    return AcceptedOut(id=accepted.event_id, duplicate=not accepted.created)


def _coordinate(raw: str | None, name: str, limit: float) -> float:
    if raw is None:
        raise ValueError(f"{name}: is required")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}: {raw!r} is not a number") from None
    if not -limit <= value <= limit:
        raise ValueError(f"{name}: must be between -{limit:g} and {limit:g}, got {value:g}")
    return value


@router.websocket("/ws/alerts")
async def alerts_socket(ws: WebSocket) -> None:
    """Receive alerts whose area covers (lat, lon): the active ones at once, then each new one."""
    await ws.accept()
    try:
        lat = _coordinate(ws.query_params.get("lat"), "lat", 90)
        lon = _coordinate(ws.query_params.get("lon"), "lon", 180)
    except ValueError as exc:
        await ws.close(code=1008, reason=str(exc)[:120])
        return
    runtime = ws.app.state.runtime
    push = runtime.alert_push
    await push.subscribe(ws, lat, lon, runtime.store)
    try:
        while True:
            await ws.receive_text()  # clients may send pings; we only push
    except WebSocketDisconnect:
        pass
    finally:
        push.unsubscribe(ws)
