"""Bound every broker call in time, even when the awaited call ignores cancellation.

``asyncio.wait_for`` waits for the cancelled call to finish, and some aiokafka calls (a
consumer's ``getmany`` after the broker restarted, for one) never do, which would hang the
caller for ever. ``bounded`` gives up at the deadline regardless, cancelling the call in the
background.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class BrokerTimeout(TimeoutError):
    """A broker call did not finish in time."""


async def bounded(call: Awaitable[T], timeout_s: float, what: str) -> T:
    """Result of ``call``, or BrokerTimeout naming ``what`` after ``timeout_s`` seconds."""
    task = asyncio.ensure_future(call)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
    except asyncio.CancelledError:
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
                       min_backoff_s: float = 0.2, max_backoff_s: float = 5.0) -> None:
    """Call ``step`` for ever; after a failure log it, run ``on_failure`` and back off (doubling, capped).

    Only the cancellation of the current task stops the loop: a CancelledError raised from
    inside the Kafka client counts as a failure like any other.
    """
    backoff = min_backoff_s
    while True:
        try:
            await step()
        except asyncio.CancelledError:
            if really_cancelled():
                raise
            failure = "a call was cancelled inside the Kafka client"
        except Exception as exc:
            failure = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        else:
            backoff = min_backoff_s
            continue
        log.warning("%s: %s; retrying in %.1f s", name, failure, backoff)
        if on_failure is not None:
            result = on_failure()
            if asyncio.iscoroutine(result):
                await result
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, max_backoff_s)
