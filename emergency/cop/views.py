"""Public read API of the picture (GeoJSON), its change sequence, and the live socket ``WS /ws/cop``.

One read route per layer of the registry (``emergency/layers.py``), at ``Layer.path``: newest
first, with ``seq`` (head of the change sequence when read), ``total``, ``returned``,
``truncated`` and ``next`` (keyset-paged, also as a ``Link: rel="next"`` header).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, WebSocket, WebSocketDisconnect

from emergency.auth.deps import optional_principal
from emergency.auth.models import TokenRecord
from emergency.cop.export import MEDIA_TYPES, ExportFormat, export_layer
from emergency.cop.features import change, stored_feature, to_feature
from emergency.cop.history import picture_answer, picture_at
from emergency.cop.reads import FULL_READ_ROLES, ReadBudget, check_page_size, client_key
from emergency.events import utcnow
from emergency.hub import read_until_closed
from emergency.layers import REGISTRY, Layer
from emergency.store.base import MAX_SEQ, Cursor, EventQuery, StoredEvent
from emergency.timebounds import QueryTime

router = APIRouter(tags=["common operating picture"])

CHANGES_PATH = "/api/v1/changes"
BBOX_PATTERN = r"^-?\d+(\.\d+)?(,-?\d+(\.\d+)?){3}$"  # documented form; parse_bbox decides
BBOX_DOC = ("four comma-separated numbers `minlon,minlat,maxlon,maxlat` (WGS 84 degrees, "
            "-180 <= minlon <= maxlon <= 180, -90 <= minlat <= maxlat <= 90); 422 naming `bbox` otherwise")
CHANGES_MAX_LIMIT = 10_000


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


FEATURES_PER_CHUNK = 100  # features encoded per json.dumps call, so the encoding thread lets the loop run in between


def _budget(request: Request) -> ReadBudget:
    """This app's read budget and read slots (made from the runtime's settings on first use)."""
    state = request.app.state
    if getattr(state, "read_budget", None) is None:
        settings = state.runtime.settings
        state.read_budget = ReadBudget(anonymous=settings.read_budget, authenticated=settings.read_budget_authenticated,
                                       concurrency=settings.read_concurrency)
    return state.read_budget


async def allow_read(request: Request, *, limit: int, layer_max: int, principal: TokenRecord | None) -> None:
    """Refuse a page larger than the caller may ask for (422 naming ``limit``) or one beyond its read
    budget (429 with Retry-After); otherwise count ``limit`` against that budget."""
    check_page_size(limit=limit, layer_max=layer_max, anon_max=request.app.state.runtime.settings.anon_max_limit,
                    principal=principal)
    address = request.client.host if request.client else None
    overdrawn = await _budget(request).spend(client=client_key(principal=principal, address=address), items=limit,
                                             authenticated=principal is not None)
    if overdrawn is not None:
        raise HTTPException(429, overdrawn.detail(), headers={"Retry-After": str(overdrawn.retry_after_s)})


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def encode_collection(meta: dict[str, Any], items: list[StoredEvent]) -> bytes:
    """``meta`` with the public features of ``items`` as ``features`` (last), as JSON bytes; run off the loop."""
    parts = [_dumps(meta)[:-1], ',"features":[']
    for start in range(0, len(items), FEATURES_PER_CHUNK):
        if start:
            parts.append(",")
        parts.append(",".join(_dumps(stored_feature(item)) for item in items[start:start + FEATURES_PER_CHUNK]))
    parts.append("]}")
    return "".join(parts).encode()


def layer_route(layer: Layer) -> Callable[..., Awaitable[dict[str, Any]]]:
    """The read route of one layer: its items newest first as a GeoJSON FeatureCollection (WGS 84)."""

    async def read(request: Request,
                   bbox: str | None = Query(None, description=BBOX_DOC, examples=["-122.70,45.49,-122.62,45.54"],
                                            json_schema_extra={"pattern": BBOX_PATTERN}),
                   since: QueryTime | None = Query(None, description="observed at or after (ISO 8601 with zone)"),
                   until: QueryTime | None = Query(None, description="observed at or before (ISO 8601 with zone)"),
                   category: list[str] | None = Query(None), kind: list[str] | None = Query(None),
                   status: list[str] | None = Query(None, description="only items whose `status` attribute is one "
                                                    "of these (incidents: unverified, corroborated, verified, "
                                                    "dismissed, duplicate, resolved)"),
                   active: bool = Query(layer.active_by_default,
                                        description="only items whose end or expiry has not passed"),
                   limit: int = Query(layer.default_limit, ge=1, le=layer.max_limit,
                                      description="items per page, newest first"),
                   before: str | None = Query(None, description="opaque cursor from the `next` link"),
                   principal: TokenRecord | None = Depends(optional_principal)) -> dict[str, Any]:
        for name, value in (("since", since), ("until", until)):
            if value is not None and value.tzinfo is None:
                raise HTTPException(422, f"{name}: needs a timezone, e.g. 2026-11-27T10:00:00Z")
        await allow_read(request, limit=limit, layer_max=layer.max_limit, principal=principal)
        query = EventQuery(bbox=parse_bbox(bbox), since=since, until=until, categories=_split(category),
                           kinds=_split(kind), layers=(layer.name,), statuses=_split(status), active_at=utcnow() if active else None,
                           limit=limit, before=parse_cursor(before))
        async with _budget(request).slot():  # a few pages at a time are read and encoded; intake never waits here
            page = await request.app.state.runtime.store.read_events(query)
            next_url = _next_url(request, before=encode_cursor(page.items[-1].cursor)) if page.more else None
            meta = {"type": "FeatureCollection", "seq": page.head, "total": page.total, "returned": len(page.items),
                    "truncated": page.more, "next": next_url}
            body = await asyncio.to_thread(encode_collection, meta, page.items)
        headers = {"Link": f'<{next_url}>; rel="next"'} if next_url is not None else None
        return Response(body, media_type="application/json", headers=headers)  # type: ignore[return-value]

    read.__name__ = f"read_{layer.name}"
    read.__doc__ = (f"{layer.description or layer.title}: a GeoJSON FeatureCollection (WGS 84), newest first, "
                    f"with `seq`, `total`, `returned`, `truncated` and `next` (older items; also a Link header). "
                    f"Without a coordinator or admin token `limit` is at most EMERGENCY_ANON_MAX_LIMIT (5000 by "
                    f"default; larger: 422), and each client may ask for EMERGENCY_READ_BUDGET items per window "
                    f"(beyond it: 429 with Retry-After).")
    return read


def export_route(layer: Layer, fmt: ExportFormat) -> Callable[..., Awaitable[Response]]:
    """The file route of one layer in one format: the read route's filters, newest first, public fields only."""

    async def export(request: Request,
                     bbox: str | None = Query(None, description=BBOX_DOC, json_schema_extra={"pattern": BBOX_PATTERN}),
                     since: QueryTime | None = Query(None, description="observed at or after (ISO 8601 with zone)"),
                     until: QueryTime | None = Query(None, description="observed at or before (ISO 8601 with zone)"),
                     category: list[str] | None = Query(None), kind: list[str] | None = Query(None),
                     status: list[str] | None = Query(None, description="only items whose `status` is one of these"),
                     active: bool = Query(layer.active_by_default,
                                          description="only items whose end or expiry has not passed"),
                     limit: int = Query(layer.default_limit, ge=1, le=layer.max_limit,
                                        description="items in the file, newest first"),
                     principal: TokenRecord | None = Depends(optional_principal)) -> Response:
        await allow_read(request, limit=limit, layer_max=layer.max_limit, principal=principal)
        query = EventQuery(bbox=parse_bbox(bbox), since=since, until=until, categories=_split(category),
                           kinds=_split(kind), statuses=_split(status), active_at=utcnow() if active else None,
                           limit=limit)
        async with _budget(request).slot():
            out = await export_layer(store=request.app.state.runtime.store, layer=layer.name, fmt=fmt, query=query)
        stem = layer.path.rsplit("/", 1)[-1]
        return Response(out.body, media_type=MEDIA_TYPES[fmt], headers={
            "X-Total-Count": str(out.total), "X-Total-Returned": str(out.returned),
            "X-Truncated": "true" if out.truncated else "false",
            "Content-Disposition": f'attachment; filename="{stem}.{fmt.value}"'})

    export.__name__ = f"export_{layer.name}_{fmt.value}"
    export.__doc__ = (f"{layer.title} as {fmt.value.upper()} (WGS 84; CSV geometry as WKT), newest first, with the "
                      f"public properties of `GET {layer.path}` and its filters and limits; headers `X-Total-Count` "
                      f"(items matching), `X-Total-Returned` (in the file) and `X-Truncated` (more matched).")
    return export


