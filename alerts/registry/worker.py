"""The ``registry`` consumer group: each alert version on ``alerts.issued`` → check-ins for the registrants it
covers (``alerts.registry.flows.on_alert``), once system-wide; and the check-in timer loop (``run_timer``)."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from alerts.registry.flows import on_alert
from emergency.config import Settings
from emergency.store.base import Store
from emergency.stream.consumer import Incoming, Process, Rejected
from emergency.stream.topics import ALERTS_ISSUED


def make_registry_processor(*, store: Store, settings: Settings) -> Process:
    """A batch processor for ``GroupWorker`` (topic ``alerts.issued``)."""

    async def process(batch: list[Incoming], producer: AIOKafkaProducer) -> list[Rejected]:
        for inc in batch:
            if inc.topic == ALERTS_ISSUED:
                await on_alert(store=store, settings=settings, producer=producer, event=inc.event)
        return []

    return process
