"""``POST /api/v1/alerts`` (+ ``/{id}/update``, ``/{id}/cancel``) for originators, the CAP views
``GET /api/v1/alerts/{id}.xml`` and ``GET /api/v1/alerts.atom``, and ``WS /ws/alerts?lat=&lon=`` (citizens)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response, WebSocket, WebSocketDisconnect

from alerts.atom import IndexEntry, atom_index
from alerts.cap.build import envelope_to_cap, thread_messages
from alerts.cap.model import Alert
from alerts.cap.validate import Finding, validate_alert
from alerts.cap.xml import write_alert
from alerts.lifecycle import LifecycleRegistry
from alerts.models import AlertCancelIn, AlertIn
from alerts.service import ISSUE_PROFILES, alert_event, cancel_event, update_event
from alerts.tiers import Tier, may_issue
from emergency.auth.deps import require
from emergency.auth.models import TokenRecord
from emergency.auth.tokens import Role
from emergency.layers import ALERTS
from emergency.events import Envelope, Kind, new_id, utcnow
from emergency.store.base import EventQuery
from emergency.stream.topics import ALERTS_ISSUED
from feeds.intake import AcceptedOut, idempotent_id

CAP_XML = "application/cap+xml"
# Which request field a finding about the CAP we would write comes from.
_FIELD_OF = (("CMAMlongtext", "wea_long_text"), ("CMAMtext", "wea_text"), ("/headline", "headline"),
             ("/expires", "expires"), ("/area", "area"), ("/description", "description"),
             ("/instruction", "instruction"), ("/event", "event"))

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
    keyed_id = idempotent_id("alert", idempotency_key)
    event = alert_event(alert, event_id=keyed_id or new_id("alert"), sender=_sender(principal), now=now)
    cap = _validated(event, principal)
    registry = lifecycle(request)
    if not (keyed_id and registry.get(cap.sender, cap.identifier)):  # a retried key is answered by the store
        _refuse(registry.admit(cap, now))
    accepted = await request.app.state.runtime.submit(event, ALERTS_ISSUED)
    return AcceptedOut(id=accepted.event_id, duplicate=not accepted.created)


@router.post("/api/v1/alerts/{alert_id}/update", status_code=202, response_model=AcceptedOut)
async def update_alert(alert_id: str, alert: AlertIn, request: Request,
                       principal: TokenRecord = Depends(require(Role.alert_originator, Role.national_authority))
                       ) -> AcceptedOut:
    """Replace an alert's content and area (CAP msgType Update, referencing every non-expired message of
    its thread); delivered to everyone inside the new area or any area the thread covered before."""
    now = utcnow()
    original = await _own(request, alert_id, principal)
    if alert.tier.value != original.attributes["tier"]:
        raise HTTPException(422, f"tier: an update keeps the tier of the alert ({original.attributes['tier']})")
    if alert.expires <= now:
        raise HTTPException(422, "expires: must be in the future")
    return await _publish_next(request, original, update_event(original, alert, now=now), principal, now)


@router.post("/api/v1/alerts/{alert_id}/cancel", status_code=202, response_model=AcceptedOut)
async def cancel_alert(alert_id: str, request: Request, body: AlertCancelIn | None = None,
                       principal: TokenRecord = Depends(require(Role.alert_originator, Role.national_authority))
                       ) -> AcceptedOut:
    """Cancel an alert (CAP msgType Cancel, responseType AllClear) for everyone its thread reached."""
    now = utcnow()
    original = await _own(request, alert_id, principal)
    event = cancel_event(original, note=body.note if body else None, now=now)
    return await _publish_next(request, original, event, principal, now)


def _sender(principal: TokenRecord) -> str:
    return principal.agency or principal.name


def _validated(event: Envelope, principal: TokenRecord) -> Alert:
    """The CAP message of ``event``, after the validator found no error in it (else 422)."""
    cap = envelope_to_cap(event)
    _refuse(validate_alert(cap, ISSUE_PROFILES + (("authority",) if principal.jurisdiction else ()),
                           authority=principal.jurisdiction))
    return cap


async def _own(request: Request, alert_id: str, principal: TokenRecord) -> Envelope:
    event = await _issued(request, alert_id)
    if event.attributes["sender"] != _sender(principal):
        raise HTTPException(403, f"alert_id: only {event.attributes['sender']} may update or cancel {alert_id!r}")
    if not may_issue(Tier(event.attributes["tier"]), set(principal.roles)):
        raise HTTPException(403, f"tier: this token may not issue {event.attributes['tier']} alerts")
    return event


async def _publish_next(request: Request, original: Envelope, event: Envelope, principal: TokenRecord,
                        now: datetime) -> AcceptedOut:
    """Validate an Update/Cancel, check it against the thread (rebuilt from the store when this process
    has not seen it), and journal it as the next version of the alert."""
    registry = lifecycle(request)
    for earlier in thread_messages(original):
        registry.remember(earlier)
    _refuse(registry.check(envelope_to_cap(event), now))  # expired/cancelled threads first: clearer
    _refuse(registry.admit(_validated(event, principal), now))
    await request.app.state.runtime.submit(event, ALERTS_ISSUED, on_conflict="append")
    return AcceptedOut(id=event.id, duplicate=False)


def lifecycle(request: Request) -> LifecycleRegistry:
    """This process's registry of alert threads (kept on the app state)."""
    state = request.app.state
    if getattr(state, "alert_lifecycle", None) is None:
        state.alert_lifecycle = LifecycleRegistry()
    return state.alert_lifecycle


def _refuse(findings: list[Finding]) -> None:
    """422 naming the request field (or CAP element) of the first error finding."""
    errors = [f for f in findings if f.level == "error"]
    if not errors:
        return
    first = errors[0]
    field = next((name for marker, name in _FIELD_OF if marker in first.path), first.path)
    raise HTTPException(422, f"{field}: {first.message} ({first.code})")


async def _issued(request: Request, alert_id: str) -> Envelope:
    event = await request.app.state.runtime.store.get_event(alert_id)
    if event is None or event.kind is not Kind.alert or "tier" not in event.attributes:
        raise HTTPException(404, f"alert_id: no issued alert {alert_id!r}")
    return event


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
