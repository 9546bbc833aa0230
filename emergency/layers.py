"""Which map layer an event belongs to, and until when it is current."""

from __future__ import annotations

from datetime import datetime

from emergency.events import Envelope, Kind

REPORTS = "reports"
ROAD_CLOSURES = "road_closures"
ALERTS = "alerts"
INCIDENTS = "incidents"
OTHER = "other"
LAYERS = (REPORTS, ROAD_CLOSURES, ALERTS, INCIDENTS, OTHER)


def layer_of(event: Envelope) -> str:
    """The live-map layer of an event: reports, road_closures, alerts, incidents or other."""
    if event.kind in (Kind.citizen_report, Kind.social_post, Kind.feed_item):
        return REPORTS
    if event.kind is Kind.agency_report:
        return ROAD_CLOSURES if event.category == "road_closure" else OTHER
    if event.kind is Kind.alert:
        return ALERTS
    if event.kind is Kind.incident:
        return INCIDENTS
    return OTHER


def expires_at(event: Envelope) -> datetime | None:
    """When the event stops being current (alert expiry, closure end), or None if open-ended."""
    value = event.attributes.get("expires") or event.attributes.get("end")
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
