"""The live-picture protocol (issue 9, A.1-A.3): newest-first snapshots with truncation and keyset
paging, the change sequence (``/api/v1/changes``, ``/ws/cop?after=``), ended and cancelled items,
and public fields only — against the real app, broker and store."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
import websockets

from emergency.layers import REGISTRY
from feeds.social.pipeline import public_ref
from tests.conftest import eventually, make_settings, phone_leaks, report_body, start_system
from tests.emergency.assembly.test_durability import alert_body, closure_body

SOCIAL_ID = f"social:jsonl:{public_ref('p1')}"


async def recv(ws, timeout: float = 20.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_until(ws, match, timeout: float = 30.0) -> list[dict]:
    """Messages up to and including the first for which ``match(message)`` holds."""
    got: list[dict] = []
    while not got or not match(got[-1]):
        got.append(await recv(ws, timeout))
    return got


async def stop_system(system, task, server) -> None:
    await system.http.aclose()
    server.should_exit = True
    await task
    await system.runtime.stop()


async def all_changes(system, after: int, limit: int) -> tuple[list[dict], int]:
    """Every change after ``after`` by following next links; and the last head seen."""
    out: list[dict] = []
    url: str | None = f"/api/v1/changes?after={after}&limit={limit}"
    head = after
    while url is not None:
        r = await system.http.get(url)
        assert r.status_code == 200, r.text
        page = r.json()
        out += page["changes"]
        head = page["seq"]
        assert len(page["changes"]) <= limit
        assert page["truncated"] == (page["next"] is not None)
        if page["next"]:
            assert r.headers["link"] == f'<{page["next"]}>; rel="next"'
        url = page["next"]
    return out, head


async def test_a_socket_opened_before_the_first_alert_of_a_fresh_system_receives_it(system):
    """A.2a: the snapshot/stream race. The client connects first; the first change must reach it."""
    async with websockets.connect(f"{system.ws_url}/ws/cop") as ws:
        hello = await recv(ws)
        assert hello == {"type": "hello", "seq": 0, "reset": False}
        r = await system.http.post("/api/v1/alerts", json=alert_body(), headers=system.auth("alert_originator"))
        assert r.status_code == 202
        msg = await recv(ws)
        assert msg["type"] == "upsert" and msg["layer"] == "alerts" and msg["seq"] >= 1
        feature = msg["feature"]
        assert feature["id"] == r.json()["id"] and feature["properties"]["seq"] == msg["seq"]
        props = feature["properties"]
        assert props["state"] == "active" and "cancelled_at" not in props
        assert props["cap_url"] == f"/api/v1/alerts/{feature['id']}.xml"
        assert props["headline"] == alert_body()["headline"] and "instruction" in props and "description" in props
        assert (await system.http.get(props["cap_url"])).status_code == 200


async def test_snapshots_are_newest_first_say_when_truncated_and_page_by_keyset(system):
    """A.1: the newest report is always on the first page; total/truncated/next are right; pages do not overlap."""
    start = datetime.now(UTC) - timedelta(hours=1)
    ids = []
    for i in range(11):  # observed over the last hour, oldest first
        body = report_body(text=f"report {i}", observed_at=(start + timedelta(minutes=5 * i)).isoformat())
        ids.append((await system.http.post("/api/v1/reports", json=body)).json()["id"])
    assert await system.runtime.wait_applied(timeout_s=30)
    trapped = (await system.http.post("/api/v1/reports", json=report_body(
        category="needs_help", text="Person trapped in a car"))).json()["id"]
    ids.append(trapped)
    assert await system.runtime.wait_applied(timeout_s=30)
    newest_first = list(reversed(ids))

    r = await system.http.get("/api/v1/reports", params={"limit": 5})
    first = r.json()
    assert [f["id"] for f in first["features"]] == newest_first[:5]
    assert first["features"][0]["id"] == trapped
    assert (first["total"], first["returned"], first["truncated"]) == (12, 5, True)
    assert first["seq"] >= max(f["properties"]["seq"] for f in first["features"])
    assert r.headers["link"] == f'<{first["next"]}>; rel="next"'
    assert "limit=5" in first["next"] and "before=" in first["next"]

    second = (await system.http.get(first["next"])).json()
    assert [f["id"] for f in second["features"]] == newest_first[5:10]
    assert (second["total"], second["returned"], second["truncated"]) == (12, 5, True)
    last = await system.http.get(second["next"])
    third = last.json()
    assert [f["id"] for f in third["features"]] == newest_first[10:]
    assert (third["returned"], third["truncated"], third["next"]) == (2, False, None)
    assert "link" not in last.headers

    whole = (await system.http.get("/api/v1/reports")).json()  # the default limit holds them all
    assert whole["truncated"] is False and whole["next"] is None and whole["returned"] == whole["total"] == 12

    r = await system.http.get("/api/v1/reports", params={"before": "not-a-cursor"})
    assert r.status_code == 422 and r.json()["detail"].startswith("before:")
    r = await system.http.get("/api/v1/alerts", params={"limit": REGISTRY["alerts"].max_limit + 1})
    assert r.status_code == 422 and r.json()["detail"].startswith("limit:")


async def test_every_layer_of_the_registry_has_its_read_route(system):
    for layer in REGISTRY.values():
        r = await system.http.get(layer.path)
        assert r.status_code == 200, (layer.path, r.text)
        fc = r.json()
        assert fc["type"] == "FeatureCollection"
        assert {k: fc[k] for k in ("total", "returned", "truncated", "next")} == {
            "total": 0, "returned": 0, "truncated": False, "next": None}


@pytest.fixture
async def either_system(broker, store_url, tmp_path):
    """The system on each store backend in turn, with a fast expiry sweep."""
    system, task, server = await start_system(make_settings(broker, store_url, tmp_path, expiry_sweep_s=0.2), broker)
    yield system
    await stop_system(system, task, server)


async def test_changes_resume_without_gap_or_duplicate_across_concurrent_submissions(either_system):
    """A.2: a client polling /changes while 60 reports arrive concurrently, and a socket, see each once, in seq order."""
    system = either_system
    async with websockets.connect(f"{system.ws_url}/ws/cop") as ws:
        hello = await recv(ws)
        seen: list[dict] = []
        after = hello["seq"]

        async def submit(wave: int) -> list[str]:
            rs = await asyncio.gather(*(system.http.post("/api/v1/reports", json=report_body(text=f"w{wave} r{i}"))
                                        for i in range(20)))
            return [r.json()["id"] for r in rs]

        accepted: list[str] = []
        for wave in range(3):
            poll = asyncio.create_task(all_changes(system, after, 7))
            accepted += await submit(wave)
            changes, _ = await poll
            seen += changes
            after = seen[-1]["seq"] if seen else after
        assert await system.runtime.wait_applied(timeout_s=60)
        rest, head = await all_changes(system, after, 7)
        seen += rest

        seqs = [c["seq"] for c in seen]
        assert seqs == sorted(set(seqs)), "seq order with no duplicate"
        reports = [c for c in seen if c["layer"] == "reports"]  # the others: the incident they form, as it grows
        assert sorted(c["feature"]["id"] for c in reports) == sorted(accepted), "every report exactly once"
        assert {c["layer"] for c in seen} == {"reports", "incidents"}
        assert seqs[-1] == head
        live = [m for m in await recv_until(ws, lambda m: m["seq"] == head)]
        # the socket sends every version, /changes each id once per page in its latest state (the incident the
        # reports form, and a report whose incident became corroborated, change more than once)
        live_seqs = [m["seq"] for m in live]
        assert live_seqs == sorted(set(live_seqs))
        assert {(c["seq"], c["feature"]["id"]) for c in seen} <= {(m["seq"], m["feature"]["id"]) for m in live}
        last = {m["feature"]["id"]: m["seq"] for m in live}
        assert last == {c["feature"]["id"]: c["seq"] for c in seen}


async def test_the_socket_resumes_after_a_server_restart_on_the_same_store(broker, sqlite_url, tmp_path):
    """A.2b: /ws/cop?after=SEQ gives exactly what changed since SEQ, across a restart, then live changes."""
    settings = make_settings(broker, sqlite_url, tmp_path)
    system, task, server = await start_system(settings, broker)
    try:
        for i in range(3):
            await system.http.post("/api/v1/reports", json=report_body(text=f"before {i}"))
        assert await system.runtime.wait_applied(timeout_s=30)
        held = (await system.http.get("/api/v1/changes")).json()["seq"]
        assert held >= 3
    finally:
        await stop_system(system, task, server)

    system, task, server = await start_system(settings, broker)
    try:
        new = [(await system.http.post("/api/v1/reports", json=report_body(text=f"after {i}"))).json()["id"]
               for i in range(2)]
        assert await system.runtime.wait_applied(timeout_s=30)
        async with websockets.connect(f"{system.ws_url}/ws/cop?after={held}") as ws:
            hello = await recv(ws)
            head = hello["seq"]  # the two reports and their incident's new state(s)
            assert hello["type"] == "hello" and hello["reset"] is False and head >= held + 3
            backlog = await recv_until(ws, lambda m: m["seq"] == head)
            assert [m["seq"] for m in backlog] == list(range(held + 1, head + 1))
            assert sorted(m["feature"]["id"] for m in backlog if m["layer"] == "reports") == sorted(new)
            live_id = (await system.http.post("/api/v1/reports", json=report_body(text="live"))).json()["id"]
            live = await recv_until(ws, lambda m: m["feature"]["id"] == live_id)
            assert [m["seq"] for m in live] == list(range(head + 1, head + 1 + len(live)))
            assert await system.runtime.wait_applied(timeout_s=30)
            head = (await system.http.get("/api/v1/changes")).json()["seq"]
        async with websockets.connect(f"{system.ws_url}/ws/cop?after={head + 100}") as ws:
            assert await recv(ws) == {"type": "hello", "seq": head, "reset": True}
        async with websockets.connect(f"{system.ws_url}/ws/cop?after=yesterday") as ws:
            try:
                await recv(ws)
                raise AssertionError("a bad after must close the socket")
            except websockets.ConnectionClosed as closed:
                assert closed.rcvd.code == 1008 and closed.rcvd.reason.startswith("after:")
    finally:
        await stop_system(system, task, server)


async def test_an_ended_closure_is_removed_from_open_maps(either_system):
    """A.3: when a closure's end passes, a remove change is sent; the row stays for history."""
    system = either_system
    async with websockets.connect(f"{system.ws_url}/ws/cop") as ws:
        await recv(ws)
        end = datetime.now(UTC) + timedelta(seconds=2)
        body = {**closure_body("PBOT-END"), "end": end.isoformat()}
        r = await system.http.post("/api/v1/agency/road-closures", json=body, headers=system.auth("agency"))
        assert r.status_code == 202
        [*_, upsert] = await recv_until(ws, lambda m: m["layer"] == "road_closures")  # and its incident
        assert upsert["type"] == "upsert"
        props = upsert["feature"]["properties"]
        for name in ("agency", "reason", "start", "end", "road_name", "reference"):
            assert name in props, name
        [*_, remove] = await recv_until(ws, lambda m: m["layer"] == "road_closures")
        assert remove == {"type": "remove", "seq": remove["seq"], "layer": "road_closures",
                          "id": r.json()["id"], "reason": "expired"} and remove["seq"] > upsert["seq"]
    assert (await system.http.get("/api/v1/road-closures")).json()["features"] == []
    [ended] = (await system.http.get("/api/v1/road-closures", params={"active": "false"})).json()["features"]
    assert ended["properties"]["seq"] == remove["seq"] and "ended_at" in ended["properties"]
    changes = (await system.http.get("/api/v1/changes", params={"after": upsert["seq"] - 1})).json()["changes"]
    assert [c for c in changes if c["layer"] == "road_closures"] == [remove]


