"""The projector: cop.incidents (reports with their incident, incidents, everything else the correlator passed
on) and alerts.issued -> the COP store (latest state per id)."""

from __future__ import annotations

from collections.abc import Callable

from aiokafka import AIOKafkaProducer

from emergency.store.base import Store
from emergency.stream.consumer import Incoming, Rejected


def make_projector(store: Store, on_applied: Callable[[], None] | None = None):
    """A batch processor for ``GroupWorker``: upsert every event; the store marks the journal applied.

    ``on_applied`` is called after a batch changed the projection (it wakes this process's live picture).
    """

    async def process(batch: list[Incoming], producer: AIOKafkaProducer) -> list[Rejected]:
        written = await store.upsert_events([inc.event for inc in batch])
        if written and on_applied is not None:
            on_applied()
        return []

    return process
