"""``POST /api/v1/alerts`` (+ ``/{id}/update``, ``/{id}/cancel``) for originators, the CAP views
``GET /api/v1/alerts/{id}.xml`` and ``GET /api/v1/alerts.atom``, and ``WS /ws/alerts?lat=&lon=`` (citizens)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, Query, Request, Response, WebSocket, WebSocketDisconnect

from alerts import flows
from alerts.atom import IndexEntry, atom_index
from alerts.cap.build import envelope_to_cap
from alerts.cap.xml import write_alert
from alerts.drafts.service import approval_policy
from alerts.lifecycle import LifecycleRegistry
from alerts.models import AlertCancelIn, AlertIn
from alerts.service import issued_alert
from alerts.tiers import Tier, parse_tiers
from emergency.auth.deps import require
from emergency.auth.models import TokenRecord
from emergency.auth.tokens import Role
from emergency.errors import RequestRefused
from emergency.events import utcnow
from emergency.geometry import coordinate_from_text
from emergency.hub import ClientStalled, read_until_closed
from emergency.layers import ALERTS
from emergency.store.base import EventQuery
from feeds.intake import AcceptedOut, idempotent_id, request_digest

CAP_XML = "application/cap+xml"
ORIGINATOR = require(Role.alert_originator, Role.national_authority)

router = APIRouter(tags=["alerts"])


@router.post("/api/v1/alerts", status_code=202, response_model=AcceptedOut)
async def issue_alert(alert: AlertIn, request: Request,
                      idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
                      principal: TokenRecord = Depends(ORIGINATOR)) -> AcceptedOut:
    """Issue an alert to everyone inside its area; 202 once journaled. An ``Idempotency-Key`` is this
    token's own: the same key and request again answer the original id (``duplicate: true``); the same key
    with a different request is refused (422 ``Idempotency-Key``). The area must lie inside the token's
    authorised area (403 ``area`` otherwise); the SAME code follows ``event`` unless ``same_code`` is given (an
    event naming no EAS event is refused, 422 ``event`` with the closest EAS events). A tier whose approval
    policy (``EMERGENCY_ALERT_APPROVAL``; presidential always) needs a second person is refused (403 ``tier``):
    draft it with ``POST /api/v1/alerts/drafts``."""
    keyed_id = idempotent_id("alert", idempotency_key, sender=principal.token_hash)
    runtime = request.app.state.runtime
    accepted = await flows.issue_alert(principal=principal, payload=alert, submit=runtime.submit,
                                       lifecycle=lifecycle(request), event_id=keyed_id, store=runtime.store,
                                       digest=request_digest(alert) if keyed_id else None, policy=_policy(request))
    return AcceptedOut(id=accepted.event_id, duplicate=not accepted.created)


@router.post("/api/v1/alerts/{alert_id}/update", status_code=202, response_model=AcceptedOut)
async def update_alert(alert_id: str, alert: AlertIn, request: Request,
                       principal: TokenRecord = Depends(ORIGINATOR)) -> AcceptedOut:
    """Replace an alert's content and area (CAP msgType Update, referencing every non-expired message of
    its thread); delivered to everyone inside the new area or any area the thread covered before."""
    runtime = request.app.state.runtime
    accepted = await flows.update_alert(principal=principal, alert_id=alert_id, payload=alert, submit=runtime.submit,
                                        store=runtime.store, lifecycle=lifecycle(request), policy=_policy(request))
    return AcceptedOut(id=accepted.event_id, duplicate=False)


@router.post("/api/v1/alerts/{alert_id}/cancel", status_code=202, response_model=AcceptedOut)
async def cancel_alert(alert_id: str, request: Request, body: AlertCancelIn | None = None,
                       principal: TokenRecord = Depends(ORIGINATOR)) -> AcceptedOut:
    """Cancel an alert (CAP msgType Cancel, responseType AllClear) for everyone its thread reached."""
    runtime = request.app.state.runtime
    accepted = await flows.cancel_alert(principal=principal, alert_id=alert_id, note=body.note if body else None,
                                        submit=runtime.submit, store=runtime.store, lifecycle=lifecycle(request),
                                        policy=_policy(request))
    return AcceptedOut(id=accepted.event_id, duplicate=False)


def _policy(request: Request):
    """Approvals needed per tier (``EMERGENCY_ALERT_APPROVAL``): a tier that needs one is refused here (403
    ``tier``) and goes through ``/api/v1/alerts/drafts``."""
    return approval_policy(request.app.state.runtime.settings.alert_approval)


def lifecycle(request: Request) -> LifecycleRegistry:
    """This process's registry of alert threads (kept on the app state)."""
    state = request.app.state
    if getattr(state, "alert_lifecycle", None) is None:
        state.alert_lifecycle = LifecycleRegistry()
    return state.alert_lifecycle


