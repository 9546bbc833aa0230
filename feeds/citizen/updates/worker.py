"""The ``reporter-updates`` consumer group: reports and incidents on ``cop.incidents`` → confirmations and status
messages of reporters, once system-wide (``feeds.citizen.updates.flows``)."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from emergency.config import Settings
from emergency.store.base import Store
from emergency.stream.consumer import Incoming, Process, Rejected
from feeds.citizen.updates.flows import process as process_events


def make_updates_processor(*, store: Store, settings: Settings) -> Process:
    """A batch processor for ``GroupWorker`` (topic ``cop.incidents``)."""

    async def process(batch: list[Incoming], producer: AIOKafkaProducer) -> list[Rejected]:
        await process_events(store=store, settings=settings, producer=producer, events=[inc.event for inc in batch])
        return []

    return process
