"""The ``facilities`` consumer group: alert versions on ``alerts.issued`` and incidents on ``cop.incidents`` →
notifications of the facilities they reach, once system-wide (``alerts.facilities.flows``)."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from alerts.facilities.flows import on_alert, on_incident
from emergency.config import Settings
from emergency.store.base import Store
from emergency.stream.consumer import Incoming, Process, Rejected
from emergency.stream.topics import ALERTS_ISSUED, COP_INCIDENTS


def make_facilities_processor(*, store: Store, settings: Settings) -> Process:
    """A batch processor for ``GroupWorker`` (topics ``alerts.issued``, ``cop.incidents``)."""

    async def process(batch: list[Incoming], producer: AIOKafkaProducer) -> list[Rejected]:
        for inc in batch:
            if inc.topic == ALERTS_ISSUED:
                await on_alert(store=store, settings=settings, producer=producer, event=inc.event)
            elif inc.topic == COP_INCIDENTS:
                await on_incident(store=store, settings=settings, producer=producer, event=inc.event)
        return []

    return process