async def _issued(request: Request, alert_id: str):
    return issued_alert(await request.app.state.runtime.store.get_event(alert_id), alert_id)


@router.get("/api/v1/alerts/{alert_id}.xml", response_class=Response,
            responses={200: {"content": {CAP_XML: {}}}})
async def alert_cap(alert_id: str, request: Request) -> Response:
    """The CAP 1.2 message (IPAWS profile v1.0, WEA parameters) of an issued alert."""
    return Response(write_alert(envelope_to_cap(await _issued(request, alert_id))), media_type=CAP_XML)


@router.get("/api/v1/alerts.atom", response_class=Response,
            responses={200: {"content": {"application/atom+xml": {}}}})
async def alerts_atom(request: Request) -> Response:
    """Atom index of the active alerts, each entry linking to its CAP XML (as NWS and IPAWS publish)."""
    now = utcnow()
    active = await request.app.state.runtime.store.query_events(EventQuery(layers=(ALERTS,), active_at=now))
    base = str(request.base_url).rstrip("/")
    entries = [IndexEntry(id=e.attributes.get("cap_id") or e.id, title=e.attributes.get("headline") or e.text or e.id,
                          link=f"{base}/api/v1/alerts/{e.id}.xml", updated=e.received_at,
                          summary=e.attributes.get("description"))
               for e in sorted(active, key=lambda e: e.received_at, reverse=True) if "tier" in e.attributes]
    body = atom_index(entries, feed_id=f"{base}/api/v1/alerts.atom", title="Active public alerts",
                      self_link=f"{base}/api/v1/alerts.atom", updated=max((e.updated for e in entries), default=now))
    return Response(body, media_type="application/atom+xml")


TIERS_DOC = ("comma-separated tier names the subscriber wants (" + ", ".join(t.value for t in Tier) + "); default: "
             "every tier except test, which is opt-in only. Presidential alerts are always delivered and cannot "
             "be opted out of. An unknown name closes the socket with code 1008 and the reason.")


@router.websocket("/ws/alerts")
async def alerts_socket(ws: WebSocket, tiers: str | None = Query(None, description=TIERS_DOC)) -> None:
    """Receive alerts whose area covers (``lat``, ``lon``; WGS 84 degrees): the active ones at once, then each
    new one, Updates and Cancels included. ``tiers`` chooses the tiers delivered (default: all but test;
    ``tiers=test,imminent_threat_extreme,...`` to receive test alerts; presidential always). A bad
    parameter closes the socket with code 1008 and a ``field: reason`` close reason."""
    await ws.accept()
    try:
        lat = coordinate_from_text(ws.query_params.get("lat"), "lat")
        lon = coordinate_from_text(ws.query_params.get("lon"), "lon")
        chosen = parse_tiers(tiers)
    except (ValueError, RequestRefused) as exc:
        await ws.close(code=1008, reason=str(exc)[:120])
        return
    runtime = ws.app.state.runtime
    push = runtime.alert_push
    try:
        await push.subscribe(ws, lat, lon, runtime.store, tiers=chosen)
        await read_until_closed(ws)  # clients may send pings; we only push (a binary frame: 1003)
    except (WebSocketDisconnect, ClientStalled):
        pass
    finally:
        push.unsubscribe(ws)
