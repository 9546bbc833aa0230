"""One fan-out and the channel workers against the real broker, both stores and a real HTTP peer."""

from __future__ import annotations

import re

from aiokafka import AIOKafkaConsumer, TopicPartition

from alerts.delivery.fanout import SubscriberIndex
from alerts.delivery.ledger import DELIVERIES
from alerts.tiers import DEFAULT_TIERS, Tier
from emergency.stream.topics import ALL_TOPICS
from tests.alerts.delivery.peers import INSIDE, OUTSIDE, point_target, publish_targets
from tests.alerts.drafts.approval import issue_approved, people
from tests.conftest import eventually
from tests.emergency.assembly.test_durability import alert_body

ELSEWHERE = {"lat": 45.5600, "lon": -122.6000, "radius_km": 0.5}  # NE Portland, far from INSIDE and OUTSIDE


async def subscribe(d, *targets, code: str | None = None) -> None:
    """Put subscriptions in the directory and publish them on alerts.subscriptions; wait for the index."""
    for t in targets:
        d.directory.put(t, code=code)
    rt = d.system.runtime
    await publish_targets(rt.settings, rt.bootstrap, list(targets))
    index = rt.fanout.index
    await eventually(lambda: all(index._versions.get(t.subscription_id) == t.version for t in targets))


async def issue(d, body: dict, role: str = "alert_originator") -> str:
    r = await d.system.http.post("/api/v1/alerts", json=body, headers=d.system.auth(role))
    assert r.status_code == 202, r.text
    return r.json()["id"]


async def rows(d, alert_id: str):
    return await d.system.runtime.store.repository(DELIVERIES).progress(alert_id)


async def test_one_delivery_inside_none_outside_and_the_report_and_ack(delivering):
    d = delivering
    await subscribe(d, point_target("in", *INSIDE), point_target("out", *OUTSIDE))
    alert_id = await issue(d, alert_body())
    await eventually(lambda: sum(d.peer.requests.values()) == 1)
    ledger = d.system.runtime.store.repository(DELIVERIES)
    progress = await rows(d, alert_id)
    assert len(progress) == 1  # the ledger batch is written whole: nobody outside, one row inside
    await eventually(lambda: _sent(ledger, alert_id))
    [(key, count)] = d.peer.requests.items()
    assert count == 1 and d.peer.bodies[0]["msg_type"] == "Alert"
    row = await ledger.get(key)
    assert row.subscription_id == "in" and row.state == "sent" and row.attempts == 1

    http = d.system.http
    report = await http.get(f"/api/v1/alerts/{alert_id}/deliveries", headers=d.system.auth("coordinator"))
    assert report.status_code == 200, report.text
    webhook = report.json()["channels"]["webhook"]
    assert (webhook["targeted"], webhook["sent"], webhook["queued"], webhook["failed"]) == (1, 1, 0, 0)
    assert webhook["time_to_reached_s"]["p99"] is not None and webhook["curve"][-1][1] == 1
    assert '"in"' not in report.text and d.peer.url not in report.text

    assert d.peer.bodies[0]["ack_url"].endswith(f"/api/v1/deliveries/{key}/ack")
    ack = await http.post(f"/api/v1/deliveries/{key}/ack")
    assert ack.status_code == 200 and ack.json()["state"] == "acknowledged"
    assert (await http.post(f"/api/v1/deliveries/{key}/ack")).status_code == 200  # idempotent
    assert (await http.post(f"/api/v1/deliveries/{'1' * 64}/ack")).status_code == 404
    bad = await http.post("/api/v1/deliveries/not-an-id/ack")
    assert bad.status_code == 422 and bad.json()["detail"].startswith("delivery_id:")
    report = (await http.get(f"/api/v1/alerts/{alert_id}/deliveries", headers=d.system.auth("coordinator"))).json()
    assert report["channels"]["webhook"]["acknowledged"] == 1

    # nothing personal on any topic: read the raw bytes of every topic
    raw = await every_topic(d)
    assert raw and d.peer.url.encode() not in raw and b"/hook/" not in raw
    assert b'"state":"acknowledged"' in raw and f'"delivery_id":"{key}"'.encode() in raw


def _sent(ledger, alert_id):
    async def check():
        return all(p.sent_at is not None for p in await ledger.progress(alert_id))
    return check()


