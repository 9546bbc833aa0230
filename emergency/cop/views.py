"""Public read API of the picture (GeoJSON) and the live delta socket ``WS /ws/cop``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, WebSocket, WebSocketDisconnect

from emergency.cop.features import feature_collection, to_feature
from emergency.layers import ALERTS, REPORTS, ROAD_CLOSURES
from emergency.events import utcnow
from emergency.store.base import EventQuery
from emergency.timebounds import QueryTime

router = APIRouter(tags=["common operating picture"])


def parse_bbox(raw: str | None) -> tuple[float, float, float, float] | None:
    """``minlon,minlat,maxlon,maxlat`` (WGS 84 degrees) -> tuple; 422 naming ``bbox`` when wrong."""
    if raw is None:
        return None
    parts = raw.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4:
        raise HTTPException(422, "bbox: expected four numbers minlon,minlat,maxlon,maxlat")
    minx, miny, maxx, maxy = values
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise HTTPException(422, "bbox: needs -180 <= minlon <= maxlon <= 180 and -90 <= minlat <= maxlat <= 90")
    return values  # type: ignore[return-value]


def _split(values: list[str] | None) -> tuple[str, ...]:
    return tuple(v.strip() for raw in values or [] for v in raw.split(",") if v.strip())


async def _layer(request: Request, layer: str, *, bbox: str | None, since: datetime | None,
                 until: datetime | None, category: list[str] | None, kind: list[str] | None,
                 active_only: bool, limit: int) -> dict[str, Any]:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise HTTPException(422, f"{name}: needs a timezone, e.g. 2026-11-27T10:00:00Z")
    query = EventQuery(bbox=parse_bbox(bbox), since=since, until=until, categories=_split(category),
                       kinds=_split(kind), layers=(layer,), active_at=utcnow() if active_only else None, limit=limit)
    events = await request.app.state.runtime.store.query_events(query)
    return feature_collection(events)


@router.get("/api/v1/reports")
async def reports(request: Request, bbox: str | None = Query(None, description="minlon,minlat,maxlon,maxlat"),
                  since: QueryTime | None = None, until: QueryTime | None = None,
                  category: list[str] | None = Query(None), kind: list[str] | None = Query(None),
                  limit: int = Query(5000, ge=1, le=50_000)) -> dict[str, Any]:
    """Citizen reports and mapped social posts as a GeoJSON FeatureCollection (WGS 84)."""
    return await _layer(request, REPORTS, bbox=bbox, since=since, until=until, category=category, kind=kind,
                        active_only=False, limit=limit)


@router.get("/api/v1/road-closures")
async def road_closures(request: Request, bbox: str | None = Query(None), active: bool = True,
                        limit: int = Query(5000, ge=1, le=50_000)) -> dict[str, Any]:
    """Road closures (current ones unless ``active=false``) as GeoJSON LineStrings."""
    return await _layer(request, ROAD_CLOSURES, bbox=bbox, since=None, until=None, category=None, kind=None,
                        active_only=active, limit=limit)


@router.get("/api/v1/alerts")
async def alerts(request: Request, bbox: str | None = Query(None), active: bool = True,
                 limit: int = Query(1000, ge=1, le=10_000)) -> dict[str, Any]:
    """Issued alerts (active ones unless ``active=false``) with their areas as polygons."""
    return await _layer(request, ALERTS, bbox=bbox, since=None, until=None, category=None, kind=None,
                        active_only=active, limit=limit)


@router.get("/api/v1/events/{event_id}")
async def event(event_id: str, request: Request) -> dict[str, Any]:
    """One event of the picture as a GeoJSON Feature."""
    found = await request.app.state.runtime.store.get_event(event_id)
    if found is None:
        raise HTTPException(404, f"event_id: no event {event_id!r} in the picture")
    return to_feature(found)


@router.websocket("/ws/cop")
async def cop_socket(ws: WebSocket) -> None:
    """Live deltas: ``{"type": "upsert", "layer": ..., "feature": {...}}`` for every change."""
    await ws.accept()
    live = ws.app.state.runtime.cop_live
    live.connect(ws)
    try:
        while True:
            await ws.receive_text()
    except WebSocketDisconnect:
        pass
    finally:
        live.disconnect(ws)
