"""Tail topics without a consumer group: every gateway process sees every message from now on.

Used by the live-map and alert-push gateways. It starts at the end of each partition; if the
broker restarts and forgets its data, positions beyond the new end reset to the earliest
offset, so re-published events are seen again (receivers deduplicate by id).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from emergency.config import Settings
from emergency.stream.consumer import decode
from emergency.events import Envelope

log = logging.getLogger(__name__)

Handler = Callable[[str, Envelope], Awaitable[None]]


class Tail:
    """Read ``topics`` (logical names) from their current end and call ``handler(topic, event)``."""

    def __init__(self, *, settings: Settings, bootstrap: str, topics: list[str], handler: Handler) -> None:
        self.settings, self.bootstrap, self.handler = settings, bootstrap, handler
        self._logical = {settings.topic(t): t for t in topics}
        self.ready = asyncio.Event()

    async def run(self) -> None:
        backoff = 0.2
        first = True
        while True:
            try:
                await self._run_once(seek_end=first)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("tail %s: %s; restarting in %.1f s", list(self._logical.values()), exc, backoff)
                first = False  # after an outage, read what was published meanwhile
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _run_once(self, seek_end: bool) -> None:
        timeout = self.settings.broker_timeout_s
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
            auto_offset_reset="earliest", request_timeout_ms=int(timeout * 1000) + 1000,
            metadata_max_age_ms=5000,
        )
        try:
            await asyncio.wait_for(consumer.start(), timeout)
            await asyncio.wait_for(consumer.topics(), timeout)
            tps = [TopicPartition(t, p) for t in self._logical for p in sorted(consumer.partitions_for_topic(t) or ())]
            if not tps:
                raise RuntimeError("topics do not exist yet")
            consumer.assign(tps)
            if seek_end:
                await asyncio.wait_for(consumer.seek_to_end(*tps), timeout)
            else:
                await asyncio.wait_for(consumer.seek_to_beginning(*tps), timeout)
            self.ready.set()
            while True:
                batches = await asyncio.wait_for(consumer.getmany(timeout_ms=500, max_records=1000), timeout + 5)
                for recs in batches.values():
                    for rec in recs:
                        try:
                            event = decode(rec)
                        except ValueError:
                            continue  # the group workers dead-letter it; a gateway only skips
                        try:
                            await self.handler(self._logical[rec.topic], event)
                        except Exception:
                            log.exception("tail handler failed for %s", event.id)
        finally:
            try:
                await asyncio.wait_for(consumer.stop(), 5)
            except Exception:
                pass
