"""Turn an accepted alert request into the event published on alerts.issued."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from alerts.cap.build import cap_date, sender_id
from alerts.cap.validate import WEA_TEXT_MAX
from alerts.models import AlertIn
from alerts.tiers import POLICY
from emergency.events import Envelope, GeoPrecision, Kind, Source
from emergency.geometry import as_geojson, circle_polygon, to_shape

# Profiles every alert this system issues must pass (the IPAWS profile too: the CAP we write declares it).
ISSUE_PROFILES = ("schema", "core", "wea")


def alert_event(alert: AlertIn, *, event_id: str, sender: str, now: datetime) -> Envelope:
    """The alert envelope: geometry is the area as a WGS 84 polygon (circles expanded, 64 sides)."""
    policy = POLICY[alert.tier]
    area = alert.area
    if area.circle is not None:
        geometry = circle_polygon(area.circle.lat, area.circle.lon, area.circle.radius_km)
    else:
        geometry = area.polygon
    attributes = {
        "tier": alert.tier.value,
        "rank": policy.rank,
        "headline": alert.headline,
        "description": alert.description,
        "instruction": alert.instruction,
        "event": alert.event or policy.default_event,
        "severity": policy.severity,
        "urgency": policy.urgency,
        "certainty": policy.certainty,
        "status": policy.status,
        "msg_type": "Alert",
        "sender": sender,
        "sent": now.isoformat(),
        "expires": alert.expires.isoformat(),
        "area_desc": area.description,
        "circle": area.circle.model_dump() if area.circle else None,
        "wea_text": alert.wea_text,
        "wea_long_text": alert.wea_long_text,
    }
    return Envelope(
        id=event_id, kind=Kind.alert, source=Source(type="alert_originator", ref=sender),
        observed_at=now, received_at=now, category=alert.tier.value, text=alert.headline,
        geometry=geometry, location_text=area.description, geo_precision=GeoPrecision.region,
        confidence=1.0, attributes=attributes,
    )


# --- Update and Cancel of an issued alert ----------------------------------------------------------
# An alert thread is one envelope id; each Update/Cancel is a new version of it (the picture keeps the
# latest) with its own CAP identifier. ``attributes["thread"]`` lists every CAP message of the thread
# ({"id", "sent", "expires"}), so references can be computed from the store alone.

CANCEL_VISIBLE = timedelta(minutes=10)  # a Cancel stays active this long so subscribers and feeds get it


def thread_of(event: Envelope) -> list[dict[str, str]]:
    """The CAP messages of an alert's thread, oldest first (an original alert is a thread of one)."""
    a = event.attributes
    return a.get("thread") or [{"id": event.id, "sent": a["sent"], "expires": a["expires"]}]


def _next_version(original: Envelope, attributes: dict[str, Any], geometry: dict[str, Any] | None,
                  msg_type: str, now: datetime) -> Envelope:
    thread = thread_of(original)
    cap_id = f"{original.id}:{len(thread)}"
    sender = sender_id(original.attributes["sender"])
    live = [m for m in thread if datetime.fromisoformat(m["expires"]) > now]  # IPAWS: every non-expired one
    references = " ".join(f"{sender},{m['id']},{cap_date(m['sent'])}" for m in live) or None
    attributes = {**attributes, "msg_type": msg_type, "sent": now.isoformat(), "cap_id": cap_id,
                  "references": references,
                  "thread": [*thread, {"id": cap_id, "sent": now.isoformat(), "expires": attributes["expires"]}]}
    return original.model_copy(update={"attributes": attributes, "geometry": geometry, "observed_at": now,
                                       "received_at": now, "text": attributes["headline"]})


def update_event(original: Envelope, alert: AlertIn, *, now: datetime) -> Envelope:
    """The Update of an issued alert: new content and area. Its delivery geometry is the union of the
    area reached so far and the new area, so everyone the earlier messages reached gets the update;
    the CAP message carries the new area (``cap_area``)."""
    fresh = alert_event(alert, event_id=original.id, sender=original.attributes["sender"], now=now)
    reach = to_shape(original.geometry).union(to_shape(fresh.geometry)) if original.geometry else None
    attributes = {**fresh.attributes, "cap_area": fresh.geometry}
    return _next_version(original, attributes, as_geojson(reach) if reach is not None else fresh.geometry,
                         "Update", now)


def cancel_event(original: Envelope, *, note: str | None, now: datetime) -> Envelope:
    """The Cancel of an issued alert, to the same area; it stays active for ``CANCEL_VISIBLE`` (never
    past the alert's own expiry) so it is pushed and listed, then the thread drops out of the picture."""
    a = original.attributes
    expires = min(datetime.fromisoformat(a["expires"]), now + CANCEL_VISIBLE)
    attributes = {**a, "headline": f"CANCELLED: {a['headline']}"[:140], "description": note or a.get("description"),
                  "instruction": "The alert is cancelled; no further action is needed.",
                  "expires": expires.isoformat(), "response_type": "AllClear", "wea_long_text": None,
                  "wea_text": _cancel_wea_text(a)}
    return _next_version(original, attributes, original.geometry, "Cancel", now)


def _cancel_wea_text(a: dict[str, Any]) -> str:
    text = f"CANCELLED: {a.get('wea_text') or a['headline']}"
    return text if len(text) <= WEA_TEXT_MAX else f"CANCELLED: {a['event']}"[:WEA_TEXT_MAX]
