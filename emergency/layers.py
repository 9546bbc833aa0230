"""The layer registry: every map layer of the common operating picture, declared once.

One ``Layer`` entry says which events belong to it, how it is titled and drawn, until when its
items are current, which attributes are public, and how much one read may return. The store
(its ``layer`` and ``expires_at`` columns), the read routes (``emergency/cop/views.py``), the
live page's config (``mapping/live_map/page.py``) and ``live.js`` all read this registry, so a
new layer (shelters, evacuation zones, incidents) is one entry here plus its intake module.

Geometries are GeoJSON, WGS 84 (EPSG:4326), RFC 7946.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from emergency.events import Envelope, Kind
from emergency.timebounds import to_utc

Draw = Literal["markers", "lines", "areas"]


@dataclass(frozen=True)
class Layer:
    """One map layer: its members, its legend, its expiry and its public shape."""

    name: str                                  # API / WebSocket key, e.g. "road_closures"
    title: str                                 # shown in the layer control and legend
    path: str                                  # read route, e.g. "/api/v1/road-closures"
    kinds: frozenset[Kind]                     # envelope kinds that belong here ...
    categories: frozenset[str] | None = None   # ... with these categories (None: any)
    draw: Draw = "markers"                     # how live.js draws it: markers (clustered), lines, areas
    color: str = "#455a64"                     # legend / default stroke colour
    z: int = 0                                 # draw order: higher draws on top
    expiry_attributes: tuple[str, ...] = ()    # attributes holding the ISO end time (first present wins)
    active_by_default: bool = False            # read route returns only current items unless active=false
    default_limit: int = 5000                  # items per read when no limit is given (newest first)
    max_limit: int = 50_000                    # largest limit a read accepts
    public_fields: frozenset[str] = frozenset()  # attributes shown on public surfaces (API, changes, WebSocket)
    description: str = ""
    min_zoom: int | None = None                # live map: hidden below this zoom (incidents stand for reports)

    def holds(self, event: Envelope) -> bool:
        """Whether ``event`` belongs to this layer."""
        return event.kind in self.kinds and (self.categories is None or event.category in self.categories)

    def page_config(self) -> dict[str, Any]:
        """What the live page needs to draw this layer (JSON-serialisable)."""
        return {"name": self.name, "title": self.title, "path": self.path, "draw": self.draw,
                "color": self.color, "z": self.z, "limit": self.default_limit, "min_zoom": self.min_zoom}


# Public attributes per layer. Anything else in ``attributes`` (above all ``attributes["private"]``:
# contacts, author handles, post ids, stream names) never reaches a public surface.
REPORT_FIELDS = frozenset({
    "verified",                                                        # citizen reports
    "count", "distinct_authors", "first_seen", "last_seen", "social_category", "related",  # social posts
    "informative", "score", "keywords", "hashtags", "lang", "outside_region", "place_origin",
    "links",  # only links that name no account: feeds/social/links.py keeps the others private
    "incident_id", "incident_status",  # the incident the correlator put it in (emergency/cop/incidents)
})
CLOSURE_FIELDS = frozenset({"agency", "agency_id", "reason", "road_name", "reference", "start", "end",
                            "road", "from", "to", "length_m", "status", "lanes_affected", "detour", "ended",
                            "incident_id", "incident_status", "lanes", "windows", "timezone"})
# Agency inputs (feeds/agency/inputs/): every one names its agency, its reference, its status and, once
# ended (a DELETE or an end state), when: ``ended`` is each agency layer's first expiry attribute.
AGENCY_FIELDS = frozenset({"agency", "agency_id", "reference", "status", "ended", "incident_id", "incident_status"})
DAMAGE_FIELDS = AGENCY_FIELDS | {"place", "damage_kind", "level", "counts", "assessed_at", "notes"}
RESOURCE_FIELDS = AGENCY_FIELDS | {"what", "quantity", "unit", "priority", "needed_by", "deliver_to", "fulfilments",
                                   "fulfilled_quantity", "remaining_quantity"}
SHELTER_FIELDS = AGENCY_FIELDS | {"name", "place", "capacity", "occupancy", "available", "accessible", "pets",
                                  "updated_at"}
EVACUATION_FIELDS = AGENCY_FIELDS | {"name", "level", "ready_set_go", "zones", "zone_names", "effective_from",
                                     "effective_until", "instruction"}
PERIMETER_FIELDS = AGENCY_FIELDS | {"name", "hazard", "observed", "source", "area_km2", "area_km2_before",
                                    "history"}
ALERT_FIELDS = frozenset({
    "tier", "rank", "headline", "description", "instruction", "event", "severity", "urgency", "certainty",
    "status", "msg_type", "response_type", "sent", "expires", "area_desc", "circle", "wea_text", "wea_long_text",
    "cap_id",
    "language", "languages", "translations",  # issue 15: the alert's info blocks per language (alerts.service)
})

FEED_FIELDS = frozenset({
    "feed", "feed_format", "publisher", "attribution", "item_id", "link", "updated", "ended_at",  # every feed item
    "event_type", "status", "severity", "urgency", "certainty", "msg_type", "headline", "instruction", "area_desc",
    "sent", "effective", "expires", "sender_name", "zones", "magnitude", "depth_km", "place", "pager_alert",
    "tsunami", "feed_type", "action", "source_org", "resources", "size", "alert_level", "council_area",
    "responsible_agency", "incident_id", "incident_status",
})

INCIDENT_FIELDS = frozenset({
    "title", "status", "first_seen", "last_seen", "sources", "reporters", "report_count", "report_ids", "hull",
    "merged_into", "claimed", "claim_until", "public_reason",
})

REPORTS = "reports"
ROAD_CLOSURES = "road_closures"
ALERTS = "alerts"
FEED_INCIDENTS = "feed_incidents"
DAMAGE_REPORTS = "damage_reports"
RESOURCE_REQUESTS = "resource_requests"
SHELTERS = "shelters"
EVACUATION_ZONES = "evacuation_zones"
HAZARD_PERIMETERS = "hazard_perimeters"
_AGENCY = frozenset({Kind.agency_report})
INCIDENTS = "incidents"
# Incidents replace raw reports at low zoom (issue 12): on the live map the reports layer is drawn only at this
# zoom and closer (Leaflet zoom 12 is a city across, ~40 km on a 1280 px screen); farther out, only the
# incidents layer (every report's incident) is drawn, and the legend says so.
REPORTS_MIN_ZOOM = 12

REGISTRY: Mapping[str, Layer] = {
    layer.name: layer for layer in (
        Layer(name=REPORTS, title="Reports", path="/api/v1/reports",
              kinds=frozenset({Kind.citizen_report, Kind.social_post}),
              draw="markers", color="#436978", z=30, public_fields=REPORT_FIELDS,
              description="Citizen reports and mapped social posts", min_zoom=REPORTS_MIN_ZOOM),
        Layer(name=ROAD_CLOSURES, title="Road closures", path="/api/v1/road-closures",
              kinds=frozenset({Kind.agency_report}), categories=frozenset({"road_closure"}),
              draw="lines", color="#b71c1c", z=20, expiry_attributes=("ended", "end"), active_by_default=True,
              public_fields=CLOSURE_FIELDS, description="Road closures submitted by agencies, as LineStrings"),
        Layer(name=ALERTS, title="Alerts", path="/api/v1/alerts",
              kinds=frozenset({Kind.alert}), draw="areas", color="#c62828", z=10,
              expiry_attributes=("expires",), active_by_default=True, default_limit=1000, max_limit=10_000,
              public_fields=ALERT_FIELDS, description="Issued public alerts with their areas as polygons"),
        Layer(name=FEED_INCIDENTS, title="Agency feeds", path="/api/v1/feed-items",
              kinds=frozenset({Kind.feed_item}), draw="markers", color="#6a1b9a", z=25,
              expiry_attributes=("ended_at", "expires"), active_by_default=True, public_fields=FEED_FIELDS,
              description="Items of other agencies' public feeds (earthquakes, fires, warnings), each with its "
                          "publisher and licence attribution; an item that leaves its feed is ended"),
        Layer(name=SHELTERS, title="Shelters", path="/api/v1/shelters", kinds=_AGENCY,
              categories=frozenset({"shelter"}), draw="markers", color="#2e7d32", z=26, expiry_attributes=("ended",),
              active_by_default=True, public_fields=SHELTER_FIELDS,
              description="Shelters with capacity, occupancy and status, as Points"),
        Layer(name=DAMAGE_REPORTS, title="Damage reports", path="/api/v1/damage-reports", kinds=_AGENCY,
              categories=frozenset({"damage_report"}), draw="markers", color="#6d4c41", z=24,
              expiry_attributes=("ended",), active_by_default=True, public_fields=DAMAGE_FIELDS,
              description="Agency damage assessments (FEMA PDA levels), as Points"),
        Layer(name=RESOURCE_REQUESTS, title="Resource requests", path="/api/v1/resource-requests", kinds=_AGENCY,
              categories=frozenset({"resource_need"}), draw="markers", color="#00838f", z=22,
              expiry_attributes=("ended",), active_by_default=True, public_fields=RESOURCE_FIELDS,
              description="What agencies need delivered and how much is fulfilled, as Points"),
        Layer(name=EVACUATION_ZONES, title="Evacuation zones", path="/api/v1/evacuation-zones", kinds=_AGENCY,
              categories=frozenset({"evacuation_zone"}), draw="areas", color="#ef6c00", z=8,
              expiry_attributes=("ended", "effective_until"), active_by_default=True, public_fields=EVACUATION_FIELDS,
              description="Evacuation advisories, warnings and orders (Ready, Set, Go), as polygons"),
        Layer(name=HAZARD_PERIMETERS, title="Hazard perimeters", path="/api/v1/hazard-perimeters", kinds=_AGENCY,
              categories=frozenset({"hazard_perimeter"}), draw="areas", color="#d84315", z=6,
              expiry_attributes=("ended",), active_by_default=True, public_fields=PERIMETER_FIELDS,
              description="Fire, flood and plume perimeters (latest per reference, with their growth), as polygons"),
        Layer(name=INCIDENTS, title="Incidents", path="/api/v1/incidents",
              kinds=frozenset({Kind.incident}), draw="markers", color="#4527a0", z=35, default_limit=2000,
              public_fields=INCIDENT_FIELDS,
              description="Reports correlated into incidents (emergency/cop/incidents), with their status"),
    )
}
"""Every layer by name, in legend order."""


class NoLayer(ValueError):
    """An event that belongs to no declared layer (it would be invisible on the map)."""


def layer_for(event: Envelope) -> Layer:
    """The registered layer ``event`` belongs to; raises ``NoLayer`` when none holds it."""
    for layer in REGISTRY.values():
        if layer.holds(event):
            return layer
    raise NoLayer(f"no map layer holds kind {event.kind.value!r} with category {event.category!r}")


def layer_of(event: Envelope) -> str:
    """The name of the layer ``event`` belongs to; raises ``NoLayer`` when none holds it."""
    return layer_for(event).name


def expires_at(event: Envelope) -> datetime | None:
    """When the event stops being current (its layer's expiry attribute, UTC), or None if open-ended.

    Raises ValueError naming the attribute when it is not an ISO 8601 time representable in UTC.
    """
    for name in _expiry_attributes(event):
        value = event.attributes.get(name)
        if value:
            try:
                return to_utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"attributes.{name}: {exc}") from None
    return None


def _expiry_attributes(event: Envelope) -> tuple[str, ...]:
    try:
        return layer_for(event).expiry_attributes
    except NoLayer:
        return ()


__all__ = ["ALERTS", "DAMAGE_REPORTS", "EVACUATION_ZONES", "FEED_INCIDENTS", "HAZARD_PERIMETERS", "INCIDENTS",
           "REGISTRY", "REPORTS", "RESOURCE_REQUESTS", "ROAD_CLOSURES", "SHELTERS", "Draw", "Layer", "NoLayer",
           "expires_at", "layer_for",
           "layer_of"]
