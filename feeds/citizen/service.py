"""Turn a citizen submission into a raw.citizen event."""

from __future__ import annotations

from datetime import datetime, timedelta

from emergency.events import Envelope, GeoPrecision, Kind, Source
from feeds.citizen.models import CitizenReportIn

FUTURE_TOLERANCE = timedelta(minutes=5)


def citizen_event(report: CitizenReportIn, *, event_id: str, source_type: str, now: datetime) -> Envelope:
    """The envelope for a citizen report; the contact goes under the private attributes.

    Raises ValueError when ``observed_at`` is in the future.
    """
    observed = report.observed_at or now
    if observed > now + FUTURE_TOLERANCE:
        raise ValueError("observed_at: is in the future")
    attributes: dict = {"verified": False}
    if report.contact:
        attributes["private"] = {"contact": report.contact}
    return Envelope(
        id=event_id, kind=Kind.citizen_report, source=Source(type=source_type), observed_at=observed,
        received_at=now, category=report.category.value, text=report.text,
        geometry={"type": "Point", "coordinates": [report.lon, report.lat]},
        location_text=report.location_text, geo_precision=GeoPrecision.exact, confidence=0.5,
        attributes=attributes,
    )