async def every_topic(d) -> bytes:
    rt = d.system.runtime
    s = rt.settings
    consumer = AIOKafkaConsumer(bootstrap_servers=rt.bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        tps = [TopicPartition(s.topic(t), p) for t in ALL_TOPICS
               for p in sorted(consumer.partitions_for_topic(s.topic(t)) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out = bytearray()
        async def behind() -> bool:
            return any([await consumer.position(tp) < ends[tp] for tp in tps])

        while await behind():
            for recs in (await consumer.getmany(timeout_ms=500)).values():
                for r in recs:
                    out += (r.key or b"") + b"\n" + (r.value or b"") + b"\n"
        return bytes(out)
    finally:
        await consumer.stop()


async def test_update_and_cancel_reach_the_original_recipients_after_they_left(delivering):
    d = delivering
    await subscribe(d, point_target("mover", *INSIDE))
    alert_id = await issue(d, alert_body())
    await eventually(lambda: len(d.peer.bodies) == 1)
    await subscribe(d, point_target("mover", *OUTSIDE, version=2))  # moved away; the update covers elsewhere
    body = {**alert_body(), "area": {"circle": ELSEWHERE}, "headline": "Fire moved to NE Portland"}
    r = await d.system.http.post(f"/api/v1/alerts/{alert_id}/update", json=body, headers=d.system.auth("alert_originator"))
    assert r.status_code == 202, r.text
    await eventually(lambda: len(d.peer.bodies) == 2)
    r = await d.system.http.post(f"/api/v1/alerts/{alert_id}/cancel", json={"note": "all clear"},
                                 headers=d.system.auth("alert_originator"))
    assert r.status_code == 202, r.text
    await eventually(lambda: len(d.peer.bodies) == 3)
    assert [b["msg_type"] for b in d.peer.bodies] == ["Alert", "Update", "Cancel"]
    assert [b["alert_version"] for b in d.peer.bodies] == [alert_id, f"{alert_id}:1", f"{alert_id}:2"]
    assert set(d.peer.requests.values()) == {1}
    assert d.peer.bodies[1]["headline"] == "Fire moved to NE Portland"


async def test_an_unconfirmed_channel_gets_only_its_confirmation(delivering):
    d = delivering
    await subscribe(d, point_target("new", *INSIDE, confirmed=False), code="86420971")
    await eventually(lambda: len(d.peer.bodies) == 1)
    confirmation = d.peer.bodies[0]
    assert confirmation["msg_type"] == "Confirmation"
    after = confirmation["text"].split("code", 1)[1]
    assert re.findall(r"\d{6,8}", after) == ["86420971"]
    alert_id = await issue(d, alert_body())
    assert await d.system.runtime.wait_applied(timeout_s=30)
    await eventually(lambda: _fanned_out(d, alert_id))
    assert await rows(d, alert_id) == [] and len(d.peer.bodies) == 1
    assert "86420971" not in (await every_topic(d)).decode("utf-8", "replace")  # the code never rides a topic


async def _fanned_out(d, alert_id: str) -> bool:
    """The fan-out group committed past the alert (it wrote nothing for it)."""
    return d.system.runtime.metrics.events_in.value(topic="alerts.issued", group="fanout") >= 1


async def test_tiers_opt_in_and_opt_out(delivering):
    d = delivering
    default = point_target("default", *INSIDE)
    tester = point_target("tester", *INSIDE, tiers=DEFAULT_TIERS | {Tier.test})
    nothing = point_target("opted-out", *INSIDE, tiers=frozenset())
    await subscribe(d, default, tester, nothing)
    test_alert = await issue(d, {**alert_body(), "tier": "test", "headline": "Monthly test"})
    author, approver = await people(d.system.runtime.store)  # presidential: drafted, approved by a second person
    presidential = await issue_approved(d.system.http, {**alert_body(), "tier": "presidential",
                                                        "headline": "Presidential alert"},
                                        author=author, approver=approver)
    await eventually(lambda: len(d.peer.bodies) == 4)
    ledger = d.system.runtime.store.repository(DELIVERIES)
    test_rows = await ledger.recipients(test_alert)
    assert [r.subscription_id for r in test_rows] == ["tester"]  # test is opt-in only
    assert {r.subscription_id for r in await ledger.recipients(presidential)} == {"default", "tester", "opted-out"}


def test_a_point_with_radius_is_targeted_when_the_alert_comes_within_the_radius():
    index = SubscriberIndex()
    index.load([point_target("near", *OUTSIDE, radius_m=3500), point_target("far", *OUTSIDE, radius_m=1500),
                point_target("plain", *INSIDE), point_target("gone", *INSIDE)])
    assert index.apply(point_target("gone", *INSIDE, version=2).model_copy(update={"deleted": True}))
    assert not index.apply(point_target("gone", *INSIDE, version=1))  # an older change does not revive it
    from mapping.targeting import Circle

    hit = {t.subscription_id for t in index.query(Circle(45.5047, -122.6400, 500))}
    assert hit == {"near", "plain"}  # OUTSIDE lies ~3 km from the alert circle's centre


async def test_a_presidential_alert_overtakes_a_queued_backlog(broker, store_url, tmp_path):
    from alerts.delivery.worker import ChannelRunner
    from tests.alerts.delivery.conftest import delivering_system
    from tests.alerts.delivery.peers import PeerChannel

    async with delivering_system(broker, store_url, tmp_path, channels={}) as d:  # no channel worker yet
        backlog = [point_target(f"s{i}", INSIDE[0] + i * 1e-6, INSIDE[1]) for i in range(600)]
        await subscribe(d, *backlog, point_target("vip", ELSEWHERE["lat"], ELSEWHERE["lon"]))
        safety = await issue(d, {**alert_body(), "tier": "public_safety", "headline": "Boil water"})
        await eventually(lambda: _count(d, safety, 600), timeout=60)
        author, approver = await people(d.system.runtime.store)
        presidential = await issue_approved(d.system.http, {**alert_body(), "tier": "presidential",
                                                            "headline": "Presidential alert",
                                                            "area": {"circle": ELSEWHERE}},
                                            author=author, approver=approver)
        await eventually(lambda: _count(d, presidential, 1), timeout=60)
        await eventually(lambda: _produced(d, 0, 1))  # the job is on alerts.deliveries.p0, behind 600 on p4
        rt = d.system.runtime
        channel = PeerChannel()
        runner = ChannelRunner(settings=rt.settings, bootstrap=rt.bootstrap, channel=channel, store=rt.store,
                               directory=d.directory, metrics=rt.metrics, concurrency=2)
        rt._spawn(runner.run(), "test-runner")
        await eventually(lambda: len(d.peer.order) == 601, timeout=120)
        await channel.close()
        first = [b["priority"] for b in d.peer.bodies].index(0)
        assert first < 60, f"the presidential delivery went out {first + 1}th of 601"
        assert set(d.peer.requests.values()) == {1}


async def _count(d, alert_id: str, n: int) -> bool:
    return len(await rows(d, alert_id)) == n


async def _produced(d, priority: int, n: int) -> bool:
    from alerts.delivery.models import DELIVERY_TOPICS

    rt = d.system.runtime
    topic = rt.settings.topic(DELIVERY_TOPICS[priority])
    consumer = AIOKafkaConsumer(bootstrap_servers=rt.bootstrap, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        return sum((await consumer.end_offsets(tps)).values()) >= n
    finally:
        await consumer.stop()


async def test_killing_the_worker_midway_loses_and_doubles_nothing(broker, store_url, tmp_path):
    """kill -9 the worker process (fan-out + channel worker) during 10,000 deliveries, start it again: the peer
    received every delivery, and each once except the documented crash window (sends in flight at the kill,
    re-sent with the same idempotency key, so the peer dedupes them)."""
    import os
    import signal
    import subprocess
    import sys

    from alerts.models import AlertIn
    from alerts.service import alert_event
    from emergency.config import PROJECT_ROOT
    from emergency.events import utcnow
    from emergency.store import open_store
    from emergency.stream.topics import ALERTS_ISSUED
    from tests.alerts.delivery.peers import FileDirectory, Peer
    from tests.conftest import make_settings

    n, concurrency = 10_000, 8
    s = make_settings(broker, store_url, tmp_path, delivery_concurrency=concurrency)
    targets = [point_target(f"s{i}", INSIDE[0] + (i % 100) * 1e-6, INSIDE[1] + (i // 100) * 1e-6) for i in range(n)]
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "EMERGENCY_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
           "EMERGENCY_STORE_URL": s.store_url, "EMERGENCY_TOPIC_PREFIX": s.topic_prefix,
           "EMERGENCY_DATA_DIR": str(tmp_path), "EMERGENCY_SESSION_TIMEOUT_MS": "2000",
           "EMERGENCY_DELIVERY_CONCURRENCY": str(concurrency), "EMERGENCY_BROKER_CHECK_INTERVAL_S": "0.3"}
    with Peer() as peer:
        FileDirectory.save(tmp_path / "subscriptions.json", peer.url, targets)
        store = await open_store(s.store_url)
        try:
            now = utcnow()
            alert = alert_event(AlertIn.model_validate(alert_body()), event_id="alert:crash", sender="County EM",
                                now=now)
            await store.accept(alert, ALERTS_ISSUED, alert.id)

            def start() -> subprocess.Popen:
                return subprocess.Popen([sys.executable, "-m", "tests.alerts.delivery.crash_worker",
                                         str(tmp_path / "subscriptions.json")], cwd=PROJECT_ROOT, env=env)

            worker = start()
            try:
                await eventually(lambda: sum(peer.requests.values()) >= n // 4, timeout=600)
                os.kill(worker.pid, signal.SIGKILL)
                worker.wait()
                at_kill = sum(peer.requests.values())
                assert at_kill < n, "the worker finished before it was killed"
                worker = start()
                await eventually(lambda: len(peer.requests) == n, timeout=900)
                await eventually(lambda: _all_sent(store.repository(DELIVERIES)), timeout=60)
            finally:
                worker.kill()
                worker.wait()
            ledger = store.repository(DELIVERIES)
            rows_ = await ledger.progress("alert:crash")
            assert len(rows_) == n
            expected = {r.delivery_id for r in [await ledger.get(k) for k in peer.requests]}
            assert len(expected) == n  # every request the peer saw is a ledger row: none missing, none foreign
            doubled = {k: c for k, c in peer.requests.items() if c > 1}
            assert max(peer.requests.values()) <= 2
            assert len(doubled) <= concurrency, f"{len(doubled)} deliveries sent twice (only the in-flight may be)"
        finally:
            await store.close()


async def _all_sent(ledger) -> bool:
    return all(p.sent_at is not None for p in await ledger.progress("alert:crash"))
