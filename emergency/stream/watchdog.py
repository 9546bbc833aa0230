"""Broker watchdog: create topics at start, notice a broker that forgot them, recover.

The embedded broker loses everything on restart. When the sentinel topic is gone the
watchdog re-creates the topics as configured and re-queues every journal row that is not yet
applied, so the relay publishes them again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from emergency.config import Settings
from emergency.metrics import Registry
from emergency.store.base import Store
from emergency.stream.bounded import keep_running
from emergency.stream.topics import ensure_topics, epoch_present

log = logging.getLogger(__name__)


class BrokerWatchdog:
    """Keeps the topics in place; ``reachable`` tells /readyz whether the broker answers."""

    def __init__(self, *, settings: Settings, bootstrap: str, store: Store, metrics: Registry,
                 on_recovered: Callable[[], None]) -> None:
        self.settings, self.bootstrap, self.store, self.metrics = settings, bootstrap, store, metrics
        self.on_recovered = on_recovered
        self.reachable = False
        self.topics_ready = asyncio.Event()
        self._known = False

    async def check(self) -> None:
        """One look: create topics if the broker does not know them; re-queue after a restart."""
        try:
            present = await epoch_present(self.settings, self.bootstrap)
        except Exception:
            self.reachable = False
            raise
        self.reachable = True
        if present:
            self._known = True
            self.topics_ready.set()
            return
        await ensure_topics(self.settings, self.bootstrap)
        if self._known:
            self.metrics.broker_restarts.inc()
            log.warning("broker forgot its topics (restart?): topics re-created")
        requeued = await self.store.reset_unapplied()
        if requeued:
            log.warning("re-queued %d unapplied journal rows for publication", requeued)
        self._known = True
        self.topics_ready.set()
        self.on_recovered()

    async def run(self) -> None:
        async def step() -> None:
            await self.check()
            await asyncio.sleep(self.settings.broker_check_interval_s)

        await keep_running(step, name=f"broker {self.bootstrap}", log=log,
                           min_backoff_s=self.settings.broker_check_interval_s,
                           max_backoff_s=self.settings.broker_check_interval_s)
