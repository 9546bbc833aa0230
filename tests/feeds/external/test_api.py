"""Feeds through the running system: the admin API (guarded URLs), the background poller in the workers,
health at ``GET /api/v1/feeds`` (an unknown format is a clear error there), and EMERGENCY_FEEDS refused
at start when an entry is bad."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emergency.config import PROJECT_ROOT, Settings
from emergency.stream.broker import EmbeddedBroker
from feeds.external.service import event_id
from tests.conftest import System, eventually, make_settings, start_system
from tests.feeds.external.server import FeedServer

DATA = PROJECT_ROOT / "tests" / "data" / "feeds"


@pytest.fixture
def server():
    s = FeedServer().start()
    yield s
    s.stop()


@pytest.fixture
async def feeds_system(broker: EmbeddedBroker, sqlite_url: str, tmp_path: Path, server: FeedServer):
    """The system with one feed of its own in EMERGENCY_FEEDS and loopback allowed for admin feeds."""
    server.put("/all_day.geojson", (DATA / "usgs_fixture_small.geojson").read_bytes())
    settings = make_settings(broker, sqlite_url, tmp_path, webhook_allow_hosts="127.0.0.1",
                             feeds=f"usgs={server.url('/all_day.geojson')}", feed_interval_s=1)
    sys_, task, srv = await start_system(settings, broker)
    yield sys_
    await sys_.http.aclose()
    srv.should_exit = True
    await task
    await sys_.runtime.stop()


async def health(system: System) -> dict[str, dict]:
    r = await system.http.get("/api/v1/feeds")
    assert r.status_code == 200
    return {f["name"]: f for f in r.json()["feeds"]}


async def test_feeds_are_polled_by_the_workers_and_reported_in_health(feeds_system: System, server: FeedServer):
    s = feeds_system
    h = await eventually(lambda: _polled(s, "usgs"))
    assert h["items"] == 3 and h["errors"] == 0 and h["format"] == "geojson-usgs" and h["origin"] == "setting"
    assert h["last_change"] and h["last_poll"] >= h["last_change"]
    assert "url" not in h and "127.0.0.1" not in json.dumps(await health(s))  # no URLs on the public route
    await eventually(lambda: _in_layer(s, event_id("usgs", "1234")))

    server.put("/nsw.json", (DATA / "nsw_rfs_majorIncidents_20200319.json").read_bytes())
    server.put("/garbage", b"<html><body>Service moved</body></html>", "text/html")
    for name, path in (("nsw-rfs", "/nsw.json"), ("broken", "/garbage")):
        r = await s.http.post("/api/v1/admin/feeds", headers=s.auth("admin"),
                              json={"name": name, "url": server.url(path), "interval_s": 10})
        assert r.status_code == 201, r.text
        assert r.json()["origin"] == "admin" and r.json()["created_by"] == "initial admin"
    nsw = await eventually(lambda: _polled(s, "nsw-rfs"))
    assert nsw["items"] == 12 and nsw["format"] == "geojson-nsw-rfs"
    broken = await eventually(lambda: _polled(s, "broken"))
    assert broken["errors"] >= 1 and broken["items"] == 0 and broken["format"] is None
    assert broken["last_error"] == "unknown format: an XML document whose root <html> is not Atom, RSS or RDF"
    async def rfs_shown():  # journaled at the poll; in the picture a hop or two later
        features = (await s.http.get("/api/v1/feed-items", params={"limit": 100})).json()["features"]
        shown = [f for f in features if f["properties"]["feed"] == "nsw-rfs"]
        return shown if len(shown) == 12 else None

    rfs = await eventually(rfs_shown)
    assert "CC BY 4.0" in rfs[0]["properties"]["attribution"]

    listed = (await s.http.get("/api/v1/admin/feeds", headers=s.auth("admin"))).json()["feeds"]
    assert [(f["name"], f["origin"]) for f in listed] == [("usgs", "setting"), ("broken", "admin"),
                                                          ("nsw-rfs", "admin")]
    metrics = (await s.http.get("/metrics")).text
    assert 'emergency_feed_items{feed="nsw-rfs"} 12' in metrics
    assert 'emergency_feed_errors_total{feed="broken"}' in metrics

    # deleting a feed ends what it listed: its items leave the layer and open maps get a remove each
    head = (await s.http.get("/api/v1/changes")).json()["seq"]
    assert (await s.http.delete("/api/v1/admin/feeds/nsw-rfs", headers=s.auth("admin"))).status_code == 204
    await eventually(lambda: _layer_count(s, "nsw-rfs", 0))
    delta = (await s.http.get("/api/v1/changes", params={"after": head})).json()["changes"]
    assert sorted(c["id"] for c in delta if c["type"] == "remove") == sorted(f["id"] for f in rfs)
    assert "nsw-rfs" not in await health(s)


async def _layer_count(s: System, feed: str, n: int) -> bool:
    features = (await s.http.get("/api/v1/feed-items", params={"limit": 1000})).json()["features"]
    return sum(1 for f in features if f["properties"]["feed"] == feed) == n


async def _polled(s: System, name: str) -> dict | None:
    h = (await health(s)).get(name)
    return h if h and h["last_poll"] else None


async def _in_layer(s: System, eid: str) -> bool:
    return (await s.http.get(f"/api/v1/events/{eid}")).status_code == 200


async def test_admin_feeds_are_guarded_named_and_removable(feeds_system: System, server: FeedServer):
    s = feeds_system
    admin = s.auth("admin")
    cases = [
        ({"name": "meta", "url": "http://169.254.169.254/latest/meta-data"}, 422, "url: the host is a link-local"),
        ({"name": "local", "url": "http://localhost:9/x"}, 422, "url: the host is a local name"),
        ({"name": "ftp", "url": "ftp://example.org/x"}, 422, "url: must be an http or https URL"),
        ({"name": "Bad Name", "url": server.url("/x")}, 422, "name"),
        ({"name": "usgs", "url": server.url("/x")}, 409, "name: the feed 'usgs' is configured by EMERGENCY_FEEDS"),
    ]
    for body, status, detail in cases:
        r = await s.http.post("/api/v1/admin/feeds", headers=admin, json=body)
        assert r.status_code == status, (body, r.text)
        assert str(r.json()["detail"]).startswith(detail) or detail in str(r.json()["detail"]), r.text
    ok = {"name": "mine", "url": server.url("/mine.json")}
    assert (await s.http.post("/api/v1/admin/feeds", headers=admin, json=ok)).status_code == 201
    again = await s.http.post("/api/v1/admin/feeds", headers=admin, json=ok)
    assert again.status_code == 409 and again.json()["detail"].startswith("name: a feed called 'mine' exists")
    assert (await s.http.delete("/api/v1/admin/feeds/mine", headers=admin)).status_code == 204
    gone = await s.http.delete("/api/v1/admin/feeds/mine", headers=admin)
    assert gone.status_code == 404 and gone.json()["detail"].startswith("name: no feed called 'mine'")
    own = await s.http.delete("/api/v1/admin/feeds/usgs", headers=admin)
    assert own.status_code == 409 and "change the setting" in own.json()["detail"]
    assert "mine" not in await health(s)


@pytest.mark.parametrize("value, message", [
    ("usgs", "feed entry 'usgs' is not NAME=URL"),
    ("usgs=ftp://host/x", "the URL must be http(s) and name a host"),
    ("USGS=http://host/x", "the name must be 1-40 lower-case letters"),
    ("a=http://h/1,a=http://h/2", "the name 'a' is given twice"),
])
def test_bad_feed_settings_are_refused_at_start(value: str, message: str):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings(feeds=value)


def test_feed_settings_are_read():
    from feeds.external.service import setting_feeds

    s = Settings(feeds=" usgs=http://host/all_day.geojson , gdacs=http://host/rss.xml", feed_interval_s=30)
    assert [(f.name, f.url, f.interval_s, f.origin) for f in setting_feeds(settings=s)] == [
        ("usgs", "http://host/all_day.geojson", 30, "setting"), ("gdacs", "http://host/rss.xml", 30, "setting")]


async def test_a_rebuild_runs_the_workers_without_the_feed_poller(broker: EmbeddedBroker, sqlite_url: str,
                                                                  tmp_path: Path):
    from emergency.assembly.runtime import Runtime

    settings = make_settings(broker, sqlite_url, tmp_path, feeds="usgs=http://127.0.0.1:9/all_day.geojson")
    rt = await Runtime(settings).start(workers=True, gateways=False, feeds=False)  # as `emergency rebuild` does
    try:
        assert rt.workers and rt.feed_poller is None
        assert "feed-poller" not in {t.get_name() for t in rt._tasks}
    finally:
        await rt.stop()
    rt = await Runtime(settings).start(workers=True, gateways=False)  # `emergency worker`, `serve`
    try:
        assert rt.feed_poller is not None and "feed-poller" in {t.get_name() for t in rt._tasks}
    finally:
        await rt.stop()
