"""Turn an accepted alert request into the event published on alerts.issued."""

from __future__ import annotations

from datetime import datetime

from alerts.models import AlertIn
from alerts.tiers import POLICY
from emergency.events import Envelope, GeoPrecision, Kind, Source
from emergency.geometry import circle_polygon


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
    }
    return Envelope(
        id=event_id, kind=Kind.alert, source=Source(type="alert_originator", ref=sender),
        observed_at=now, received_at=now, category=alert.tier.value, text=alert.headline,
        geometry=geometry, location_text=area.description, geo_precision=GeoPrecision.region,
        confidence=1.0, attributes=attributes,
    )