for _layer in REGISTRY.values():
    for _fmt in ExportFormat:  # before the read route; distinct paths, so no other route is shadowed
        router.add_api_route(f"{_layer.path}.{_fmt.value}", export_route(_layer, _fmt), methods=["GET"],
                             name=f"{_layer.name}_{_fmt.value}", summary=f"{_layer.title} ({_fmt.value})",
                             response_class=Response,
                             responses={200: {"content": {MEDIA_TYPES[_fmt]: {}}, "description": "the file"}})
    router.add_api_route(_layer.path, layer_route(_layer), methods=["GET"], name=_layer.name,
                         summary=_layer.title)


@router.get(CHANGES_PATH)
async def changes(request: Request, response: Response,
                  after: int = Query(0, ge=0, le=MAX_SEQ, description="the last seq the client holds"),
                  limit: int = Query(1000, ge=1, le=CHANGES_MAX_LIMIT),
                  principal: TokenRecord | None = Depends(optional_principal)) -> dict[str, Any]:
    """Every change to the picture after ``after``, seq ascending, each id once (its latest state). Page sizes
    and read budgets as on the layer routes."""
    await allow_read(request, limit=limit, layer_max=CHANGES_MAX_LIMIT, principal=principal)
    store = request.app.state.runtime.store
    async with _budget(request).slot():
        head = await store.head_seq()
        items = await store.changes_after(after, limit + 1, upto=head)
        truncated = len(items) > limit
        items = items[:limit]
        next_url = _next_url(request, after=str(items[-1].seq)) if truncated else None
        _link(response, next_url)
        answer = {"seq": head, "truncated": truncated, "next": next_url}
        if len(items) <= FEATURES_PER_CHUNK:
            return {**answer, "changes": [change(item) for item in items]}
        body = await asyncio.to_thread(lambda: (_dumps(answer)[:-1] + ',"changes":['
                                                + ",".join(_dumps(change(item)) for item in items) + "]}").encode())
    headers = {"Link": f'<{next_url}>; rel="next"'} if next_url is not None else None
    return Response(body, media_type="application/json", headers=headers)  # type: ignore[return-value]


