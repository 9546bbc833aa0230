"""Stream adapters against local servers that speak the real protocols, fed with recorded data:
Bluesky Jetstream over WebSocket (the real capture), Mastodon over SSE and WebSocket with REST
back-fill. Each server drops the connection mid-stream once: no post is lost or duplicated."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route
from websockets.asyncio.server import serve

from emergency.stream.broker import free_port
from feeds.social.adapters.base import Backoff
from feeds.social.adapters.jetstream import JetstreamAdapter, parse_event
from feeds.social.adapters.mastodon import MastodonAdapter, html_to_text, parse_status

FIXTURES = Path(__file__).parent / "fixtures" / "social"
CAPTURE = [line for line in (FIXTURES / "jetstream_v1_capture_2026-07-04.jsonl").read_text().splitlines() if line]
STATUSES = json.loads((FIXTURES / "mastodon_statuses.json").read_text())
FAST = dict(backoff=Backoff(initial_s=0.01, max_s=0.05))


def expected_bluesky_ids() -> list[str]:
    ids = []
    for line in CAPTURE:
        post = parse_event(json.loads(line))
        if post is not None:
            ids.append(post.id)
    return ids


async def collect(agen, n: int, timeout: float = 20) -> list:
    out = []

    async def run():
        async for post in agen:
            out.append(post)
            if len(out) >= n:
                return

    try:
        await asyncio.wait_for(run(), timeout)
    finally:
        await agen.aclose()
    return out


def test_jetstream_events_parse_into_posts_and_reposts():
    posts = [p for p in (parse_event(json.loads(line)) for line in CAPTURE) if p is not None]
    assert len(posts) == 32  # 17 post creates + 15 repost creates in the capture
    reposts = [p for p in posts if p.repost_of]
    assert len(reposts) == 15 and all(p.text == "" and p.repost_of.startswith("at://") for p in reposts)
    first = next(p for p in posts if p.links)
    assert first.source == "bluesky" and first.author.startswith("did:plc:") and first.lang == "en"
    assert first.links[0].startswith("https://www.youtube.com/")
    assert first.created_at is not None and first.created_at.tzinfo is not None


def jetstream_handler(connections: list[dict], state: dict | None = None, *, drop_after: int | None = None):
    """A Jetstream server over the capture: honours ``cursor`` (time_us, inclusive) and
    ``wantedCollections``, sends the capture's lines up to ``state["upto"]`` as they become
    available (all by default), then one malformed line; the first connection dies after
    ``drop_after`` sends when given. Each connection's query goes to ``connections``."""
    state = state if state is not None else {"upto": len(CAPTURE)}

    async def handler(ws):
        query = parse_qs(urlsplit(ws.request.path).query)
        connections.append(query)
        cursor = int(query["cursor"][0]) if "cursor" in query else None
        wanted = set(query.get("wantedCollections", []))
        first, sent, i, ended = len(connections) == 1, 0, 0, False
        while True:
            while i < min(state["upto"], len(CAPTURE)):
                line, i = CAPTURE[i], i + 1
                event = json.loads(line)
                if cursor is not None and event["time_us"] < cursor:
                    continue
                if wanted and event.get("kind") == "commit" and event["commit"]["collection"] not in wanted:
                    continue
                if first and sent == drop_after:
                    ws.transport.abort()  # the connection dies mid-stream, no close frame
                    return
                await ws.send(line)
                sent += 1
            if i == len(CAPTURE) and not ended:
                await ws.send("{not json")
                ended = True
            try:  # like a live stream: stay open, look for more lines now and then
                await asyncio.wait_for(ws.wait_closed(), 0.02)
                return
            except TimeoutError:
                pass

    return handler


async def test_jetstream_resumes_from_its_cursor_after_a_drop_without_loss_or_duplicates():
    connections: list[dict] = []
    handler = jetstream_handler(connections, drop_after=12)

    port = free_port()
    async with serve(handler, "127.0.0.1", port):
        adapter = JetstreamAdapter(f"ws://127.0.0.1:{port}/subscribe", **FAST)
        expected = expected_bluesky_ids()
        posts = await collect(adapter.posts(), len(expected))
        await asyncio.sleep(0.2)
    assert sorted(p.id for p in posts) == sorted(expected)
    assert len(connections) == 2 and "cursor" in connections[1]
    assert connections[0]["wantedCollections"] == ["app.bsky.feed.post", "app.bsky.feed.repost"]
    assert adapter.stats.reconnects == 1 and adapter.stats.skipped.get("already yielded", 0) > 0


def mastodon_app(state: dict) -> Starlette:
    """Streaming (SSE) and timeline endpoints of a Mastodon instance over ``state["statuses"]``."""

    async def stream(request: Request):
        state["stream_connections"] += 1
        first = state["stream_connections"] == 1
        start = state["live_from"]

        async def body():
            yield b":)\n\n"
            for i, status in enumerate(STATUSES[start:], start):
                if first and i == state["drop_at"]:
                    state["live_from"] = state["resume_at"]  # statuses in between arrive while we are away
                    raise ConnectionResetError("dropped mid-stream")
                yield b"event: update\n"
                yield b"data: " + json.dumps(status).encode() + b"\n\n"
                yield b":thump\n\n"
            yield b"event: delete\ndata: 12345\n\n"
            yield b"event: update\ndata: {broken\n\n"
            await asyncio.sleep(30)

        return StreamingResponse(body(), media_type="text/event-stream")

    async def timeline(request: Request):
        state["backfills"].append(dict(request.query_params))
        min_id = int(request.query_params.get("min_id", 0))
        limit = int(request.query_params.get("limit", 20))
        newer = [s for s in STATUSES[:state["resume_at"]] if int(s["id"]) > min_id][:limit]
        return JSONResponse(newer[::-1])  # Mastodon answers newest first

    return Starlette(routes=[Route("/api/v1/streaming/public", stream), Route("/api/v1/timelines/public", timeline)])


