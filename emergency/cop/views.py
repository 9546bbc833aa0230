"""Public read API of the picture (GeoJSON), its change sequence, and the live socket ``WS /ws/cop``.

One read route per layer of the registry (``emergency/layers.py``), at ``Layer.path``: newest
first, with ``seq`` (head of the change sequence when read), ``total``, ``returned``,
``truncated`` and ``next`` (keyset-paged, also as a ``Link: rel="next"`` header).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request, Response, WebSocket, WebSocketDisconnect

from emergency.cop.features import change, stored_feature, to_feature
from emergency.events import utcnow
from emergency.layers import REGISTRY, Layer
from emergency.store.base import MAX_SEQ, Cursor, EventQuery
from emergency.timebounds import QueryTime

router = APIRouter(tags=["common operating picture"])

CHANGES_PATH = "/api/v1/changes"
BBOX_PATTERN = r"^-?\d+(\.\d+)?(,-?\d+(\.\d+)?){3}$"  # documented form; parse_bbox decides
BBOX_DOC = ("four comma-separated numbers `minlon,minlat,maxlon,maxlat` (WGS 84 degrees, "
            "-180 <= minlon <= maxlon <= 180, -90 <= minlat <= maxlat <= 90); 422 naming `bbox` otherwise")


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


def encode_cursor(cursor: Cursor) -> str:
    """The opaque ``before`` value of a next link."""
    raw = f"{cursor.observed_at.isoformat()}|{cursor.seq}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_cursor(raw: str | None) -> Cursor | None:
    """Inverse of ``encode_cursor``; 422 naming ``before`` when it is not one."""
    if raw is None:
        return None
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        observed, seq = text.split("|")
        at = datetime.fromisoformat(observed)
        if at.tzinfo is None or not 0 <= int(seq) <= MAX_SEQ:
            raise ValueError
        return Cursor(at, int(seq))
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise HTTPException(422, "before: is not a cursor from a next link of this route") from None


def _split(values: list[str] | None) -> tuple[str, ...]:
    return tuple(v.strip() for raw in values or [] for v in raw.split(",") if v.strip())


def _next_url(request: Request, **replace: str) -> str:
    """This request's path and query with ``replace`` set (relative: it resolves against the request URL)."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in replace] + list(replace.items())
    return f"{request.url.path}?{urlencode(params)}"


def _link(response: Response, url: str | None) -> None:
    if url is not None:
        response.headers["Link"] = f'<{url}>; rel="next"'


def layer_route(layer: Layer) -> Callable[..., Awaitable[dict[str, Any]]]:
    """The read route of one layer: its items newest first as a GeoJSON FeatureCollection (WGS 84)."""

    async def read(request: Request, response: Response,
                   bbox: str | None = Query(None, description=BBOX_DOC, examples=["-122.70,45.49,-122.62,45.54"],
                                            json_schema_extra={"pattern": BBOX_PATTERN}),
                   since: QueryTime | None = Query(None, description="observed at or after (ISO 8601 with zone)"),
                   until: QueryTime | None = Query(None, description="observed at or before (ISO 8601 with zone)"),
                   category: list[str] | None = Query(None), kind: list[str] | None = Query(None),
                   active: bool = Query(layer.active_by_default,
                                        description="only items whose end or expiry has not passed"),
                   limit: int = Query(layer.default_limit, ge=1, le=layer.max_limit,
                                      description="items per page, newest first"),
                   before: str | None = Query(None, description="opaque cursor from the `next` link")) -> dict[str, Any]:
        for name, value in (("since", since), ("until", until)):
            if value is not None and value.tzinfo is None:
                raise HTTPException(422, f"{name}: needs a timezone, e.g. 2026-11-27T10:00:00Z")
        query = EventQuery(bbox=parse_bbox(bbox), since=since, until=until, categories=_split(category),
                           kinds=_split(kind), layers=(layer.name,), active_at=utcnow() if active else None,
                           limit=limit, before=parse_cursor(before))
        page = await request.app.state.runtime.store.read_events(query)
        next_url = _next_url(request, before=encode_cursor(page.items[-1].cursor)) if page.more else None
        _link(response, next_url)
        features = [stored_feature(item) for item in page.items]
        return {"type": "FeatureCollection", "features": features, "seq": page.head, "total": page.total,
                "returned": len(features), "truncated": page.more, "next": next_url}

    read.__name__ = f"read_{layer.name}"
    read.__doc__ = (f"{layer.description or layer.title}: a GeoJSON FeatureCollection (WGS 84), newest first, "
                    f"with `seq`, `total`, `returned`, `truncated` and `next` (older items; also a Link header).")
    return read


for _layer in REGISTRY.values():
    router.add_api_route(_layer.path, layer_route(_layer), methods=["GET"], name=_layer.name,
                         summary=_layer.title)


@router.get(CHANGES_PATH)
async def changes(request: Request, response: Response,
                  after: int = Query(0, ge=0, le=MAX_SEQ, description="the last seq the client holds"),
                  limit: int = Query(1000, ge=1, le=10_000)) -> dict[str, Any]:
    """Every change to the picture after ``after``, seq ascending, each id once (its latest state)."""
    store = request.app.state.runtime.store
    head = await store.head_seq()
    items = await store.changes_after(after, limit + 1, upto=head)
    truncated = len(items) > limit
    items = items[:limit]
    next_url = _next_url(request, after=str(items[-1].seq)) if truncated else None
    _link(response, next_url)
    return {"seq": head, "changes": [change(item) for item in items], "truncated": truncated, "next": next_url}


@router.get("/api/v1/events/{event_id}")
async def event(event_id: str, request: Request) -> dict[str, Any]:
    """One event of the picture as a GeoJSON Feature."""
    found = await request.app.state.runtime.store.get_event(event_id)
    if found is None:
        raise HTTPException(404, f"event_id: no event {event_id!r} in the picture")
    return to_feature(found)


@router.websocket("/ws/cop")
async def cop_socket(ws: WebSocket) -> None:
    """Live changes: a ``hello`` with the head seq, the changes after ``after`` (if given), then every new one."""
    await ws.accept()
    raw = ws.query_params.get("after")
    try:
        after = int(raw) if raw is not None else None
        if after is not None and not 0 <= after <= MAX_SEQ:
            raise ValueError
    except ValueError:
        await ws.close(code=1008, reason=f"after: must be a seq (an integer >= 0), got {raw!r}"[:120])
        return
    live = ws.app.state.runtime.cop_live
    try:
        await live.attach(ws, after)
        while True:
            await ws.receive_text()
    except (WebSocketDisconnect, OSError, RuntimeError):  # the client left (possibly while its backlog was sent)
        pass
    finally:
        live.disconnect(ws)
