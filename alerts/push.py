"""Push issued alerts to WebSocket subscribers whose location lies inside the alert area and who take the
alert's tier (``alerts.tiers.delivers``: test only when asked for, presidential always)."""

from __future__ import annotations

import json
from collections import OrderedDict
from datetime import datetime

from fastapi import WebSocket

from alerts.tiers import DEFAULT_TIERS, Tier, delivers, rank
from emergency.cop.features import to_feature
from emergency.events import Envelope, Kind, utcnow
from emergency.geometry import contains_point
from emergency.hub import Hub
from emergency.layers import ALERTS, expires_at
from emergency.metrics import Registry
from emergency.store.base import EventQuery, Store
from mapping.targeting import Area, Circle, TargetIndex, area_contains, parse_area

Location = tuple[float, float]  # (lat, lon), WGS 84 degrees


def alert_message(event: Envelope) -> str:
    """The JSON text a subscriber receives for one alert."""
    return json.dumps({"type": "alert", "alert": to_feature(event)})


def is_active(event: Envelope, now: datetime) -> bool:
    end = expires_at(event)
    return end is None or end > now


def delivery_area(event: Envelope) -> Area | None:
    """Where an alert version is delivered: its circle (geodesic, WGS 84) while the thread has only ever
    covered that circle, else its geometry (the circle's polygon, or the union an Update reaches); None
    when the geometry is not an area."""
    a = event.attributes
    circle = a.get("circle")
    if circle and "cap_area" not in a:
        return Circle(circle["lat"], circle["lon"], circle["radius_km"] * 1000.0)
    try:
        return parse_area(event.geometry)
    except ValueError:
        return None


def covers(event: Envelope, lat: float, lon: float) -> bool:
    """True when the alert's delivery area covers the point (WGS 84 degrees)."""
    area = delivery_area(event)
    return area_contains(area, lat, lon) if area is not None else contains_point(event.geometry, lat, lon)


class AlertPush:
    """Subscribers by location, and delivery of each alert version once to those inside its area."""

    def __init__(self, metrics: Registry, remember: int = 100_000) -> None:
        self.hub: Hub[Location] = Hub()
        self.targets = TargetIndex()  # the same subscribers, indexed by location for alert targeting
        self.metrics = metrics
        self.tiers: dict[WebSocket, frozenset[Tier]] = {}  # the tiers each subscriber chose
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._remember = remember

    async def subscribe(self, ws: WebSocket, lat: float, lon: float, store: Store,
                        tiers: frozenset[Tier] = DEFAULT_TIERS) -> None:
        """Register a subscriber at (lat, lon) (WGS 84 degrees) taking ``tiers``, and send the active alerts
        that cover it and that its tiers take, highest priority first."""
        now = utcnow()
        active = await store.query_events(EventQuery(bbox=(lon, lat, lon, lat), layers=(ALERTS,), active_at=now))
        covering = sorted((e for e in active
                           if delivers(e.category or "", tiers) and covers(e, lat, lon)),
                          key=lambda e: rank(e.category or ""))
        for event in covering:
            await self.hub.deliver(ws, alert_message(event))  # a client that stops reading is closed (1013)
        self.tiers[ws] = tiers
        self.hub.add(ws, (lat, lon))
        self.targets.add_point(ws, lat, lon)
        self.metrics.ws_clients.set(len(self.hub), endpoint="alerts")

    def unsubscribe(self, ws: WebSocket) -> None:
        self.hub.remove(ws)
        self.targets.remove(ws)
        self.tiers.pop(ws, None)
        self.metrics.ws_clients.set(len(self.hub), endpoint="alerts")

    async def on_event(self, topic: str, event: Envelope) -> None:
        """Deliver a newly issued alert (each id + version once) to the subscribers inside it that take its
        tier; an Update/Cancel keeps the tier, so it reaches the same subscribers the original did."""
        if event.kind is not Kind.alert or event.geometry is None or not is_active(event, utcnow()):
            return
        self.push_once((event.id, event.received_at.isoformat()), alert_message(event), tier=event.category or "",
                       area=delivery_area(event), geometry=event.geometry)

    def push_once(self, key: tuple[str, str], text: str, *, tier: str, area: Area | None,
                  geometry: dict) -> int:
        """Queue ``text`` once per ``key`` for the subscribers inside ``area`` (else inside ``geometry``, GeoJSON
        WGS 84 degrees) that take ``tier``; returns how many queued it (0 for a key already pushed)."""
        if key in self._seen:
            return 0
        self._seen[key] = None
        if len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        targets = [ws for ws in self._inside(area, geometry)
                   if ws in self.hub.clients and delivers(tier, self.tiers.get(ws, DEFAULT_TIERS))]
        sent = self.hub.send(targets, text)
        self.metrics.alerts_pushed.inc(sent, tier=tier)
        return sent

    def _inside(self, area: Area | None, geometry: dict) -> list[WebSocket]:
        """Subscribers whose location lies inside or on the boundary of the delivery area."""
        if area is None:  # not an area: test each subscriber against the geometry as it is
            return [ws for ws, (lat, lon) in list(self.hub.clients.items())
                    if contains_point(geometry, lat, lon)]
        return self.targets.query(area)
