"""Issue 10, P0: one accepted input halted the whole picture for good.

(1) Every accepted time has sane bounds, checked at the edge (``emergency/timebounds.py``):
422 naming the field, also for times whose UTC value leaves years 1-9999 (those were 500s).
(2) No single message stops a processor: one that keeps failing is dead-lettered with the
reason, its journal row is marked failed (listed for operators, re-playable after a fix), and
the stream moves on, also after a restart.

Real broker, both stores, the real app over HTTP.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from emergency.errors import StoreError
from emergency.events import Envelope, GeoPrecision, Kind, Source
from emergency.metrics import Registry
from emergency.store import open_store
from emergency.stream.consumer import GroupWorker, Incoming, Rejected
from emergency.stream.topics import ALERTS_ISSUED, DEAD_LETTER, RAW_AGENCY, RAW_CITIZEN, ensure_topics
from tests.conftest import eventually, make_settings, report_body, start_system
from tests.emergency.assembly.test_durability import alert_body, closure_body

FAR = "9999-12-31T23:59:59-12:00"   # year 10000 in UTC
EARLY = "0001-01-01T00:00:00+14:00"  # year 0 in UTC


async def stop_system(sys_, task, server) -> None:
    await sys_.http.aclose()
    server.should_exit = True
    await task
    await sys_.runtime.stop()


# -- (1) bounds at the edge --------------------------------------------------------------------------------


async def test_a_far_closure_end_and_a_far_alert_expiry_are_refused_naming_the_field(system):
    r = await system.http.post("/api/v1/agency/road-closures", json={**closure_body("R-far"), "end": FAR},
                               headers=system.auth("agency"))
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == f"end: must be at most 365 days ahead, got {FAR}"
    r = await system.http.post("/api/v1/alerts", json={**alert_body(), "expires": FAR},
                               headers=system.auth("alert_originator"))
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == f"expires: must be at most 30 days ahead, got {FAR}"
    soon = (datetime.now(UTC) + timedelta(days=31)).isoformat()
    r = await system.http.post("/api/v1/alerts", json={**alert_body(), "expires": soon},
                               headers=system.auth("alert_originator"))
    assert r.status_code == 422 and r.json()["detail"].startswith("expires: must be at most 30 days ahead")
    assert (await system.runtime.store.journal_counts()).total == 0


def _post(created_at: str) -> dict:
    return {"posts": [{"id": "p1", "text": "Flooding on SE Water Ave", "created_at": created_at,
                       "lat": 45.51, "lon": -122.66}]}


# (field as named in the answer, request) for every time an outsider can send
TIME_FIELDS = [
    ("observed_at", lambda v: ("POST", "/api/v1/reports", report_body(observed_at=v), None)),
    ("since", lambda v: ("GET", "/api/v1/reports", {"since": v}, None)),
    ("until", lambda v: ("GET", "/api/v1/reports", {"until": v}, None)),
    ("start", lambda v: ("POST", "/api/v1/agency/road-closures", {**closure_body("R-t"), "start": v, "end": None},
                         "agency")),
    ("end", lambda v: ("POST", "/api/v1/agency/road-closures", {**closure_body("R-t"), "end": v}, "agency")),
    ("posts.0.created_at", lambda v: ("POST", "/api/v1/social/posts", _post(v), "collector")),
    ("expires", lambda v: ("POST", "/api/v1/alerts", {**alert_body(), "expires": v}, "alert_originator")),
]


@pytest.mark.parametrize("value", [FAR, EARLY, "1969-12-31T23:59:59Z"], ids=["after-9999-utc", "before-1-utc", "1969"])
@pytest.mark.parametrize("field,request_of", TIME_FIELDS, ids=[f[0] for f in TIME_FIELDS])
async def test_an_out_of_range_time_is_422_naming_the_field_never_500(system, field, request_of, value):
    method, path, payload, role = request_of(value)
    headers = system.auth(role) if role else {}
    if method == "GET":
        r = await system.http.get(path, params=payload, headers=headers)
    else:
        r = await system.http.post(path, json=payload, headers=headers)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail.startswith(f"{field}: "), detail
    assert value.replace("Z", "+00:00") in detail or value in detail  # says what was understood, briefly
    assert len(detail) < 200
    assert (await system.runtime.store.journal_counts()).total == 0


# -- (2) no single message stops a processor ---------------------------------------------------------------


def pre_fix_alert(eid: str) -> Envelope:
    """An alert envelope as the old intake journaled it: its expiry is year 10000 in UTC."""
    now = datetime.now(UTC)
    ring = [[-122.70, 45.50], [-122.60, 45.50], [-122.60, 45.55], [-122.70, 45.55], [-122.70, 45.50]]
    return Envelope(id=eid, kind=Kind.alert, source=Source(type="operator"), observed_at=now, received_at=now,
                    category="imminent_threat_severe", text="Evacuate now",
                    geometry={"type": "Polygon", "coordinates": [ring]}, geo_precision=GeoPrecision.exact,
                    attributes={"tier": "imminent_threat_severe", "headline": "Evacuate now", "expires": FAR})


def pre_fix_closure(eid: str) -> Envelope:
    """A road closure envelope as the old intake journaled it: ``end`` is year 10000 in UTC."""
    now = datetime.now(UTC)
    return Envelope(id=eid, kind=Kind.agency_report, source=Source(type="agency_api", ref="R-9999"),
                    observed_at=now, received_at=now, category="road_closure", text="Works",
                    geometry={"type": "LineString", "coordinates": [[-122.6530, 45.5121], [-122.6460, 45.5121]]},
                    geo_precision=GeoPrecision.exact,
                    attributes={"agency": "City of Portland", "reason": "Works", "start": now.isoformat(), "end": FAR})


async def dead_letters(bootstrap: str, topic: str, expect: int, timeout: float = 30.0) -> list[dict]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    out: list[dict] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(out) < expect and loop.time() < deadline:
            for recs in (await consumer.getmany(timeout_ms=500)).values():
                out += [json.loads(r.value) for r in recs]
    finally:
        await consumer.stop()
    return out


async def test_a_message_the_projector_cannot_apply_is_dead_lettered_and_the_picture_keeps_flowing(
        broker, store_url, tmp_path, monkeypatch):
    settings = make_settings(broker, store_url, tmp_path, apply_retry_backoff_s=0.01)
    sys_, task, server = await start_system(settings, broker)
    try:
        rt = sys_.runtime
        # written straight into the journal, as the old intake did (202), bypassing today's edge checks
        await rt.submit(pre_fix_alert("alert:poison"), ALERTS_ISSUED)
        await rt.submit(pre_fix_closure("agency:city-of-portland:R-9999"), RAW_AGENCY)
        r = await sys_.http.post("/api/v1/reports", json=report_body(text="after the poison"))
        assert r.status_code == 202
        later = r.json()["id"]
        await eventually(lambda: rt.store.get_event(later), timeout=30)  # the picture still moves

        failed = await eventually(lambda: _failed_ids(rt.store, 2), timeout=30)
        assert failed == {"alert:poison", "agency:city-of-portland:R-9999"}
        # the alert is refused by every group that reads alerts.issued: the projector, the fan-out and the registry's
        # and facilities' groups (which cannot tell whether such an alert is still active, so deliver nothing)
        dead = await dead_letters(broker.bootstrap, settings.topic(DEAD_LETTER), 5)
        alerts_dead = {d["group"]: d for d in dead if d["topic"] == ALERTS_ISSUED}
        assert set(alerts_dead) == {"projector", "fanout", "registry", "facilities"}
        for d in alerts_dead.values():
            assert d["reason"].startswith("processing failed 4 times: ValueError: attributes.expires"), d["reason"]
        by_topic = {d["topic"]: d for d in dead}
        assert by_topic[RAW_AGENCY]["group"] == "normaliser"
        assert "attributes.end" in by_topic[RAW_AGENCY]["reason"]

        # operators see it: admin API (admin only), /readyz, /metrics
        assert (await sys_.http.get("/api/v1/admin/journal/failed")).status_code == 401
        assert (await sys_.http.get("/api/v1/admin/journal/failed", headers=sys_.auth("agency"))).status_code == 403
        listed = (await sys_.http.get("/api/v1/admin/journal/failed", headers=sys_.auth("admin"))).json()
        assert listed["count"] == 2 and {f["event_id"] for f in listed["failed"]} == failed
        alert_row = next(f for f in listed["failed"] if f["event_id"] == "alert:poison")
        assert alert_row["topic"] == ALERTS_ISSUED and "attributes.expires" in alert_row["failure"]
        ready = await sys_.http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["failed"] == 2 and ready.json()["degraded"] is True
        metrics = (await sys_.http.get("/metrics")).text
        assert "emergency_journal_failed 2" in metrics
        # projector, fan-out, registry, facilities: at least once each (a group rebalanced while four groups join
        # may dead-letter the record it was processing again)
        failed_alerts = re.search(rf'emergency_dead_letters_total{{reason="failed",topic="{ALERTS_ISSUED}"}} (\d+)',
                                  metrics)
        assert failed_alerts is not None and int(failed_alerts.group(1)) >= 4, metrics
        assert f'emergency_dead_letters_total{{reason="refused",topic="{RAW_AGENCY}"}} 1' in metrics
        assert await rt.wait_applied(timeout_s=10)  # failed rows count as finished, the rest is applied

        # neither the relay nor the watchdog's re-queue resurrects failed rows
        await rt.store.reset_unapplied()
        due = await rt.store.due_for_publication(100, republish_before=datetime.now(UTC) + timedelta(days=1))
        assert not {row.event_id for row in due} & failed
        alert_seq = alert_row["seq"]
    finally:
        await stop_system(sys_, task, server)

    # after a restart (same store, same broker) the stream still flows and the rows stay failed
    sys_, task, server = await start_system(settings, broker)
    try:
        rt = sys_.runtime
        r = await sys_.http.post("/api/v1/reports", json=report_body(text="after the restart"))
        await eventually(lambda: rt.store.get_event(r.json()["id"]), timeout=30)
        assert await _failed_ids(rt.store, 2) == failed
        assert (await rt.store.get_event("alert:poison")) is None

        # a fixed build (here: expiries past year 9999 mean "does not expire") re-plays the alert on retry
        import emergency.store.postgis as postgis
        import emergency.store.sqlite as sqlite

        def fixed_expires_at(event):
            return None if event.attributes.get("expires") == FAR else original(event)

        original = sqlite.expires_at
        monkeypatch.setattr(sqlite, "expires_at", fixed_expires_at)
        monkeypatch.setattr(postgis, "expires_at", fixed_expires_at)
        bad = await sys_.http.post("/api/v1/admin/journal/retry", json={"seqs": [alert_seq, 999_999]},
                                   headers=sys_.auth("admin"))
        assert bad.status_code == 404 and bad.json()["detail"] == "seqs: not failed journal rows: 999999"
        ok = await sys_.http.post("/api/v1/admin/journal/retry", json={"seqs": [alert_seq]}, headers=sys_.auth("admin"))
        assert ok.status_code == 200 and ok.json() == {"retried": [alert_seq]}
        await eventually(lambda: rt.store.get_event("alert:poison"), timeout=30)
        assert await _failed_ids(rt.store, 1) == {"agency:city-of-portland:R-9999"}
        assert (await sys_.http.get("/readyz")).json()["failed"] == 1
    finally:
        await stop_system(sys_, task, server)


async def _failed_ids(store, expect: int) -> set[str] | None:
    rows = await store.failed_rows()
    return {r.event_id for r in rows} if len(rows) == expect else None


async def test_the_journal_cli_lists_and_retries_failed_rows(broker, sqlite_url, tmp_path):
    from tests.emergency.assembly.test_durability import run_cli

    store = await open_store(sqlite_url)
    try:
        from emergency.store.base import JournalFailure

        await store.accept(pre_fix_alert("alert:cli"), ALERTS_ISSUED, "alert:cli")
        assert await store.mark_failed([JournalFailure("alert:cli", None, "processing failed 4 times: X")],
                                       datetime.now(UTC)) == 1
    finally:
        await store.close()
    env = {"EMERGENCY_STORE_URL": sqlite_url}
    listed = await asyncio.to_thread(run_cli, "journal", "failed", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    row = json.loads(listed.stdout.splitlines()[0])
    assert row["event_id"] == "alert:cli" and row["failure"] == "processing failed 4 times: X"
    wrong = await asyncio.to_thread(run_cli, "journal", "retry", "12345", env=env)
    assert wrong.returncode == 2 and "seqs: not failed journal rows: 12345" in wrong.stderr
    retried = await asyncio.to_thread(run_cli, "journal", "retry", str(row["seq"]), env=env)
    assert retried.returncode == 0 and retried.stdout.split() == [str(row["seq"])]
    store = await open_store(sqlite_url)
    try:
        assert await store.failed_rows() == []
        due = await store.due_for_publication(10, republish_before=datetime.now(UTC))
        assert [r.event_id for r in due] == ["alert:cli"]
    finally:
        await store.close()


async def test_an_old_sqlite_journal_gets_the_failure_columns(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, "
                       "topic TEXT NOT NULL, key TEXT, payload BLOB NOT NULL, received_at TEXT NOT NULL, "
                       "created_at TEXT NOT NULL, published_at TEXT, applied_at TEXT);")
    conn.close()
    for _ in range(2):  # idempotent
        store = await open_store(f"sqlite:///{path}")
        try:
            await store.accept(pre_fix_alert(f"alert:{uuid.uuid4().hex}"), ALERTS_ISSUED, None)
            assert (await store.journal_counts()).failed == 0
            assert len(await store.due_for_publication(10, datetime.now(UTC))) >= 1
        finally:
            await store.close()


def _event(eid: str) -> Envelope:
    now = datetime.now(UTC)
    return Envelope(id=eid, kind=Kind.citizen_report, source=Source(type="test"), observed_at=now, received_at=now,
                    category="smoke", geometry={"type": "Point", "coordinates": [-122.66, 45.51]})


async def test_a_poison_message_is_split_out_of_its_batch_and_transient_errors_never_dead_letter(broker, tmp_path,
                                                                                                 sqlite_url):
    settings = make_settings(broker, sqlite_url, tmp_path, apply_retry_backoff_s=0.01)
    await ensure_topics(settings, broker.bootstrap)
    applied: list[str] = []
    batch_sizes: list[int] = []
    outages = {"left": 2}

    async def process(batch: list[Incoming], producer) -> list[Rejected]:
        batch_sizes.append(len(batch))
        if outages["left"]:  # the store is down for the first two tries: never a reason to dead-letter
            outages["left"] -= 1
            raise StoreError("store is not open")
        if any(inc.event.id == "citizen:poison" for inc in batch):
            raise OverflowError("date value out of range")
        applied.extend(inc.event.id for inc in batch)
        return []

    worker = GroupWorker(settings=settings, bootstrap=broker.bootstrap, group=f"g{uuid.uuid4().hex[:6]}",
                         topics=[RAW_CITIZEN], process=process, metrics=Registry())
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    await producer.start()
    try:  # one key: one partition, one batch
        ids = ["citizen:a", "citizen:b", "citizen:poison", "citizen:c", "citizen:d"]
        for eid in ids:
            await producer.send(settings.topic(RAW_CITIZEN), _event(eid).to_json(), key=b"k")
        await producer.flush()
    finally:
        await producer.stop()
    run = asyncio.create_task(worker.run())
    try:
        dead = await dead_letters(broker.bootstrap, settings.topic(DEAD_LETTER), 1)
        await eventually(lambda: len(applied) >= 4, timeout=30)
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
    assert [d["reason"] for d in dead] == ["processing failed 4 times: OverflowError: date value out of range"]
    assert json.loads(dead[0]["value"])["id"] == "citizen:poison"
    assert sorted(set(applied)) == ["citizen:a", "citizen:b", "citizen:c", "citizen:d"]
    assert worker.metrics.dead_letters.value(topic=RAW_CITIZEN, reason="failed") == 1


async def test_an_envelope_time_past_year_9999_is_a_dead_letter_and_never_stops_the_gateway_tail(broker, tmp_path,
                                                                                                sqlite_url):
    from emergency.stream.tail import Tail
    from emergency.stream.topics import COP_REPORTS

    settings = make_settings(broker, sqlite_url, tmp_path)
    await ensure_topics(settings, broker.bootstrap)
    seen: list[str] = []

    async def handler(topic: str, event: Envelope) -> None:
        seen.append(event.id)

    tail = Tail(settings=settings, bootstrap=broker.bootstrap, topics=[COP_REPORTS], handler=handler)
    run = asyncio.create_task(tail.run())
    try:
        await asyncio.wait_for(tail.ready.wait(), 30)
        doc = json.loads(_event("citizen:far").to_json())
        doc["observed_at"] = FAR  # journaled by an older build: OverflowError when converted to UTC
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(settings.topic(COP_REPORTS), json.dumps(doc).encode(), key=b"k")
            await producer.send_and_wait(settings.topic(COP_REPORTS), _event("citizen:good").to_json(), key=b"k")
        finally:
            await producer.stop()
        await eventually(lambda: "citizen:good" in seen, timeout=30)
        assert seen == ["citizen:good"]
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)

    from emergency.stream.consumer import decode

    class Record:
        value = json.dumps(doc).encode()

    with pytest.raises(ValueError, match="invalid envelope: observed_at: Value error, must lie between years 1 and 9999"):
        decode(Record())
