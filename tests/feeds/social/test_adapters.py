"""Stream adapters against local servers that speak the real protocols, fed with recorded data:
Bluesky Jetstream over WebSocket (the real capture), Mastodon over SSE and WebSocket with REST
back-fill. Each server drops the connection mid-stream once: no post is lost or duplicated."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from websockets.asyncio.server import serve

from emergency.config import Settings
from emergency.stream.broker import free_port
from feeds.social.adapters.base import Backoff
from feeds.social.adapters.jetstream import JetstreamAdapter, parse_event
from feeds.social.adapters.mastodon import MastodonAdapter, html_to_text, parse_status
from feeds.social.streams import StreamSpec, make_adapter
from tests.conftest import eventually

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "social"
CAPTURE = [line for line in (FIXTURES / "jetstream_v1_capture_2026-07-04.jsonl").read_text().splitlines() if line]
STATUSES = json.loads((FIXTURES / "mastodon_statuses.json").read_text())
FAST = dict(backoff=Backoff(initial_s=0.01, max_s=0.05))
TOKEN = "s3cret-mastodon-token"


class LogLines(logging.Handler):
    """The messages logged under ``feeds.social`` while a test runs."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def log_lines():
    handler, logger = LogLines(), logging.getLogger("feeds.social")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


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


def refused(state: dict, request: Request) -> JSONResponse | None:
    """Mastodon's answer when ``state["token"]`` is set and the request does not carry it as a bearer token."""
    token = state.get("token")
    if token is None or request.headers.get("authorization") == f"Bearer {token}":
        return None
    state["refused"] = state.get("refused", 0) + 1
    return JSONResponse({"error": "The access token is invalid"}, status_code=401)


def mastodon_app(state: dict) -> Starlette:
    """Streaming (SSE) and timeline endpoints of a Mastodon instance over ``state["statuses"]``
    (default ``STATUSES``); with ``state["token"]`` both need it (``Authorization: Bearer``), else 401."""

    async def stream(request: Request):
        if (denied := refused(state, request)) is not None:
            return denied
        state["stream_connections"] += 1
        first = state["stream_connections"] == 1
        start = state["live_from"]
        statuses = state.get("statuses", STATUSES)

        async def body():
            yield b":)\n\n"
            for i, status in enumerate(statuses[start:], start):
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
        if (denied := refused(state, request)) is not None:
            return denied
        state["backfills"].append(dict(request.query_params))
        min_id = int(request.query_params.get("min_id", 0))
        limit = int(request.query_params.get("limit", 20))
        newer = [s for s in state.get("statuses", STATUSES)[:state["resume_at"]] if int(s["id"]) > min_id][:limit]
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


async def test_mastodon_access_token_is_sent_on_sse_and_backfill_and_a_refusal_is_reported(log_lines):
    state = {"stream_connections": 0, "live_from": 0, "drop_at": -1, "resume_at": len(STATUSES), "backfills": [],
             "token": TOKEN}
    server, task, port = await serve_app(mastodon_app(state))
    spec = StreamSpec("mastodon", f"http://127.0.0.1:{port}/api/v1/streaming/public")
    try:
        for token, why in [("", "requires an access token"), ("not-the-token", "refused the access token")]:
            state["refused"] = 0
            adapter = make_adapter(spec, Settings(mastodon_access_token=token))
            adapter.backoff, adapter.max_reconnects = Backoff(initial_s=0.01, max_s=0.05), 2
            assert await collect(adapter.posts(), 1) == []  # gives up after max_reconnects: no post, no crash
            assert adapter.stats.last_error == f"HTTP 401: the instance {why} (EMERGENCY_MASTODON_ACCESS_TOKEN " \
                                               "or --access-token)"
            assert state["refused"] == 3 and adapter.stats.reconnects == 3
            assert adapter.backoff.attempt == 2  # each retry waited a growing delay: never reset by a refusal
        assert any("requires an access token" in m for m in log_lines.messages)
        assert not any("not-the-token" in m for m in log_lines.messages)  # a token never reaches the log

        # with the token: the REST back-fill after the cursor, then the stream, both authorised
        adapter = make_adapter(spec, Settings(mastodon_access_token=TOKEN), cursor=STATUSES[3]["id"])
        adapter.backoff = Backoff(initial_s=0.01, max_s=0.05)
        expected = expected_mastodon_ids()
        posts = await collect(adapter.posts(), len(expected))
    finally:
        server.should_exit = True
        await task
    assert sorted(p.id for p in posts) == sorted(expected)  # every post once
    assert state["backfills"][0]["min_id"] == STATUSES[3]["id"] and state["stream_connections"] == 1
    assert adapter.stats.last_error is None and not any(TOKEN in m for m in log_lines.messages)


