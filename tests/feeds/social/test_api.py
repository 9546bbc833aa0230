"""Social API and persistence: rules stored durably on both backends, managed by coordinators,
applied to the next post without restart; the webhook journals clusters that reach the map as
one item with a count and no personal data."""

from __future__ import annotations

from datetime import UTC, datetime

from emergency.store import EventQuery, open_store
from feeds.social.pipeline import RulesHolder, public_ref
from feeds.social.repository import SOCIAL_RULES
from feeds.social.rules import Rules
from feeds.social.service import RulesWatcher, load_rules, save_rules
from tests.conftest import eventually

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


async def test_rules_persist_with_versions_on_both_backends(store_url):
    store = await open_store(store_url)
    try:
        before = (await store.repository(SOCIAL_RULES).get() or ({}, 0))[1]
        v1 = await save_rules(store, Rules(keywords=["sinkhole"], languages=["en"]), updated_by="ECC")
        assert v1 == before + 1
        holder = RulesHolder()
        watcher = RulesWatcher(store, holder)
        assert await watcher.refresh() and holder.current.version == v1
        assert holder.current.match("a sinkhole opened").operator_hits == 1
        assert not await watcher.refresh()  # unchanged version: nothing to do
        v2 = await save_rules(store, Rules(keywords=["landslide"], region={"bbox": [-123, 45, -122, 46]}),
                              updated_by="ECC")
        assert v2 == v1 + 1
    finally:
        await store.close()
    reopened = await open_store(store_url)  # durable: a new connection (a restarted process) sees the same
    try:
        rules, version = await load_rules(reopened)
        assert version == v2 and rules.keywords == ["landslide"] and rules.region.bbox == (-123, 45, -122, 46)
    finally:
        await reopened.close()


def post(pid: str, text: str, **extra) -> dict:
    return {"id": pid, "text": text, "created_at": T0.isoformat(), **extra}


async def test_rules_api_needs_a_coordinator_and_names_bad_fields(system):
    assert (await system.http.get("/api/v1/social/rules")).status_code == 401
    r = await system.http.put("/api/v1/social/rules", json={"keywords": ["x"]}, headers=system.auth("agency"))
    assert r.status_code == 403
    r = await system.http.put("/api/v1/social/rules", json={"languages": ["english!"]},
                              headers=system.auth("coordinator"))
    assert r.status_code == 422 and r.json()["detail"].startswith("languages")
    r = await system.http.get("/api/v1/social/rules", headers=system.auth("admin"))
    assert r.status_code == 200 and r.json()["version"] == 0 and r.json()["rules"]["default_lexicon"] is True


async def test_a_rule_edit_applies_to_the_next_post_and_clusters_reach_the_map(system):
    coordinator = system.auth("coordinator")
    strict = {"keywords": ["sinkhole"], "default_lexicon": False, "require_keyword": True}
    r = await system.http.put("/api/v1/social/rules", json=strict, headers=coordinator)
    assert r.status_code == 200 and r.json()["version"] == 1
    text = "Big sinkhole opened on SE Belmont St, a car fell in, people hurt"
    r = await system.http.post("/api/v1/social/posts", headers=coordinator, json={"posts": [
        post("s1", text, author="alice", lat=45.5165, lon=-122.6535),
        post("s2", "RT @alice: " + text, author="bob"),
        post("s3", text + " https://t.co/abc", author="carol"),
        post("n1", "Huge fire downtown", author="dave"),
    ]})
    assert r.status_code == 200, r.text
    decisions = {d["id"]: d for d in r.json()["decisions"]}
    assert {d["cluster"] for d in decisions.values() if d["cluster"]} == {"s1"}
    assert decisions["n1"]["dropped"] == "no keyword"  # "fire" is not in the operator's rules
    assert r.json()["journaled"] == 1

    r = await system.http.put("/api/v1/social/rules", json={**strict, "keywords": ["sinkhole", "fire"]},
                              headers=coordinator)
    assert r.json()["version"] == 2
    r = await system.http.post("/api/v1/social/posts", headers=coordinator,
                               json={"posts": [post("n2", "Huge fire downtown", author="dave")]})
    assert r.json()["decisions"][0]["related"] and r.json()["decisions"][0]["rules_version"] == 2

    async def on_map():
        fc = (await system.http.get("/api/v1/reports", params={"bbox": "-122.7,45.5,-122.6,45.6"})).json()
        return fc["features"] or None

    [feature] = await eventually(on_map)
    assert feature["id"] == f"social:jsonl:{public_ref('s1')}"
    props = feature["properties"]
    assert props["count"] == 3 and props["distinct_authors"] == 3 and props["first_seen"] == T0.isoformat()
    assert "alice" not in str(feature) and "private" not in props
    stored = await system.runtime.store.get_event(f"social:jsonl:{public_ref('s1')}")
    assert stored.attributes["private"]["authors"] == ["alice", "bob", "carol"]
    social = await system.runtime.store.query_events(EventQuery(kinds=("social_post",)))
    assert {e.id for e in social} <= {f"social:jsonl:{public_ref('s1')}", f"social:jsonl:{public_ref('n2')}"}


async def test_a_collector_token_may_post_to_the_webhook_and_nothing_else(system):
    collector = system.auth("collector")
    r = await system.http.post("/api/v1/social/posts", headers=collector,
                               json={"posts": [post("c1", "Flooding on SE Water Ave, cars stuck", lat=45.51, lon=-122.66)]})
    assert r.status_code == 200 and r.json()["decisions"][0]["related"]
    assert (await system.http.get("/api/v1/social/rules", headers=collector)).status_code == 403
    assert (await system.http.put("/api/v1/social/rules", json={"keywords": ["x"]}, headers=collector)).status_code == 403
    assert (await system.http.get("/api/v1/social/streams", headers=collector)).status_code == 403
    assert (await system.http.post("/api/v1/social/posts", headers=system.auth("agency"),
                                   json={"posts": [post("c2", "flood")]})).status_code == 403


async def test_webhook_refuses_bad_posts_with_the_field(system):
    r = await system.http.post("/api/v1/social/posts", headers=system.auth("coordinator"),
                               json={"posts": [{"id": "x", "text": "t", "lat": 95, "lon": 0}]})
    assert r.status_code == 422 and r.json()["detail"].startswith("posts.0.lat")
    r = await system.http.post("/api/v1/social/posts", headers=system.auth("coordinator"), json={"posts": []})
    assert r.status_code == 422


async def test_a_stream_runner_picks_up_rules_saved_by_the_api(system):
    holder = RulesHolder()
    watcher = RulesWatcher(system.runtime.store, holder)
    await system.http.put("/api/v1/social/rules", json={"keywords": ["lahar"]}, headers=system.auth("coordinator"))
    assert await watcher.refresh()
    assert holder.current.match("lahar warning").operator_hits == 1
    assert holder.current.version >= 1
