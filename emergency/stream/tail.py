"""Tail topics without a consumer group: every gateway process sees every message from now on.

Used by the live-map and alert-push gateways. It starts at the end of each partition; if the
broker restarts and forgets its data, positions beyond the new end reset to the earliest
offset, so re-published events are seen again (receivers deduplicate by id).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer

from emergency.config import Settings
from emergency.errors import BrokerError
from emergency.events import Envelope
from emergency.stream.bounded import bounded, keep_running
from emergency.stream.consumer import decode, topic_partitions
from emergency.stream.outage import BrokerOutage

log = logging.getLogger(__name__)

Handler = Callable[[str, Envelope], Awaitable[None]]


class Tail:
    """Read ``topics`` (logical names) from their current end and call ``handler(topic, event)``."""

    def __init__(self, *, settings: Settings, bootstrap: str, topics: list[str], handler: Handler,
                 listening: Callable[[], bool] = lambda: True, outage: BrokerOutage | None = None) -> None:
        """``listening()`` false means nobody would receive anything: records are then skipped undecoded;
        ``outage`` is where broker failures are reported."""
        self.settings, self.bootstrap, self.handler, self.listening = settings, bootstrap, handler, listening
        self.outage = outage
        self._logical = {settings.topic(t): t for t in topics}
        self.ready = asyncio.Event()

    async def run(self) -> None:
        """Run until cancelled; after an outage, read from the beginning what was published meanwhile."""
        state = {"seek_end": True}

        def after_failure() -> None:
            state["seek_end"] = False

        await keep_running(lambda: self._run_once(state["seek_end"]), name=f"tail {list(self._logical.values())}",
                           log=log, on_failure=after_failure, outage=self.outage)

    async def _run_once(self, seek_end: bool) -> None:
        timeout = self.settings.broker_timeout_s
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
            auto_offset_reset="earliest", fetch_max_wait_ms=self.settings.fetch_max_wait_ms,
            request_timeout_ms=int(timeout * 1000) + 1000,
            metadata_max_age_ms=5000,
        )
        try:
            await bounded(consumer.start(), timeout, "start")
            held = await topic_partitions(consumer, list(self._logical), timeout)
            tps = [tp for t in self._logical for tp in held[t]]
            if not tps:
                raise BrokerError("topics do not exist yet")
            consumer.assign(tps)
            if seek_end:
                await bounded(consumer.seek_to_end(*tps), timeout, "seek_to_end")
            else:
                await bounded(consumer.seek_to_beginning(*tps), timeout, "seek_to_beginning")
            self.ready.set()
            while True:
                batches = await bounded(consumer.getmany(timeout_ms=500, max_records=1000), timeout + 5, "getmany")
                for recs in batches.values():
                    if not self.listening():
                        continue
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
                await bounded(consumer.stop(), 5, "stop")
            except Exception:
                pass