async def test_mastodon_websocket_sends_the_access_token_as_a_bearer_header():
    upgrades: list[dict] = []

    def check(connection, request):
        upgrades.append({"authorization": request.headers.get("Authorization"), "path": request.path})
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return connection.respond(HTTPStatus.UNAUTHORIZED, "The access token is invalid\n")
        return None

    async def handler(ws):
        for status in STATUSES[:2]:
            await ws.send(json.dumps({"stream": ["public"], "event": "update", "payload": json.dumps(status)}))
        await ws.wait_closed()

    port = free_port()
    async with serve(handler, "127.0.0.1", port, process_request=check):
        spec = StreamSpec("mastodon", f"ws://127.0.0.1:{port}/api/v1/streaming?stream=public")
        refused = make_adapter(spec, Settings())
        refused.backoff, refused.max_reconnects = Backoff(initial_s=0.01, max_s=0.05), 1
        assert await collect(refused.posts(), 1) == []
        assert refused.stats.last_error.startswith("HTTP 401: the instance requires an access token")
        adapter = make_adapter(spec, Settings(mastodon_access_token=TOKEN))
        posts = await collect(adapter.posts(), 2)
    assert [p.id for p in posts] == [s["id"] for s in STATUSES[:2]]
    assert upgrades[-1] == {"authorization": f"Bearer {TOKEN}", "path": "/api/v1/streaming?stream=public"}  # not in the URL


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


def twitter_timeline(state: dict, count: int) -> None:
    """Post the next ``count`` fixture tweets now: each is stamped ``created_at`` = now (UTC)."""
    lines = [line for line in TWEETS if line]
    for line in lines[len(state["timeline"]):len(state["timeline"]) + count]:
        doc = json.loads(line)
        now = datetime.now(UTC)
        doc["data"]["created_at"] = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        state["timeline"].append((now, json.dumps(doc)))


def twitter_app(state: dict) -> Starlette:
    """The filtered-stream endpoint over ``state["timeline"]`` (see ``twitter_timeline``): a
    connection gets the tweets posted from then on, preceded by those of the last
    ``backfill_minutes`` when asked (1-5, else 400), with keep-alive blank lines; connection number
    ``state["drop_on"]`` dies after ``state["drop_after"]`` tweets."""

    async def stream(request: Request):
        query = dict(request.query_params)
        state["connections"].append(query)
        number = len(state["connections"])
        minutes = int(query.get("backfill_minutes", 0))
        if "backfill_minutes" in query and not 1 <= minutes <= 5:
            return JSONResponse({"title": "Invalid Request"}, status_code=400)
        since = datetime.now(UTC) - timedelta(minutes=minutes)
        start = len(state["timeline"]) if not minutes else \
            next((i for i, (at, _) in enumerate(state["timeline"]) if at >= since), len(state["timeline"]))

        async def body():
            i, sent = start, 0
            while True:
                while i < len(state["timeline"]):
                    if number == state.get("drop_on") and sent == state.get("drop_after"):
                        raise ConnectionResetError("dropped mid-stream")
                    yield (state["timeline"][i][1] + "\r\n").encode()
                    i, sent = i + 1, sent + 1
                yield b"\r\n"
                await asyncio.sleep(0.02)

        return StreamingResponse(body(), media_type="application/json")

    return Starlette(routes=[Route("/2/tweets/search/stream", stream)])


TWEET_IDS = [json.loads(line)["data"]["id"] for line in TWEETS if line]


