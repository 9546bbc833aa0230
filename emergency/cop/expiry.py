"""The expiry sweeper: closures past their ``end`` and alerts past their ``expires`` leave the live picture.

It runs with the projector workers. Each pass asks the store to record every item whose expiry
has passed as ended, with a new change seq (the row stays for history; ``active`` reads exclude
it as before), so open maps receive a ``remove`` change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from emergency.events import utcnow
from emergency.store.base import Store

log = logging.getLogger(__name__)


async def sweep_expired(*, store: Store, interval_s: float, on_ended: Callable[[], None]) -> None:
    """Every ``interval_s`` seconds, end what expired; call ``on_ended`` when something did."""
    while True:
        try:
            if await store.end_expired(utcnow()):
                on_ended()
        except Exception as exc:  # a store hiccup: the next pass catches up
            log.warning("expiry sweep failed: %s", exc or type(exc).__name__)
        await asyncio.sleep(interval_s)
