"""Stream runners inside the system (``EMERGENCY_SOCIAL_STREAMS``) and their durable cursors:
a local server speaking the Jetstream protocol feeds the real capture into a running system;
posts reach the picture through raw.social, rule edits through the API reach the runner at
once, and a restarted system resumes from the stored cursor without loss or duplicates."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from websockets.asyncio.server import serve

from emergency.assembly.runtime import Runtime
from emergency.config import Settings
from emergency.errors import EmergencyError
from emergency.events import Envelope, utcnow
from emergency.store import EventQuery, open_store
from emergency.store.cursors import CURSORS
from emergency.stream.broker import free_port
from feeds.social.adapters.jetstream import parse_event
from feeds.social.adapters.mastodon import parse_status
from feeds.social.pipeline import ClusterPublisher, RulesHolder, SocialPipeline, cluster_event, public_ref
from feeds.social.resume import seed_from_journal
from feeds.social.rules import Rules
from feeds.social.service import store_sink
from feeds.social.streams import StreamRunner, StreamSpec, make_adapter, parse_streams, public_url
from tests.conftest import eventually, make_settings, start_system
from tests.feeds.social.test_adapters import (
    CAPTURE,
    STATUSES,
    TWEET_IDS,
    jetstream_handler,
    mastodon_app,
    serve_app,
    twitter_app,
    twitter_timeline,
)

# operator rules that keep six posts of the (non-crisis) capture; the default lexicon keeps none
RULES = {"keywords": ["show", "government", "election", "mount rushmore", "debunked"], "default_lexicon": False,
         "require_keyword": True}
SPLIT = 70  # the first system sees the capture's first 70 lines, the restarted one the rest
MASTODON = "mastodon=/api/v1/streaming/public"


def test_stream_urls_shown_to_operators_hold_no_credentials():
    assert public_url("https://user:pw@host.example:8443/api/v1/streaming/hashtag?tag=fire&access_token=abc") == \
        "https://host.example:8443/api/v1/streaming/hashtag?tag=fire&access_token=…"
    assert public_url("wss://jetstream.example/subscribe?wantedCollections=app.bsky.feed.post") == \
        "wss://jetstream.example/subscribe?wantedCollections=app.bsky.feed.post"


def test_stream_settings_parse_and_bad_entries_name_the_setting():
    specs = parse_streams("jetstream=wss://js.example/subscribe, mastodon=https://m.example/api/v1/streaming/"
                          "hashtag?tag=a,b,twitter=https://api.example/2/tweets/search/stream")
    assert [s.network for s in specs] == ["jetstream", "mastodon", "twitter"]
    assert specs[1].url == "https://m.example/api/v1/streaming/hashtag?tag=a,b"  # a comma inside a URL stays
    assert parse_streams("") == []
    mastodon = make_adapter(specs[1], Settings())
    assert (mastodon.base_url, mastodon.stream, mastodon.tag, mastodon.transport) == (
        "https://m.example", "hashtag", "a,b", "sse")
    ws = make_adapter(StreamSpec("mastodon", "wss://m.example/api/v1/streaming?stream=public:local"), Settings())
    assert (ws.base_url, ws.stream, ws.transport) == ("https://m.example", "public:local", "websocket")
    for bad, reason in [("bluesky=wss://x/subscribe", "expected NETWORK=URL"), ("jetstream", "expected NETWORK=URL"),
                        ("jetstream=wss://x/subscribe,foo=wss://y", "'foo=wss://y': expected NETWORK=URL"),
                        ("jetstream=https://x/subscribe", "is not a ws/wss URL"),
                        ("jetstream=wss://x/s,jetstream=wss://x/s", "listed twice")]:
        with pytest.raises(EmergencyError, match=reason) as err:
            parse_streams(bad)
        assert str(err.value).startswith("EMERGENCY_SOCIAL_STREAMS: ")


async def test_a_bad_stream_setting_stops_the_runtime_before_it_starts(sqlite_url):
    runtime = Runtime(Settings(store_url=sqlite_url, social_streams="jetstream=ftp://x"))
    with pytest.raises(EmergencyError, match="EMERGENCY_SOCIAL_STREAMS: jetstream"):
        await runtime.start()
    assert runtime.store is None and runtime.broker is None


def expected_clusters(upto: int) -> dict[str, int]:
    """Envelope id -> post count of the clusters one uninterrupted pipeline makes of the capture's
    first ``upto`` lines under ``RULES``."""
    pipeline = SocialPipeline(RulesHolder(Rules.model_validate(RULES), 1))
    for line in CAPTURE[:upto]:
        post = parse_event(json.loads(line))
        if post is not None:
            pipeline.process(post)
    return {cluster_event(c, now=utcnow()).id: c.count for c in pipeline.take_dirty()}


def picture_is(runtime: Runtime, expected: dict[str, int]):
    """A check for ``eventually``: the social items in the picture are ``expected`` (id -> count)."""

    async def check() -> bool:
        events = await runtime.store.query_events(EventQuery(kinds=("social_post",)))
        return {e.id: e.attributes["count"] for e in events} == expected

    return check


def cursor_at(store, name: str, time_us: int):
    """A check for ``eventually``: the stored cursor ``name`` has reached ``time_us``."""

    async def check() -> dict | None:
        raw = await store.repository(CURSORS).get(name)
        return json.loads(raw) if raw and json.loads(raw)["time_us"] == time_us else None

    return check


async def test_the_system_runs_a_configured_stream_and_resumes_from_its_stored_cursor(broker, sqlite_url, tmp_path):
    connections: list[dict] = []
    state = {"upto": 0}  # the server holds the stream back until the rules are set
    port = free_port()
    url = f"ws://127.0.0.1:{port}/subscribe"
    settings = make_settings(broker, sqlite_url, tmp_path, social_streams=f"jetstream={url}",
                             social_rules_poll_s=3600.0, social_flush_s=0.1)  # no polling: only sharing applies a PUT
    async with serve(jetstream_handler(connections, state), "127.0.0.1", port):
        system, task, server = await start_system(settings, broker)
        try:
            [runner] = system.runtime.social_runners
            await eventually(lambda: len(connections) == 1)
            r = await system.http.put("/api/v1/social/rules", json=RULES, headers=system.auth("coordinator"))
            assert r.status_code == 200
            assert runner.holder.current.version == r.json()["version"]  # applied at once, same process
            state["upto"] = SPLIT
            first = expected_clusters(SPLIT)
            assert len(first) == 3
            await eventually(picture_is(system.runtime, first))
            max_sent = max(e["time_us"] for e in map(json.loads, CAPTURE[:SPLIT]) if e.get("kind") != "commit"
                           or e["commit"]["collection"] in ("app.bsky.feed.post", "app.bsky.feed.repost"))
            saved = await eventually(cursor_at(system.runtime.store, runner.spec.cursor_name, max_sent))
            posts_sent = {p.id for p in (parse_event(json.loads(line)) for line in CAPTURE[:SPLIT]) if p}
            # operators see how the stream is doing: the API (coordinator) and /metrics
            assert (await system.http.get("/api/v1/social/streams")).status_code == 401
            r = await system.http.get("/api/v1/social/streams", headers=system.auth("coordinator"))
            [status] = r.json()["streams"]
            assert status["network"] == "jetstream" and status["url"] == url and status["attempts"] == 1
            assert status["posts"] == len(posts_sent) and status["cursor_saved"] and status["last_error"] is None
            assert sum(status["outcomes"].values()) == len(posts_sent) and status["live_clusters"] == len(first)
            assert status["journal"]["journaled"] == len(first)
            metrics = (await system.http.get("/metrics")).text
            assert f'emergency_social_posts_total{{stream="jetstream {url}"}} {len(posts_sent)}' in metrics
            assert f'emergency_social_live_clusters{{stream="jetstream {url}"}} {len(first)}' in metrics
        finally:
            await stop(system, task, server)
        assert {i for _, i in saved["recent"]} == posts_sent  # the whole capture is inside the 5 s rewind

        state["upto"] = len(CAPTURE)
        system, task, server = await start_system(settings, broker)
        try:
            [runner] = system.runtime.social_runners
            everything = expected_clusters(len(CAPTURE))
            assert len(everything) == 6
            await eventually(picture_is(system.runtime, everything))
            assert connections[1]["cursor"] == [str(max_sent - 5_000_000)]  # rewound from the stored cursor
            assert runner.adapter.stats.skipped["already yielded"] == len(posts_sent)  # replayed, not repeated
            assert runner.holder.current.version == 1  # the stored rules, loaded before the first post
            assert (await system.runtime.store.journal_counts()).total == len(everything)  # each cluster once
        finally:
            await stop(system, task, server)


async def stop(system, task, server) -> None:
    await system.http.aclose()
    server.should_exit = True
    await task
    await system.runtime.stop()


@asynccontextmanager
async def local_stream(app, entry: str, store_url: str):
    """Serve ``app`` on a local port and open the store: yields (spec of ``entry``, NETWORK=PATH on
    that server; the store; StreamRunner keyword arguments journaling straight to the store)."""
    server, task, port = await serve_app(app)
    store = await open_store(store_url)
    network, _, path = entry.partition("=")
    spec = parse_streams(f"{network}=http://127.0.0.1:{port}{path}")[0]
    try:
        yield spec, store, dict(store=store, holder=RulesHolder(), sink=store_sink(store),
                                settings=Settings(store_url=store_url, social_flush_s=3600.0))
    finally:
        await store.close()
        server.should_exit = True
        await task


async def test_the_cursor_is_stored_only_after_the_clusters_are_journaled(sqlite_url, tmp_path):
    connections: list[dict] = []
    port = free_port()
    spec = StreamSpec("jetstream", f"ws://127.0.0.1:{port}/subscribe")
    store = await open_store(sqlite_url)
    holder = RulesHolder(Rules.model_validate(RULES), 1)
    settings = Settings(store_url=sqlite_url, social_flush_s=3600.0)

    async def broken(event, on_conflict):
        raise OSError("journal unavailable")

    try:
        async with serve(jetstream_handler(connections), "127.0.0.1", port):
            runner = StreamRunner(spec, store=store, holder=holder, sink=broken, settings=settings)
            assert await runner.run(limit=10) == 10
            assert runner.pipeline.dirty  # the clusters could not be journaled ...
            assert await store.repository(CURSORS).get(spec.cursor_name) is None  # ... so the cursor did not move

            runner = StreamRunner(spec, store=store, holder=holder, sink=store_sink(store), settings=settings)
            assert await runner.run(limit=10) == 10
            assert not runner.pipeline.dirty and runner.publisher.stats["journaled"] >= 1
            assert json.loads(await store.repository(CURSORS).get(spec.cursor_name))["time_us"] > 0
    finally:
        await store.close()
    assert "cursor" not in connections[1]  # nothing was stored by the failed run: it started afresh


async def test_a_mastodon_runner_backfills_from_its_stored_status_id(sqlite_url):
    # a live stream from the first status on; a later connection's stream has nothing new, so all
    # it gets comes from the REST back-fill after the stored id
    state = {"stream_connections": 0, "live_from": 0, "drop_at": -1, "resume_at": len(STATUSES), "backfills": []}
    async with local_stream(mastodon_app(state), MASTODON, sqlite_url) as (spec, store, runner_args):
        runner = StreamRunner(spec, **runner_args)
        assert await runner.run(limit=4) == 4
        assert json.loads(await store.repository(CURSORS).get(spec.cursor_name)) == {"id": STATUSES[3]["id"]}
        state["live_from"] = len(STATUSES)
        rest = len(STATUSES) - 4 + 1  # the last status is a boost: the boosted status, then the boost
        assert await runner.run(limit=rest) == rest  # a second attempt of the same runner (as after a crash)
        status = runner.status()  # counted over both attempts, each with its own adapter and pipeline
        assert status["attempts"] == 2 and status["posts"] == 4 + rest
        assert sum(status["outcomes"].values()) == 4 + rest
        assert [b["min_id"] for b in state["backfills"]][:1] == [STATUSES[3]["id"]]
        assert json.loads(await store.repository(CURSORS).get(spec.cursor_name)) == {"id": STATUSES[-1]["id"]}


def recent(statuses: list[dict]) -> list[dict]:
    """``statuses`` re-dated to the last minutes, a second apart in order, so their clusters are
    inside the deduper's window whatever day the test runs."""
    start = utcnow() - timedelta(seconds=len(statuses) + 60)
    return [{**s, "created_at": (start + timedelta(seconds=i)).isoformat()} for i, s in enumerate(statuses)]


