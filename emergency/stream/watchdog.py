"""Broker watchdog: create topics at start, notice a broker that forgot them, recover.

The embedded broker loses everything on restart. When the sentinel topic is gone the
watchdog re-creates the topics as configured and re-queues every journal row that is not yet
applied, so the relay publishes them again. It is also the one that declares a broker outage
over (``BrokerOutage.up``), once the topics are in place again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from emergency.config import Settings
from emergency.metrics import Registry
from emergency.store.base import Store
from emergency.stream.bounded import keep_running
from emergency.stream.outage import BrokerOutage
from emergency.stream.topics import ensure_topics, epoch_present

log = logging.getLogger(__name__)


class BrokerWatchdog:
    """Keeps the topics in place; ``reachable`` tells /readyz whether the broker answers."""

    def __init__(self, *, settings: Settings, bootstrap: str, store: Store, metrics: Registry,
                 on_recovered: Callable[[], None], outage: BrokerOutage | None = None) -> None:
        self.settings, self.bootstrap, self.store, self.metrics = settings, bootstrap, store, metrics
        self.on_recovered = on_recovered
        self.outage = outage or BrokerOutage(bootstrap)
        self.topics_ready = asyncio.Event()
        self._answered = False
        self._known = False
        self._lock = asyncio.Lock()

    @property
    def reachable(self) -> bool:
        """The broker answered the last look and no outage has been seen since."""
        return self._answered and not self.outage.down

    def broker_lost(self, reason: str) -> None:
        """The broker is gone (the embedded one exited): say so once, and hold the relay until topics are back."""
        self.topics_ready.clear()
        self.outage.begin(reason)

    async def check(self) -> None:
        """One look: create topics if the broker does not know them; re-queue after a restart."""
        async with self._lock:  # the periodic look and one asked for after a restart never overlap
            await self._check()

    async def _check(self) -> None:
        try:
            present = await epoch_present(self.settings, self.bootstrap)
        except Exception:
            self._answered = False
            raise
        self._answered = True
        if present:
            self._known = True
            self.topics_ready.set()
            self.outage.up()
            return
        self.topics_ready.clear()
        restarted = self._known
        await ensure_topics(self.settings, self.bootstrap, after_restart=restarted or self.outage.down)
        if restarted:
            self.metrics.broker_restarts.inc()
        requeued = await self.store.reset_unapplied()
        if self.outage.down:
            self.outage.up(f"it had forgotten its topics: re-created them, re-queued {requeued} unapplied journal rows")
        elif restarted:
            log.warning("broker forgot its topics (restart?): topics re-created, %d unapplied journal rows "
                        "re-queued", requeued)
        elif requeued:
            log.warning("re-queued %d unapplied journal rows for publication", requeued)
        self._known = True
        self.topics_ready.set()
        self.on_recovered()

    async def run(self) -> None:
        async def step() -> None:
            await self.check()
            await asyncio.sleep(self.settings.broker_check_interval_s)

        await keep_running(step, name=f"broker {self.bootstrap}", log=log, outage=self.outage,
                           min_backoff_s=self.settings.broker_check_interval_s,
                           max_backoff_s=self.settings.broker_check_interval_s)
