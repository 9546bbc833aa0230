"""Bound every broker call in time, even when the awaited call ignores cancellation.

``asyncio.wait_for`` waits for the cancelled call to finish, and some aiokafka calls (a
consumer's ``getmany`` after the broker restarted, for one) never do, which would hang the
caller for ever. ``bounded`` gives up at the deadline regardless, cancelling the call in the
background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from emergency.stream.outage import BrokerOutage

T = TypeVar("T")


class BrokerTimeout(TimeoutError):
    """A broker call did not finish in time."""


async def bounded(call: Awaitable[T], timeout_s: float, what: str, *, finish_on_cancel: bool = False) -> T:
    """Result of ``call``, or BrokerTimeout naming ``what`` after ``timeout_s`` seconds.

    ``finish_on_cancel`` (an offset commit): when the caller is cancelled, the call is let finish first (within
    ``timeout_s``), then the cancellation goes on. aiokafka sends a commit as a shielded inner task; cancelling
    the commit leaves that request alone, and when its connection closes at shutdown its failure is never
    retrieved ("Task exception was never retrieved"). A commit let finish also saves the offsets."""
    task = asyncio.ensure_future(call)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
    except asyncio.CancelledError:
        if finish_on_cancel and not task.done():
            with contextlib.suppress(asyncio.CancelledError):  # cancelled again meanwhile: give up on it
                await asyncio.wait({task}, timeout=timeout_s)
        task.cancel()
        task.add_done_callback(_consume)  # nobody awaits it now: retrieve its outcome, or asyncio logs it at exit
        raise
    if not done:
        task.cancel()
        task.add_done_callback(_consume)
        raise BrokerTimeout(f"{what} did not finish within {timeout_s:g} s")
    if task.cancelled():  # cancelled inside the client library, not by our caller
        raise BrokerCallCancelled(f"{what} was cancelled by the Kafka client")
    return task.result()


class BrokerCallCancelled(RuntimeError):
    """The Kafka client cancelled its own call (seen when a connection drops)."""


def _consume(task: asyncio.Future) -> None:
    """Retrieve an abandoned call's outcome (a cancelled gather ends with a CancelledError *exception*)."""
    if not task.cancelled():
        task.exception()


def really_cancelled() -> bool:
    """True when the current task itself is being cancelled (not a stray CancelledError from a library)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def keep_running(step: Callable[[], Awaitable[None]], *, name: str, log: logging.Logger,
                       on_failure: Callable[[], Awaitable[None] | None] | None = None,
                       min_backoff_s: float = 0.2, max_backoff_s: float = 5.0,
                       outage: BrokerOutage | None = None, remind_every_s: float = 60.0) -> None:
    """Call ``step`` for ever; after a failure log it, run ``on_failure`` and back off (doubling, capped).

    Only the cancellation of the current task stops the loop: a CancelledError raised from
    inside the Kafka client counts as a failure like any other. A run of failures is logged once
    (a warning, then a reminder every ``remind_every_s``, and an info when a step works again);
    one that begins with the broker's trouble is said by ``outage`` instead, once for every
    component.
    """
    backoff = min_backoff_s
    streak, absorbed, said_at = 0, False, 0.0
    while True:
        exc: BaseException | None = None
        try:
            await step()
        except asyncio.CancelledError:
            if really_cancelled():
                raise
            failure = "a call was cancelled inside the Kafka client"
        except Exception as e:
            exc = e
            failure = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        else:
            if streak and not absorbed:
                log.info("%s: working again after %d failure(s)", name, streak)
            backoff, streak, absorbed = min_backoff_s, 0, False
            continue
        streak += 1
        now = time.monotonic()
        if streak == 1 and outage is not None and outage.failed(name, failure, exc):
            absorbed, said_at = True, now
        elif absorbed and (outage is not None and outage.down or now - said_at < remind_every_s):
            log.debug("%s: %s (the broker outage is reported once)", name, failure)
        elif streak == 1:
            said_at = now
            log.warning("%s: %s; retrying in %.1f s", name, failure, backoff)
        elif now - said_at >= remind_every_s:
            said_at = now
            log.warning("%s: still failing after %d tries: %s; retrying", name, streak, failure)
        else:
            log.debug("%s: %s (try %d); retrying in %.1f s", name, failure, streak, backoff)
        if on_failure is not None:
            result = on_failure()
            if asyncio.iscoroutine(result):
                await result
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, max_backoff_s)
