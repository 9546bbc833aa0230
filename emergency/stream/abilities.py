"""What the broker at hand can do, asked of it rather than assumed.

The embedded Tansu broker answers an InitProducerId request with an error, so producers there are
at-least-once (consumers deduplicate by event id); Apache Kafka grants a producer id, so producers
there are idempotent. The broker count sets the default replication factor of new topics.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.transaction import InitProducerIdRequest

from emergency.config import Settings
from emergency.stream.bounded import bounded

log = logging.getLogger(__name__)
_said: dict[str, Abilities] = {}


@dataclass(frozen=True)
class Abilities:
    """``idempotence``: the broker grants producer ids; ``brokers``: brokers in the cluster metadata."""

    idempotence: bool
    brokers: int

    def replication(self, settings: Settings) -> int:
        """Replication factor for new topics: the configured one, else min(3, brokers)."""
        return settings.topic_replication or min(3, max(1, self.brokers))

    def min_insync(self, settings: Settings) -> int:
        """``min.insync.replicas`` for new topics: the configured one, else one less than the replication (>= 1)."""
        rf = self.replication(settings)
        return min(rf, settings.topic_min_insync or max(1, rf - 1))


async def detect(settings: Settings, bootstrap: str) -> Abilities:
    """Ask the broker once (one metadata and one InitProducerId round trip, bounded by the broker timeout)."""
    timeout = settings.broker_timeout_s
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    try:
        await bounded(client.bootstrap(), timeout, "bootstrap")
        brokers = len(client.cluster.brokers())
        try:
            answer = await bounded(client.send(client.get_random_node(),
                                               InitProducerIdRequest(transactional_id=None,
                                                                     transaction_timeout_ms=60000)),
                                   timeout, "InitProducerId")
            idempotence = answer.error_code == 0
        except Exception as exc:  # an engine that does not know the request at all
            log.debug("InitProducerId refused by %s: %s", bootstrap, exc)
            idempotence = False
    finally:
        await client.close()
    found = Abilities(idempotence=idempotence, brokers=brokers)
    if _said.get(bootstrap) != found:
        _said[bootstrap] = found
        log.info("broker %s: %d broker(s), idempotent producers %s", bootstrap, brokers,
                 "granted" if idempotence else "refused (at-least-once, consumers deduplicate)")
    return found


async def group_lag(settings: Settings, bootstrap: str, groups: dict[str, list[str]]) -> dict[tuple[str, str], int]:
    """Messages between each group's committed offsets and the ends of its topics, as the broker reports them.

    ``groups``: {logical group: [logical topics]}; returns {(group, topic): lag summed over partitions}.
    A partition without a committed offset counts from the start of the partition.
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    timeout = settings.broker_timeout_s
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                request_timeout_ms=int(timeout * 1000) + 1000)
    try:
        await bounded(admin.start(), timeout, "admin start")
        await bounded(consumer.start(), timeout, "start")
        names = sorted({settings.topic(t) for topics in groups.values() for t in topics})
        described = await bounded(admin.describe_topics(names), timeout, "describe_topics")
        tps = [TopicPartition(d["topic"], p["partition"]) for d in described if not d.get("error_code")
               for p in d.get("partitions", [])]
        if not tps:
            return {}
        ends = await bounded(consumer.end_offsets(tps), timeout, "end_offsets")
        starts = await bounded(consumer.beginning_offsets(tps), timeout, "beginning_offsets")
        lag: dict[tuple[str, str], int] = {}
        for group, topics in groups.items():
            committed = await bounded(admin.list_consumer_group_offsets(settings.group(group)), timeout,
                                      "list_consumer_group_offsets")
            for logical in topics:
                name = settings.topic(logical)
                total = 0
                for tp in (tp for tp in tps if tp.topic == name):
                    meta = committed.get(tp)
                    at = meta.offset if meta is not None and meta.offset >= 0 else starts[tp]
                    total += max(0, ends[tp] - at)
                lag[(group, logical)] = total
        return lag
    finally:
        for close in (consumer.stop, admin.close):
            try:
                await bounded(close(), 5, "close")
            except Exception:
                pass