async def test_a_cancelled_alert_says_so_until_it_leaves(system):
    """A.3: the Cancel is an upsert with state cancelled and cancelled_at; it stays listed (active) until its end."""
    auth = system.auth("alert_originator")
    async with websockets.connect(f"{system.ws_url}/ws/cop") as ws:
        await recv(ws)
        alert_id = (await system.http.post("/api/v1/alerts", json=alert_body(), headers=auth)).json()["id"]
        assert (await recv(ws))["feature"]["properties"]["state"] == "active"
        r = await system.http.post(f"/api/v1/alerts/{alert_id}/cancel", json={"note": "Fire is out"}, headers=auth)
        assert r.status_code == 202, r.text
        msg = await recv(ws)
        props = msg["feature"]["properties"]
        assert msg["type"] == "upsert" and props["state"] == "cancelled"
        assert datetime.fromisoformat(props["cancelled_at"]) <= datetime.now(UTC)
        assert props["description"] == "Fire is out"
    [listed] = (await system.http.get("/api/v1/alerts")).json()["features"]
    assert listed["properties"]["state"] == "cancelled" and listed["properties"]["seq"] == msg["seq"]


async def test_no_private_data_reaches_the_api_the_changes_or_the_socket(system):
    """B.2: contacts, author handles and anything under attributes["private"] never leave through a public surface."""
    async with websockets.connect(f"{system.ws_url}/ws/cop") as ws:
        hello = await recv(ws)
        r = await system.http.post("/api/v1/reports", json=report_body(contact="+1 503 555 0100"))
        report_id = r.json()["id"]
        text = "Flooding on SE Water Ave, cars stuck, water rising fast"
        r = await system.http.post("/api/v1/social/posts", headers=system.auth("coordinator"), json={"posts": [
            {"id": "p1", "text": text, "created_at": datetime.now(UTC).isoformat(), "author": "handle_alice",
             "lat": 45.51, "lon": -122.66},
            {"id": "p2", "text": "RT " + text, "created_at": datetime.now(UTC).isoformat(), "author": "handle_bob"}]})
        assert r.status_code == 200 and r.json()["journaled"] >= 1, r.text
        assert await system.runtime.wait_applied(timeout_s=30)
        head = (await system.http.get("/api/v1/changes")).json()["seq"]
        socket_text = json.dumps(await recv_until(ws, lambda m: m["seq"] == head))
        stored = await system.runtime.store.get_event(report_id)
        assert set(stored.attributes["private"]) == {"reporter"}  # the contact itself: the private contact store
        assert not phone_leaks(stored.model_dump_json(), "+1 503 555 0100")
        social = await eventually(lambda: system.runtime.store.get_event(SOCIAL_ID))
        assert social.attributes["private"]["author"] == "handle_alice"
        public = [socket_text]
        for path in ("/api/v1/reports", f"/api/v1/changes?after={hello['seq']}", f"/api/v1/events/{report_id}",
                     f"/api/v1/events/{SOCIAL_ID}"):
            public.append((await system.http.get(path)).text)
        for surface in public:
            for secret in ("555 0100", "handle_alice", "handle_bob", '"private"', "post_ids", '"stream"'):
                assert secret not in surface, (secret, surface[:300])
        props = json.loads(public[1])["features"]
        social_props = next(f["properties"] for f in props if f["id"] == SOCIAL_ID)
        for name in ("count", "first_seen", "last_seen", "distinct_authors", "social_category", "related",
                     "informative", "score", "keywords"):
            assert name in social_props, name


async def test_a_seq_beyond_64_bits_is_refused_naming_the_field_not_a_server_error(system):
    """Found by schemathesis: ``after`` or a ``before`` cursor past 2**63-1 overflowed SQLite (500)."""
    big = str(2**70)
    answer = await system.http.get("/api/v1/changes", params={"after": big})
    assert answer.status_code == 422 and answer.json()["detail"].startswith("after:"), answer.text
    cursor = base64.urlsafe_b64encode(f"2026-01-01T00:00:00+00:00|{big}".encode()).decode().rstrip("=")
    answer = await system.http.get("/api/v1/reports", params={"before": cursor})
    assert answer.status_code == 422 and answer.json()["detail"].startswith("before:"), answer.text
    async with websockets.connect(f"{system.ws_url}/ws/cop?after={big}") as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd.code == 1008 and closed.value.rcvd.reason.startswith("after:")