async def journaled(store) -> dict[str, list[dict]]:
    """Envelope id -> attributes of each journal row not applied yet, in journal order."""
    rows = await store.due_for_publication(1000, utcnow() + timedelta(days=1))
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(r.event_id, []).append(json.loads(r.payload)["attributes"])
    return out


async def project(store) -> None:
    """Apply the journal to the projection, as the projector does."""
    rows = await store.due_for_publication(1000, utcnow() + timedelta(days=1))
    await store.upsert_events([Envelope.model_validate_json(r.payload) for r in rows])


async def test_clusters_survive_a_restart_a_copy_updates_the_same_item(store_url):
    # statuses: [0] tree down, [1] chatter, [2] flooding, [3] evacuation, ... [6] a near-identical
    # copy of [0], [7] power outage, [8] a boost of [0]
    statuses = recent(STATUSES)
    state = {"stream_connections": 0, "live_from": 0, "drop_at": -1, "resume_at": 4, "backfills": [],
             "statuses": statuses}
    tree, power = (f"social:mastodon:{public_ref(statuses[i]['id'])}" for i in (0, 7))
    async with local_stream(mastodon_app(state), MASTODON, store_url) as (spec, store, runner_args):
        assert await StreamRunner(spec, **runner_args).run(limit=4) == 4
        first = await journaled(store)
        assert len(first) == 3 and first[tree][0]["count"] == 1 and "private" in first[tree][0]

        # a new process: nothing projected yet, the clusters come back from the journal
        state["live_from"] = 6
        runner = StreamRunner(spec, **runner_args)
        assert await runner.run(limit=1) == 1
        assert len(runner.pipeline.deduper.clusters) == 3
        after = await journaled(store)
        assert after.keys() == first.keys()  # no second item for the copy ...
        assert [a["count"] for a in after[tree]] == [1, 2]  # ... an update of the same one
        assert after[tree][-1]["private"]["post_ids"] == [statuses[0]["id"], statuses[6]["id"]]

        # the projector catches up; the next process finds the clusters in the projection
        await project(store)
        assert await journaled(store) == {}
        state["live_from"] = 7  # a different post, then a boost of the first (which repeats it)
        runner = StreamRunner(spec, **runner_args)
        assert await runner.run(limit=3) == 3
        last = await journaled(store)
        assert last.keys() == {power, tree}
        assert [a["count"] for a in last[power]] == [1]  # a different post: a new cluster
        assert [a["count"] for a in last[tree]] == [3]  # the boost joins the resumed cluster, the repeat adds nothing
        await project(store)
        events = await store.query_events(EventQuery(kinds=("social_post",)))
        assert {e.id: e.attributes["count"] for e in events} == {tree: 3, power: 1, **{
            f"social:mastodon:{public_ref(statuses[i]['id'])}": 1 for i in (2, 3)}}
        assert (await store.journal_counts()).total == 3 + 1 + 2


