"""Turn agency submissions into raw.agency events, inside the agency's jurisdiction only."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from emergency.events import Envelope, GeoPrecision, Kind, Source
from emergency.geometry import to_shape
from feeds.agency.models import RoadClosureIn


def within_jurisdiction(geometry: dict[str, Any], jurisdiction: dict[str, Any] | None) -> bool:
    """True when the geometry lies inside the jurisdiction polygon (both GeoJSON, WGS 84)."""
    return jurisdiction is not None and to_shape(jurisdiction).covers(to_shape(geometry))


def agency_slug(agency: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", agency.lower()).strip("-") or "agency"


def closure_event(closure: RoadClosureIn, *, event_id: str, agency: str, now: datetime) -> Envelope:
    """The envelope for a road closure."""
    return Envelope(
        id=event_id, kind=Kind.agency_report, source=Source(type="agency_api", ref=closure.reference),
        observed_at=closure.start if closure.start <= now else now, received_at=now, category="road_closure",
        text=closure.reason, geometry=closure.geometry, location_text=closure.road_name,
        geo_precision=GeoPrecision.exact, confidence=1.0,
        attributes={
            "agency": agency, "reason": closure.reason, "road_name": closure.road_name,
            "reference": closure.reference, "start": closure.start.isoformat(),
            "end": closure.end.isoformat() if closure.end else None,
        },
    )
