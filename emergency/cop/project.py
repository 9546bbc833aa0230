"""The projector: cop.reports and alerts.issued -> the COP store (latest state per id)."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from emergency.store.base import Store
from emergency.stream.consumer import Incoming, Rejected


def make_projector(store: Store):
    """A batch processor for ``GroupWorker``: upsert every event; the store marks the journal applied."""

    async def process(batch: list[Incoming], producer: AIOKafkaProducer) -> list[Rejected]:
        await store.upsert_events([inc.event for inc in batch])
        return []

    return process
