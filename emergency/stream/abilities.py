"""What the broker at hand can do, asked of it rather than assumed.

The embedded Tansu broker answers an InitProducerId request with an error, so producers there are
at-least-once (consumers deduplicate by event id); Apache Kafka grants a producer id, so producers
there are idempotent. The broker count sets the default replication factor of new topics.
"""

from __future__ import annotations

import asyncio
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
    A partition without a committed offset counts from the start of the partition. The committed offsets are
    fetched the way the workers fetch them (a consumer of the group that does not join it), which both engines
    answer; the admin client's OffsetFetch is one Tansu cannot.
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition

    timeout = settings.broker_timeout_s

    def consumer(group: str | None) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                                request_timeout_ms=int(timeout * 1000) + 1000)

    reader = consumer(None)
    opened = [reader]
    try:
        await bounded(reader.start(), timeout, "start")
        cluster = await bounded(reader._client.fetch_all_metadata(), timeout, "metadata")
        parts = {t: [TopicPartition(settings.topic(t), p) for p in sorted(cluster.partitions_for_topic(settings.topic(t))
                                                                           or ())]
                 for topics in groups.values() for t in topics}
        tps = [tp for ps in parts.values() for tp in ps]
        if not tps:
            return {}
        ends = await bounded(reader.end_offsets(tps), timeout, "end_offsets")
        starts = await bounded(reader.beginning_offsets(tps), timeout, "beginning_offsets")

        async def of_group(group: str, topics: list[str]) -> dict[tuple[str, str], int]:
            member = consumer(settings.group(group))
            opened.append(member)
            await bounded(member.start(), timeout, "start")
            out = {}
            for logical in topics:
                committed = await asyncio.gather(*(bounded(member.committed(tp), timeout, "committed")
                                                   for tp in parts[logical]))
                out[(group, logical)] = sum(max(0, ends[tp] - (at if at is not None and at >= 0 else starts[tp]))
                                            for tp, at in zip(parts[logical], committed, strict=True))
            return out

        # the groups at once: a scrape costs about one round of connections, not one per group
        lag: dict[tuple[str, str], int] = {}
        for part in await asyncio.gather(*(of_group(g, ts) for g, ts in groups.items())):
            lag.update(part)
        return lag
    finally:
        for c in opened:
            try:
                await bounded(c.stop(), 5, "stop")
            except Exception:
                pass