async def serve_app(app) -> tuple[uvicorn.Server, asyncio.Task, int]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    return server, task, port


def expected_mastodon_ids() -> list[str]:
    """Every post id once, in stream order (a boost repeats the boosted status, which counts once)."""
    return list(dict.fromkeys(p.id for s in STATUSES for p in parse_status(s)))


async def test_mastodon_sse_backfills_after_a_drop_without_loss_or_duplicates():
    state = {"stream_connections": 0, "live_from": 0, "drop_at": 3, "resume_at": 6, "backfills": []}
    server, task, port = await serve_app(mastodon_app(state))
    try:
        adapter = MastodonAdapter(f"http://127.0.0.1:{port}", **FAST)
        expected = expected_mastodon_ids()
        posts = await collect(adapter.posts(), len(expected))
    finally:
        server.should_exit = True
        await task
    assert [p.id for p in posts] == expected  # in order, each once
    assert state["backfills"] and state["backfills"][0]["min_id"] == STATUSES[2]["id"]
    assert posts[0].text.startswith("Tree down across SE Hawthorne Blvd at 20th") and posts[0].tags == ["pdxstorm"]
    boost = posts[-1]
    assert boost.repost_of == STATUSES[0]["id"] and boost.author == "user9@social.example"
    assert adapter.stats.skipped.get("already yielded") == 1  # the boosted status was seen before


async def test_mastodon_websocket_stream():
    async def handler(ws):
        for status in STATUSES[:4]:
            await ws.send(json.dumps({"stream": ["public"], "event": "update", "payload": json.dumps(status)}))
        await ws.send(json.dumps({"stream": ["public"], "event": "delete", "payload": "1"}))
        await ws.send("not json")
        await ws.wait_closed()

    port = free_port()
    async with serve(handler, "127.0.0.1", port):
        adapter = MastodonAdapter(f"http://127.0.0.1:{port}", transport="websocket", **FAST)
        posts = await collect(adapter.posts(), 4)
    assert [p.id for p in posts] == [s["id"] for s in STATUSES[:4]]
    assert posts[3].lang == "en" and "&" in posts[3].text and "<p>" not in posts[3].text


def test_html_to_text_keeps_words_and_drops_markup():
    text = html_to_text(STATUSES[7]["content"])
    assert text == "Power outage in Sunnyside, whole street dark https://www.example.org/outage"
    assert html_to_text("<p>a<br>b</p><p>c</p>") == "a\nb\nc"


TWEETS = (FIXTURES / "twitter_filtered_stream.jsonl").read_text().splitlines()


def test_twitter_lines_parse_with_geo_places_and_references():
    from feeds.social.adapters.twitter import parse_line

    posts = [parse_line(json.loads(line)) for line in TWEETS if line]
    by_text = {p.text.split()[0]: p for p in posts}
    assert by_text["Water"].lon == -122.6707 and by_text["Water"].lat == 45.5152
    assert by_text["Power"].place_name == "Portland, OR" and by_text["Power"].lat is None
    assert by_text["RT"].repost_of == "1860000000000000001"
    assert by_text["Tree"].tags == ["pdxstorm"] and by_text["Tree"].author == "person1"
    assert by_text["Tree"].profile_location == "Portland, OR"
    assert by_text["Shelter"].links == ["https://example.org/shelters"]


async def test_twitter_stream_reconnects_with_backfill_without_loss_or_duplicates():
    from feeds.social.adapters.twitter import TwitterStreamAdapter

    state = {"connections": []}

    async def stream(request: Request):
        state["connections"].append(dict(request.query_params))
        first = len(state["connections"]) == 1

        async def body():
            lines = TWEETS[:4] if first else TWEETS[2:]  # the backfill repeats what was sent before the drop
            for line in lines:
                yield (line + "\r\n").encode()
            if first:
                raise ConnectionResetError("dropped mid-stream")
            yield b"{broken\r\n"
            yield b"\r\n"
            await asyncio.sleep(30)

        return StreamingResponse(body(), media_type="application/json")

    server, task, port = await serve_app(Starlette(routes=[Route("/2/tweets/search/stream", stream)]))
    try:
        adapter = TwitterStreamAdapter(f"http://127.0.0.1:{port}/2/tweets/search/stream", "t0ken", **FAST)
        posts = await collect(adapter.posts(), 6)
    finally:
        server.should_exit = True
        await task
    assert [p.id[-1] for p in posts] == ["1", "2", "3", "4", "5", "6"]
    assert "backfill_minutes" not in state["connections"][0] and state["connections"][1]["backfill_minutes"] == "5"
    assert adapter.stats.skipped["already yielded"] == 2
