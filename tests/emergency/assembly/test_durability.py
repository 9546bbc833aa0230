"""An accepted submission is never lost: broker down, broker restarts, redelivery, rebuild."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer

from emergency.assembly.runtime import Runtime
from emergency.config import PROJECT_ROOT
from emergency.store import EventQuery
from emergency.stream.topics import COP_REPORTS, RAW_CITIZEN
from tests.conftest import eventually, forgets_on_restart, make_settings, report_body, start_system
from tests.emergency.stream.test_stream import sample_event


@pytest.fixture
def broker(either_broker):
    """Durability holds on both engines: the embedded Tansu broker and Apache Kafka."""
    return either_broker


async def test_submit_while_broker_is_down_then_it_arrives_exactly_once(system):
    await system.broker.stop()
    r = await system.http.post("/api/v1/reports", json=report_body(text="posted while the broker was down"))
    assert r.status_code == 202
    report_id = r.json()["id"]
    ready = await system.http.get("/readyz")
    await eventually(lambda: not system.runtime.watchdog.reachable)
    assert (await system.http.get("/readyz")).status_code == 503 or ready.status_code == 503
    assert await system.runtime.store.get_event(report_id) is None
    await system.broker.start()  # same port; Tansu: empty memory, topics, data and offsets are gone
    stored = await eventually(lambda: system.runtime.store.get_event(report_id), timeout=40)
    assert stored.text == "posted while the broker was down"
    assert await system.runtime.wait_applied(timeout_s=30)
    assert await system.runtime.store.count_events() == 2  # the report and the incident it opened
    counts = await system.runtime.store.journal_counts()
    assert (counts.total, counts.applied) == (1, 1)
    assert (await system.http.get("/readyz")).status_code == 200


async def test_published_but_unconsumed_messages_survive_a_broker_restart(broker, sqlite_url, tmp_path):
    """The broker acknowledged the message, then (Tansu) forgot it: the outbox publishes it again; Kafka kept it."""
    settings = make_settings(broker, sqlite_url, tmp_path)
    runtime = await Runtime(settings).start(workers=False, gateways=False)
    try:
        accepted = await runtime.submit(sample_event("citizen:acked-then-lost"), RAW_CITIZEN)

        async def published():
            return (await runtime.store.journal_counts()).published == 1

        await eventually(published)
        await broker.stop()
        await broker.start()
        if forgets_on_restart(broker):
            await eventually(lambda: runtime.metrics.broker_restarts.value() >= 1)
        runtime.start_workers()
        assert await runtime.wait_applied(timeout_s=40)
        assert (await runtime.store.get_event(accepted.event_id)).text == "Water over the road ☔"
    finally:
        await runtime.stop()


async def test_redelivered_messages_give_one_row(system):
    s = system.settings
    await eventually(lambda: system.runtime.workers and all(w.healthy for w in system.runtime.workers))
    event = sample_event("citizen:twice")
    producer = AIOKafkaProducer(bootstrap_servers=system.broker.bootstrap, acks="all")
    await producer.start()
    try:
        for topic in (RAW_CITIZEN, RAW_CITIZEN, COP_REPORTS, COP_REPORTS):
            await producer.send_and_wait(s.topic(topic), event.to_json(), key=event.id.encode())
    finally:
        await producer.stop()
    await eventually(lambda: system.runtime.metrics.events_in.value(topic=COP_REPORTS, group="correlator") >= 4)

    async def projected() -> bool:  # the report (with its incident) and the incident it opened, once each
        stored = await system.runtime.store.get_event("citizen:twice")
        return stored is not None and "incident_id" in stored.attributes \
            and await system.runtime.store.count_events() == 2

    await eventually(projected)
    stored = await system.runtime.store.get_event("citizen:twice")
    assert stored.attributes.pop("incident_id").startswith("incident:")
    assert stored.attributes.pop("incident_status") == "unverified"
    assert stored == event


def closure_body(ref: str) -> dict:
    start = datetime.now(UTC) - timedelta(minutes=5)
    return {"reference": ref, "reason": "Tree and power lines down", "road_name": "SE Hawthorne Blvd",
            "geometry": {"type": "LineString", "coordinates": [[-122.6530, 45.5121], [-122.6460, 45.5121]]},
            "start": start.isoformat(), "end": (start + timedelta(hours=4)).isoformat()}


def alert_body() -> dict:
    return {"tier": "imminent_threat_severe", "headline": "Evacuate now: fire near SE Division St",
            "area": {"circle": {"lat": 45.5047, "lon": -122.6400, "radius_km": 0.5}},
            "expires": (datetime.now(UTC) + timedelta(hours=2)).isoformat()}


async def picture(system) -> dict:
    """What every layer shows, without the change seqs (a rebuild numbers the changes anew)."""
    out = {}
    for path in ("/api/v1/reports", "/api/v1/road-closures", "/api/v1/alerts", "/api/v1/incidents"):
        r = await system.http.get(path)
        assert r.status_code == 200
        fc = r.json()
        assert fc.pop("seq") >= max((f["properties"].pop("seq") for f in fc["features"]), default=0)
        out[path] = fc
    return out


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emergency.assembly.cli", *args], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, **env})


def assert_no_stray_errors(stderr: str) -> None:
    """A clean run prints its progress and result, never an asyncio complaint or a traceback."""
    for stray in ("exception was never retrieved", "CancelledError", "Traceback", "Task was destroyed"):
        assert stray not in stderr, stderr


async def test_rebuild_gives_the_identical_picture(broker, store_url, tmp_path):
    settings = make_settings(broker, store_url, tmp_path)
    system, task, server = await start_system(settings, broker)
    try:
        for i in range(12):
            r = await system.http.post("/api/v1/reports", json=report_body(text=f"report {i}", lat=45.50 + i / 1000))
            assert r.status_code == 202
        assert (await system.http.post("/api/v1/agency/road-closures", json=closure_body("PBOT-1"),
                                       headers=system.auth("agency"))).status_code == 202
        updated = {**closure_body("PBOT-1"), "reason": "Reopened one lane"}
        assert (await system.http.post("/api/v1/agency/road-closures", json=updated,
                                       headers=system.auth("agency"))).status_code == 202
        assert (await system.http.post("/api/v1/alerts", json=alert_body(),
                                       headers=system.auth("alert_originator"))).status_code == 202
        subscribed = await system.http.post("/api/v1/subscriptions", json={"areas": [{"zone": "ORZ111"}],
                                                                           "channels": [{"type": "mqtt"}]})
        assert subscribed.status_code == 201  # its journal rows are applied by group subscriptions, not the projector
        assert await system.runtime.wait_applied(timeout_s=30)
        before = await picture(system)
        assert len(before["/api/v1/reports"]["features"]) == 12
        [closure] = before["/api/v1/road-closures"]["features"]
        assert closure["properties"]["reason"] == "Reopened one lane"
        assert len(before["/api/v1/alerts"]["features"]) == 1
    finally:
        await system.http.aclose()
        server.should_exit = True
        await task
        await system.runtime.stop()

    env = {"EMERGENCY_STORE_URL": store_url, "EMERGENCY_TOPIC_PREFIX": settings.topic_prefix,
           "EMERGENCY_DATA_DIR": str(tmp_path)}
    # 1: on the same broker, which still holds the topics and the groups' committed offsets
    done = run_cli("rebuild", env={**env, "EMERGENCY_KAFKA_BOOTSTRAP": broker.bootstrap})
    assert done.returncode == 0, done.stderr
    # 12 reports, 1 closure (2 versions), 1 alert, 2 incidents (the reports' smoke, the closure)
    assert "rebuilt: 16 events in the picture" in done.stderr
    assert_no_stray_errors(done.stderr)
    # 2: after the broker was restarted (it forgot everything): an embedded broker of its own
    await broker.stop()
    await broker.start()
    done = run_cli("rebuild", env={**env, "EMERGENCY_KAFKA_BOOTSTRAP": ""})
    assert done.returncode == 0, done.stderr
    assert_no_stray_errors(done.stderr)

    system, task, server = await start_system(settings, broker)
    try:
        after = await picture(system)
        assert after == before
        assert await system.runtime.store.count_events() == 16
        assert len(await system.runtime.store.query_events(EventQuery())) == 16
    finally:
        await system.http.aclose()
        server.should_exit = True
        await task
        await system.runtime.stop()

    # 3: the other replay mode, the retained topics; only a broker that keeps them can do it
    if forgets_on_restart(broker):
        refused = run_cli("rebuild", "--from-topics", env={**env, "EMERGENCY_KAFKA_BOOTSTRAP": ""})
        assert refused.returncode == 2
        assert "rebuild --from-topics needs EMERGENCY_KAFKA_BOOTSTRAP: the embedded broker keeps its topics in " \
               "memory only" in refused.stderr
        return
    done = run_cli("rebuild", "--from-topics", env={**env, "EMERGENCY_KAFKA_BOOTSTRAP": broker.bootstrap})
    assert done.returncode == 0, done.stderr
    dropped = re.search(r"projection dropped \((\d+) events\)", done.stderr)
    assert dropped and int(dropped.group(1)) >= 14, done.stderr  # reports, closures, alerts and their incidents
    assert f"{dropped.group(1)} events in the picture" in done.stderr
    assert_no_stray_errors(done.stderr)
    system, task, server = await start_system(settings, broker)
    try:
        assert await picture(system) == before
    finally:
        await system.http.aclose()
        server.should_exit = True
        await task
        await system.runtime.stop()
    gone = run_cli("rebuild", "--from-topics", env={**env, "EMERGENCY_KAFKA_BOOTSTRAP": broker.bootstrap,
                                                    "EMERGENCY_TOPIC_PREFIX": "never-created."})
    assert gone.returncode == 2 and "does not hold topic never-created.cop.incidents" in gone.stderr


async def test_an_accepted_submission_survives_a_process_restart(broker, sqlite_url, tmp_path):
    """202 given, then the process stops before anything was published: the next process delivers it."""
    first = await Runtime(make_settings(broker, sqlite_url, tmp_path, run_relay=False)).start(gateways=False)
    try:
        accepted = await first.submit(sample_event("citizen:before-crash"), RAW_CITIZEN)
        assert (await first.store.journal_counts()).published == 0
    finally:
        await first.stop()
    second = await Runtime(make_settings(broker, sqlite_url, tmp_path)).start(gateways=False)
    try:
        assert await second.wait_applied(timeout_s=30)
        assert (await second.store.get_event(accepted.event_id)).text == "Water over the road ☔"
        assert await second.store.count_events() == 2  # the report and the incident it opened
    finally:
        await second.stop()


async def test_metrics_give_the_consumer_lag_the_broker_reports(system):
    """Committed offsets vs end offsets per group and topic, read from the broker at the scrape: 0 once applied."""
    for i in range(3):
        assert (await system.http.post("/api/v1/reports", json=report_body(text=f"lag {i}"))).status_code == 202
    assert await system.runtime.wait_applied(timeout_s=30)

    async def caught_up() -> str | None:
        text = (await system.http.get("/metrics")).text
        lines = [ln for ln in text.splitlines() if ln.startswith("emergency_broker_consumer_lag{")]
        wanted = {'group="normaliser",topic="raw.citizen"', 'group="correlator",topic="cop.reports"',
                  'group="projector",topic="cop.incidents"'}
        seen = {ln.split("{")[1].split("}")[0]: float(ln.rsplit(" ", 1)[1]) for ln in lines}
        return text if wanted <= set(seen) and all(seen[k] == 0 for k in wanted) else None

    text = await eventually(caught_up, timeout=90, interval=0.5)  # commits follow the applies (slow when loaded)
    assert "# TYPE emergency_broker_consumer_lag gauge" in text