async def test_clusters_of_another_stream_or_outside_the_window_are_not_resumed(sqlite_url):
    store = await open_store(sqlite_url)
    pipeline = SocialPipeline()
    try:
        sink = store_sink(store)
        for stream, status, age in [("social:mastodon:a", STATUSES[0], 60), ("social:mastodon:b", STATUSES[2], 60),
                                    ("social:mastodon:a", STATUSES[3], 7 * 3600)]:
            one = SocialPipeline()
            [post] = parse_status({**status, "created_at": (utcnow() - timedelta(seconds=age)).isoformat()})
            one.process(post)
            await ClusterPublisher(one, sink, stream=stream).flush()
        assert len(await journaled(store)) == 3
        assert await seed_from_journal(pipeline, store, stream="social:mastodon:a") == 1
    finally:
        await store.close()
    [cluster] = pipeline.deduper.clusters.values()
    assert cluster.id == STATUSES[0]["id"] and cluster.info.published_count == 1


async def test_a_restarted_twitter_runner_backfills_the_gap_without_loss_or_duplicates(store_url):
    state = {"connections": [], "timeline": []}
    async with local_stream(twitter_app(state), "twitter=/2/tweets/search/stream", store_url) as (
            spec, store, runner_args):
        run = asyncio.create_task(StreamRunner(spec, **runner_args).run(limit=3))
        await eventually(lambda: len(state["connections"]) == 1)
        twitter_timeline(state, 3)
        assert await run == 3
        saved = json.loads(await store.repository(CURSORS).get(spec.cursor_name))
        assert saved["recent"] == TWEET_IDS[:3]

        twitter_timeline(state, 3)  # posted while no runner is connected
        runner = StreamRunner(spec, **runner_args)
        assert await runner.run(limit=3) == 3
    assert "backfill_minutes" not in state["connections"][0]
    assert state["connections"][1]["backfill_minutes"] == "1"  # since the stored tweet time, rounded up
    assert runner.adapter.stats.skipped["already yielded"] == 3  # the first three, replayed and dropped
    assert runner.adapter.checkpoint()["recent"] == TWEET_IDS  # the last three yielded once each: none lost
