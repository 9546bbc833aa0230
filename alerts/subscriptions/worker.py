"""The ``subscriptions`` consumer group: marks the journal rows of ``alerts.subscriptions`` applied.

A subscription change is in the repository before it is journaled (``alerts.subscriptions.flows``), so its
message on the topic has nothing left to apply to the store: this consumer only finishes its journal row, so
``Runtime.wait_applied`` and ``emergency rebuild`` (which wait for every row) are not held up by them. The
fan-out's own consumers of the topic keep their targeting index from the same messages.
"""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from emergency.events import utcnow
from emergency.store.base import Store
from emergency.stream.consumer import Incoming, Rejected


def make_applied_marker(store: Store):
    """A batch processor for ``GroupWorker``: mark each message's journal rows applied (up to its received_at)."""

    async def process(batch: list[Incoming], producer: AIOKafkaProducer) -> list[Rejected]:
        await store.mark_applied([(inc.event.id, inc.event.received_at) for inc in batch], utcnow())
        return []

    return process
