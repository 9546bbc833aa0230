"""Faults on a three-broker Apache Kafka cluster (KRaft, 3 voters, replication 3, min.insync.replicas 2).

The invariants of ``test_faults.py``: 0 accepted submissions lost, 0 duplicated in the picture, the picture
complete within a bound (a timeout, never a timing assertion).

- one broker of three killed (-9) or stopped (SIGTERM) while reports are submitted through the API: leaders
  move, nothing lost
- two of three killed: producers cannot reach ``min.insync.replicas``, intake keeps journaling and
  answering 202; once the brokers return, everything reaches the picture once
- one broker cut off by a network partition (it runs in a network namespace of its own and its link goes down:
  alive, unreachable, reaching nobody): leaders move off it, nothing lost; once healed it rejoins every ISR
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from emergency.stream.topics import COP_REPORTS, RAW_CITIZEN
from tests.conftest import _in_thread, eventually, make_settings, start_system
from tests.emergency.assembly.test_faults import OBSERVER_BUDGET, assert_complete, body, reports_stored
from tests.kafka import KafkaCluster

BOUND_S = 90.0  # leaders move after a broker is fenced (3 s here); the machine is small and shared


@pytest.fixture(scope="module")
def cluster() -> Iterator[KafkaCluster]:
    """Three Kafka nodes for this module, the third in a network namespace of its own (for the partition);
    each test leaves all three running and connected."""
    c = KafkaCluster(3, partitionable=2)
    c.launch()  # from the main thread: the brokers must not die with a helper thread
    try:
        _in_thread(c.wait_ready())
        yield c
    finally:
        _in_thread(c.stop())
        c.cleanup()


async def _topic_shape(bootstrap: str, topic: str) -> tuple[set[int], str]:
    """(replica counts of the partitions, min.insync.replicas) of ``topic``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [d] = await admin.describe_topics([topic])
        [cfg] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        configs = {c[0]: c[1] for c in cfg.resources[0][4]}
        return {len(p["replicas"]) for p in d["partitions"]}, configs["min.insync.replicas"]
    finally:
        await admin.close()


async def _submit(system, start: int, stop: int, accepted: set[str]) -> None:
    for i in range(start, stop):
        r = await system.http.post("/api/v1/reports", json=body(i))
        assert r.status_code == 202, r.text
        accepted.add(r.json()["id"])


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
async def test_one_broker_of_three_stopped_mid_stream(cluster, sqlite_url, tmp_path, sig):
    """One broker killed (-9) or stopped (controlled shutdown) while 320 reports come in: 0 lost, 0 duplicated,
    all in the picture within the bound."""
    settings = make_settings(cluster, sqlite_url, tmp_path, read_budget=OBSERVER_BUDGET, broker_timeout_s=10.0)
    system, task, server = await start_system(settings, cluster)
    try:
        for t in (RAW_CITIZEN, COP_REPORTS):  # the topics took the cluster's shape
            assert await _topic_shape(cluster.bootstrap, settings.topic(t)) == ({3}, "2")
        accepted: set[str] = set()
        await _submit(system, 0, 150, accepted)
        await eventually(system.runtime.store.count_events, timeout=BOUND_S)  # mid-stream
        cluster.signal_node(0, sig)
        await _submit(system, 150, 320, accepted)
        ids = await assert_complete(system.http, accepted, timeout=BOUND_S)
        assert len(ids) == 320 == await reports_stored(system.runtime.store)  # the picture also holds their incidents
        assert await system.runtime.wait_applied(timeout_s=BOUND_S)
    finally:
        await system.http.aclose()
        server.should_exit = True
        await task
        await system.runtime.stop()
        await cluster.stop_node(0)
        await cluster.start_node(0)


async def test_two_brokers_of_three_killed_intake_journals_and_all_arrive_when_they_return(
        cluster, sqlite_url, tmp_path):
    """Two of three down: below min.insync.replicas nothing is acknowledged, yet intake answers 202 (journaled);
    when they come back, every accepted report reaches the picture once."""
    settings = make_settings(cluster, sqlite_url, tmp_path, read_budget=OBSERVER_BUDGET, broker_timeout_s=10.0)
    system, task, server = await start_system(settings, cluster)
    try:
        accepted: set[str] = set()
        await _submit(system, 0, 50, accepted)
        await assert_complete(system.http, accepted, timeout=BOUND_S)
        cluster.signal_node(1, signal.SIGKILL)
        cluster.signal_node(2, signal.SIGKILL)
        await cluster.stop_node(1)  # reap them
        await cluster.stop_node(2)
        await _submit(system, 50, 200, accepted)
        counts = await system.runtime.store.journal_counts()
        assert counts.total == 200 and counts.applied < 200  # journaled, not all through
        await cluster.start_node(1)
        await cluster.start_node(2)
        ids = await assert_complete(system.http, accepted, timeout=BOUND_S)
        assert len(ids) == 200 == await reports_stored(system.runtime.store)
        assert await system.runtime.wait_applied(timeout_s=BOUND_S)
    finally:
        await system.http.aclose()
        server.should_exit = True
        await task
        await system.runtime.stop()
        for i in (1, 2):
            if not cluster.nodes[i].running:
                await cluster.start_node(i)


async def _isr_sizes(bootstrap: str, topic: str) -> set[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        [d] = await admin.describe_topics([topic])
        return {len(p["isr"]) for p in d["partitions"]}
    finally:
        await admin.close()


async def test_one_broker_partitioned_off_mid_stream_then_healed(cluster, sqlite_url, tmp_path):
    """The third broker's network cut while 320 reports come in (the process runs on, unreachable): its
    leaderships move once it is fenced, 0 lost, 0 duplicated, all in the picture within the bound; healed, it
    rejoins every in-sync replica set."""
    settings = make_settings(cluster, sqlite_url, tmp_path, read_budget=OBSERVER_BUDGET, broker_timeout_s=10.0)
    system, task, server = await start_system(settings, cluster)
    try:
        accepted: set[str] = set()
        await _submit(system, 0, 150, accepted)
        await eventually(system.runtime.store.count_events, timeout=BOUND_S)  # mid-stream
        cluster.partition()
        assert cluster.nodes[2].running  # a partition, not a crash
        await _submit(system, 150, 320, accepted)
        ids = await assert_complete(system.http, accepted, timeout=BOUND_S)
        assert len(ids) == 320 == await reports_stored(system.runtime.store)
        reachable = f"{cluster.nodes[0].host}:{cluster.nodes[0].port}"

        async def shrunk() -> bool:  # the cut-off replica leaves every ISR (replica.lag.time.max.ms, 30 s)
            return await _isr_sizes(reachable, settings.topic(RAW_CITIZEN)) == {2}
        await eventually(shrunk, timeout=BOUND_S, interval=0.5)
        cluster.heal()

        async def rejoined() -> bool:
            return await _isr_sizes(cluster.bootstrap, settings.topic(RAW_CITIZEN)) == {3}
        await eventually(rejoined, timeout=BOUND_S, interval=0.5)
        assert await system.runtime.wait_applied(timeout_s=BOUND_S)
    finally:
        cluster.heal()
        await system.http.aclose()
        server.should_exit = True
        await task
        await system.runtime.stop()