HISTORY_PATH = "/api/v1/cop"


@router.get(HISTORY_PATH)
async def cop_at(request: Request, at: QueryTime = Query(description="the time (ISO 8601 with zone)")
                 ) -> dict[str, Any]:
    """The picture as it stood at ``at``: one GeoJSON FeatureCollection (WGS 84) per layer, newest first, items
    ended by then left out; rebuilt from the journal in memory (``rebuilt_from_journal``, ``journal_rows_read``),
    starting from a checkpoint of the replay when one fits (``from_checkpoint``, its journal seq, and
    ``journal_rows_replayed``), the live picture untouched. Runs in one of the read slots."""
    runtime = request.app.state.runtime
    s = runtime.settings
    async with _budget(request).slot():
        picture = await picture_at(store=runtime.store, at=at, geocoder=runtime.geocoder,
                                   every=s.history_checkpoint_every, keep=s.history_checkpoint_keep)
        body = await asyncio.to_thread(lambda: _dumps(picture_answer(picture)).encode())
    return Response(body, media_type="application/json")  # type: ignore[return-value]


EVENT_ID_MAX = 400  # longer than any id the system makes (an agency id and a 100-character reference fit)
ECHO_MAX = 60  # at most this much of a path id is echoed in an answer


@router.get("/api/v1/events/{event_id}")
async def event(request: Request, event_id: str = Path(max_length=EVENT_ID_MAX,
                                                       description="the event's id, as in a feature's `id`"),
                principal: TokenRecord | None = Depends(optional_principal)) -> dict[str, Any]:
    """One event of the picture as a GeoJSON Feature; 404 naming ``event_id`` when there is none. A coordinator
    or admin also sees its ``photos`` before they are public."""
    found = await request.app.state.runtime.store.get_event(event_id)
    if found is None:
        more = f"… ({len(event_id)} characters)" if len(event_id) > ECHO_MAX else ""
        raise HTTPException(404, f"event_id: no event {event_id[:ECHO_MAX]!r}{more} in the picture")
    return to_feature(found, full=principal is not None and bool(FULL_READ_ROLES & set(principal.roles)))


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
        await read_until_closed(ws)  # a binary frame closes it with 1003
    except (WebSocketDisconnect, OSError, RuntimeError):  # the client left (possibly while its backlog was sent)
        pass
    finally:
        live.disconnect(ws)
