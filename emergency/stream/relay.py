"""The outbox relay: publish journaled inputs to their topics.

A journal row is finished only when its effect is in the projection (``applied_at``), not when
the broker acknowledged it. Rows published but not applied within ``republish_after_s`` are
published again, and the broker-restart watchdog re-queues every unapplied row at once, so an
accepted submission is never lost (consumers deduplicate by event id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from datetime import timedelta

from aiokafka import AIOKafkaProducer

from emergency.config import Settings
from emergency.events import utcnow
from emergency.metrics import Registry
from emergency.store.base import Store
from emergency.stream.bounded import keep_running
from emergency.stream.outage import BrokerOutage
from emergency.stream.producer import publish_all, start_producer, stop_producer

log = logging.getLogger(__name__)


class OutboxRelay:
    """Moves due outbox rows to Kafka in sequence order, in batches."""

    def __init__(self, *, settings: Settings, bootstrap: str, store: Store, metrics: Registry, batch: int = 1000,
                 topics_ready: asyncio.Event | None = None, outage: BrokerOutage | None = None) -> None:
        """``topics_ready`` (the watchdog's): publish only while it is set, so a send never auto-creates a topic
        with the wrong shape on a broker that forgot them; ``outage``: where broker failures are reported."""
        self.settings, self.bootstrap, self.store, self.metrics, self.batch = settings, bootstrap, store, metrics, batch
        self.topics_ready, self.outage = topics_ready, outage
        self._wake = asyncio.Event()
        self.published = 0

    def wake(self) -> None:
        """Ask the relay to look at the outbox now (called after each intake)."""
        self._wake.set()

    async def run(self) -> None:
        """Publish due rows until cancelled; a broker failure drops the producer and backs off."""
        state: dict[str, AIOKafkaProducer | None] = {"producer": None}

        async def step() -> None:
            if self.topics_ready is not None:
                await self.topics_ready.wait()
            if state["producer"] is None:
                state["producer"] = await start_producer(self.settings, self.bootstrap)
            self._wake.clear()  # before looking, so a wake() during the publish is not lost
            if await self.publish_due(state["producer"]) < self.batch:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 0.25)

        async def drop_producer() -> None:
            producer, state["producer"] = state["producer"], None
            if producer is not None:
                await stop_producer(producer)

        try:
            await keep_running(step, name="outbox relay", log=log, on_failure=drop_producer, outage=self.outage)
        finally:
            await drop_producer()

    async def publish_due(self, producer: AIOKafkaProducer) -> int:
        """Publish one batch of due rows; returns how many were published."""
        now = utcnow()
        rows = await self.store.due_for_publication(
            self.batch, republish_before=now - timedelta(seconds=self.settings.republish_after_s)
        )
        if not rows:
            return 0
        await publish_all(
            producer,
            [(self.settings.topic(r.topic), r.key.encode() if r.key else None, r.payload, None) for r in rows],
            self.settings.broker_timeout_s,
        )
        await self.store.mark_published([r.seq for r in rows], now)
        for topic, n in Counter(r.topic for r in rows).items():
            self.metrics.events_out.inc(n, topic=topic)
        self.published += len(rows)
        return len(rows)