async def test_twitter_stream_reconnects_with_backfill_without_loss_or_duplicates():
    from feeds.social.adapters.twitter import TwitterStreamAdapter

    # the connection dies after 4 tweets; the last 2 are posted before the client is back
    state = {"connections": [], "timeline": [], "drop_on": 1, "drop_after": 4}
    server, task, port = await serve_app(twitter_app(state))
    try:
        adapter = TwitterStreamAdapter(f"http://127.0.0.1:{port}/2/tweets/search/stream", "t0ken", **FAST)
        posts = asyncio.create_task(collect(adapter.posts(), len(TWEET_IDS)))
        await eventually(lambda: len(state["connections"]) == 1)
        twitter_timeline(state, len(TWEET_IDS))
        posts = await posts
    finally:
        server.should_exit = True
        await task
    assert [p.id for p in posts] == TWEET_IDS  # in order, each once
    assert "backfill_minutes" not in state["connections"][0]  # nothing seen yet: nothing to recover
    assert state["connections"][1]["backfill_minutes"] == "1"  # the last tweet is seconds old
    assert adapter.stats.skipped["already yielded"] == 4  # the backfill replays them, they are skipped
    assert adapter.checkpoint()["recent"] == TWEET_IDS


def test_twitter_backfill_minutes_follow_the_checkpoint_age_and_stop_past_five(log_lines):
    from feeds.social.adapters.twitter import TwitterStreamAdapter

    clock = {"now": datetime(2026, 11, 27, 10, 0, tzinfo=UTC)}
    adapter = TwitterStreamAdapter("http://127.0.0.1:1/2/tweets/search/stream", now=lambda: clock["now"])
    assert adapter.backfill_minutes() is None and adapter.checkpoint() is None  # a first start is live only
    adapter.restore({"created_at": "2026-11-27T09:59:50+00:00", "recent": ["7"]})
    assert adapter.backfill_minutes() == 1 and adapter.checkpoint() == {
        "created_at": "2026-11-27T09:59:50+00:00", "recent": ["7"]}
    assert not adapter.seen.first_time("7")  # a replayed id is dropped
    clock["now"] = datetime(2026, 11, 27, 10, 2, 31, tzinfo=UTC)
    assert adapter.backfill_minutes() == 3  # rounded up: nothing of the gap is left out
    clock["now"] = datetime(2026, 11, 27, 10, 4, 50, tzinfo=UTC)
    assert adapter.backfill_minutes() == 5
    assert not log_lines.messages
    clock["now"] = datetime(2026, 11, 27, 10, 5, 1, tzinfo=UTC)
    assert adapter.backfill_minutes() is None  # the API cannot go back further: say so
    assert "tweets in between may be missing" in log_lines.messages[-1]


@pytest.mark.parametrize("network,path", [("jetstream", "/subscribe"), ("mastodon", "/api/v1/streaming/public"),
                                          ("twitter", "/2/tweets/search/stream")])
async def test_every_adapter_records_why_its_connection_failed(network, path):
    """Jetstream and Twitter used to leave ``last_error`` empty (null in /api/v1/social/streams)."""
    async def unavailable(request):
        return PlainTextResponse("down for maintenance", status_code=503)

    async def refuse_upgrade(websocket):
        await websocket.close(code=1011)  # before accept: the server answers the upgrade with HTTP 403

    app = Starlette(routes=[Route(path, unavailable), WebSocketRoute("/ws" + path, refuse_upgrade)])
    server, task, port = await serve_app(app)
    try:
        scheme = "ws" if network == "jetstream" else "http"
        prefix = "/ws" if network == "jetstream" else ""
        adapter = make_adapter(StreamSpec(network, f"{scheme}://127.0.0.1:{port}{prefix}{path}"),
                               Settings(twitter_bearer_token="t0ken"))
        adapter.backoff, adapter.max_reconnects = Backoff(initial_s=0.01, max_s=0.05), 1
        assert await collect(adapter.posts(), 1) == []
        assert adapter.stats.last_error == ("HTTP 403" if network == "jetstream" else "HTTP 503")
    finally:
        server.should_exit = True
        await task
    closed = make_adapter(StreamSpec(network, f"{scheme}://127.0.0.1:{free_port()}{path}"), Settings())
    closed.backoff, closed.max_reconnects = Backoff(initial_s=0.01, max_s=0.05), 1
    assert await collect(closed.posts(), 1) == []
    assert closed.stats.last_error.startswith("connection lost: ")  # nothing listens there
