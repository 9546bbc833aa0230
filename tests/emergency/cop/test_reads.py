"""Reads of the picture cannot starve intake: page sizes capped without a coordinator token, a read budget per
client (429 with Retry-After), intake never refused by read load, and large pages streamed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emergency.stream.broker import EmbeddedBroker
from tests.conftest import System, make_settings, report_body, start_system


@pytest.fixture
async def small_budget(broker: EmbeddedBroker, sqlite_url: str, tmp_path: Path) -> AsyncIterator[System]:
    """The system with a tiny anonymous page cap (5) and read budget (12 items a minute)."""
    settings = make_settings(broker, sqlite_url, tmp_path, anon_max_limit=5, read_budget="12/minute",
                             read_budget_authenticated="30/minute")
    sys_, task, server = await start_system(settings, broker)
    yield sys_
    await sys_.http.aclose()
    server.should_exit = True
    await task
    await sys_.runtime.stop()


async def test_an_anonymous_page_larger_than_the_cap_is_refused_naming_limit_and_the_cap(system: System):
    r = await system.http.get("/api/v1/reports", params={"limit": 50_000})
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("limit: at most 5000 items per page without a coordinator or admin token")
    assert "50000" in r.json()["detail"]
    assert (await system.http.get("/api/v1/reports", params={"limit": 5000})).status_code == 200
    assert (await system.http.get("/api/v1/changes", params={"limit": 10_000})).status_code == 422
    # a token of another role, or an unknown one, does not lift the cap
    for headers in (system.auth("agency"), {"Authorization": "Bearer not-a-token"}):
        assert (await system.http.get("/api/v1/reports", params={"limit": 50_000}, headers=headers)).status_code == 422


async def test_a_coordinator_or_admin_may_read_the_layers_own_maximum(system: System):
    for role in ("coordinator", "admin"):
        r = await system.http.get("/api/v1/reports", params={"limit": 50_000}, headers=system.auth(role))
        assert r.status_code == 200, r.text
        assert r.json()["type"] == "FeatureCollection"
    r = await system.http.get("/api/v1/reports", params={"limit": 50_001}, headers=system.auth("coordinator"))
    assert r.status_code == 422


async def test_a_client_beyond_its_read_budget_gets_429_with_retry_after_and_intake_still_accepts(small_budget):
    s = small_budget
    assert (await s.http.get("/api/v1/reports", params={"limit": 5})).status_code == 200
    assert (await s.http.get("/api/v1/road-closures", params={"limit": 5})).status_code == 200
    r = await s.http.get("/api/v1/reports", params={"limit": 5})  # 15 > 12 items this minute
    assert r.status_code == 429, r.text
    assert int(r.headers["Retry-After"]) >= 1
    assert r.json()["detail"].startswith("limit: read budget spent: a client may ask for 12 items of the picture "
                                         "per minute")
    assert (await s.http.get("/api/v1/reports", params={"limit": 2})).status_code == 200  # what fits still passes
    # intake is never held back by read load
    for _ in range(3):
        assert (await s.http.post("/api/v1/reports", json=report_body())).status_code == 202
    # a valid token reads on its own, larger budget
    assert (await s.http.get("/api/v1/reports", params={"limit": 5}, headers=s.auth("agency"))).status_code == 200


async def test_a_streamed_page_is_one_feature_collection(system: System):
    for i in range(150):  # more than one encoded chunk
        assert (await system.http.post("/api/v1/reports", json=report_body(text=f"smoke {i}"))).status_code == 202

    async def all_there():
        body = (await system.http.get("/api/v1/reports", params={"limit": 200})).json()
        return body if body["returned"] == 150 else None

    from tests.conftest import eventually
    body = await eventually(all_there, timeout=30)
    assert len(body["features"]) == 150 and body["total"] == 150 and body["truncated"] is False
    assert len({f["id"] for f in body["features"]}) == 150
    page = (await system.http.get("/api/v1/reports", params={"limit": 100})).json()
    assert page["truncated"] is True and page["returned"] == 100 and len(page["features"]) == 100


async def test_a_large_changes_page_is_the_same_json(system: System):
    for i in range(120):  # more than is encoded on the loop
        assert (await system.http.post("/api/v1/reports", json=report_body(text=f"fire {i}"))).status_code == 202
    from tests.conftest import eventually

    async def page():
        r = await system.http.get("/api/v1/changes", params={"limit": 110})
        return r if r.json()["truncated"] else None

    r = await eventually(page, timeout=30)
    body = r.json()
    assert len(body["changes"]) == 110 and body["next"] and r.headers["Link"].startswith(f'<{body["next"]}>')
    assert [c["seq"] for c in body["changes"]] == sorted(c["seq"] for c in body["changes"])


async def test_an_unknown_event_id_is_echoed_only_as_a_short_prefix_and_long_ids_are_refused(system: System):
    r = await system.http.get("/api/v1/events/" + "a" * 300)
    assert r.status_code == 404
    detail = r.json()["detail"]
    assert detail.startswith("event_id: no event 'aaaa") and "(300 characters)" in detail and len(detail) < 160
    r = await system.http.get("/api/v1/events/" + "b" * 10_000)
    assert r.status_code == 422 and r.json()["detail"].startswith("event_id:")
    assert len(r.text) < 1000  # the id is never echoed back
    assert (await system.http.get("/api/v1/events/citizen:nope")).json()["detail"] == \
        "event_id: no event 'citizen:nope' in the picture"
