"""Say a broker outage once: a warning when it starts, an info when the broker answers again.

While the broker is down every component that talks to it fails in a loop (the relay, each
consumer group, the gateway tail, the watchdog), and the Kafka client logs each failed
connection attempt itself, well over a hundred lines a second. ``BrokerOutage`` is the one
place that says it: the first failure opens the outage (one warning), failures while it is
open are counted and logged at DEBUG, and ``up()`` closes it with one info line saying how
long it lasted and how much was held back. ``KafkaClientLog`` holds back the Kafka client's own
lines while an outage is open, and outside one passes each kind of line at most once a minute
(with a count of the ones held back), so trouble with an external cluster still shows. A client
line that would show waits ``wait_s`` first and is judged again: the client notices a killed
broker's closed socket a moment before the process that ran it can be reaped, and such a line
belongs to the outage that opens in that moment.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable

from aiokafka.errors import KafkaError

from emergency.errors import BrokerError
from emergency.metrics import Registry
from emergency.stream.bounded import BrokerCallCancelled, BrokerTimeout

log = logging.getLogger(__name__)

BROKER_FAILURES: tuple[type[BaseException], ...] = (KafkaError, BrokerError, BrokerTimeout, BrokerCallCancelled)
"""Failures that mean the broker (not the store, not a message) is in trouble; the Kafka client wraps its
socket errors in ``KafkaConnectionError``, so a plain OSError is the store's."""


def is_broker_failure(exc: BaseException | None) -> bool:
    """Whether ``exc`` (None: a stray cancellation inside the Kafka client) is the broker's trouble."""
    return exc is None or isinstance(exc, BROKER_FAILURES)


class BrokerOutage:
    """The state of one broker connection, shared by every component of the process that uses it.

    ``cause()`` may explain a failure (the embedded broker's exit status); it is asked when a
    component's failure opens the outage, so the one warning says why. For ``settle_s`` after
    the outage ended, failures of connections made before it ended are counted, not reported
    as a new outage (unless ``cause()`` names one).
    """

    settle_s = 30.0

    def __init__(self, bootstrap: str, *, metrics: Registry | None = None,
                 cause: Callable[[], str | None] = lambda: None) -> None:
        self.bootstrap, self.cause, self.metrics = bootstrap, cause, metrics
        self.since: float | None = None
        self.ended_at = float("-inf")
        self.held_back = 0
        self.count = 0  # outages seen
        KafkaClientLog.install(self)

    @property
    def down(self) -> bool:
        return self.since is not None

    def begin(self, reason: str) -> None:
        """The broker is known to be unreachable: warn once (later calls while it is down only count)."""
        if self.since is not None:
            self.held_back += 1
            log.debug("broker %s still down: %s", self.bootstrap, reason)
            return
        self.since, self.held_back = time.monotonic(), 0
        self.count += 1
        if self.metrics is not None:
            self.metrics.broker_outages.inc()
        log.warning("broker %s unreachable: %s; retrying (further connection errors are held back until it "
                    "answers again)", self.bootstrap, reason)

    def failed(self, who: str, failure: str, exc: BaseException | None) -> bool:
        """A component's call failed; True when the outage says it (the caller then logs nothing itself)."""
        if not is_broker_failure(exc):
            return False
        cause = self.cause()
        if self.since is None and not cause and time.monotonic() - self.ended_at < self.settle_s:
            self.held_back += 1  # a connection made before the outage ended, failing now: part of the same story
            log.debug("broker %s just came back; %s still failed: %s", self.bootstrap, who, failure)
        elif self.since is None:
            self.begin(cause if cause else f"{who}: {failure}")
        else:
            self.held_back += 1
            log.debug("broker %s down: %s: %s", self.bootstrap, who, failure)
        return True

    def up(self, note: str = "") -> None:
        """The broker answers again (the watchdog saw it): one info line when an outage was open."""
        if self.since is None:
            return
        self.ended_at = time.monotonic()
        lasted, self.since = self.ended_at - self.since, None
        log.info("broker %s answering again after %.1f s%s (%d connection errors held back)", self.bootstrap,
                 lasted, f"; {note}" if note else "", self.held_back)


class KafkaClientLog(logging.Filter):
    """Filter on the ``aiokafka`` loggers: nothing while an outage is open or just over (counted there);
    otherwise each kind of line (logger, level, message template) at most once per ``every_s`` seconds.

    A line that passes is first held for ``wait_s`` seconds (when it comes from inside an event loop and
    a broker is watched) and judged again then: a connection error seen just before its outage opens is
    counted in that outage, not shown beside its warning."""

    every_s = 60.0
    wait_s = 2.0
    _WAITED = "_emergency_waited"
    _installed: KafkaClientLog | None = None

    def __init__(self) -> None:
        super().__init__()
        self.outages: weakref.WeakSet[BrokerOutage] = weakref.WeakSet()
        self.last: dict[tuple[str, int, str], tuple[float, int]] = {}

    @classmethod
    def install(cls, outage: BrokerOutage) -> None:
        """Watch ``outage`` too; the filter itself is installed on every ``aiokafka`` logger once per process."""
        if cls._installed is None:
            cls._installed = cls()
            import aiokafka.admin  # noqa: F401  (every aiokafka module's logger exists once these are imported)
            import aiokafka.consumer  # noqa: F401
            import aiokafka.producer  # noqa: F401

            for name in ["aiokafka", *logging.root.manager.loggerDict]:
                if name == "aiokafka" or name.startswith("aiokafka."):
                    logging.getLogger(name).addFilter(cls._installed)
        cls._installed.outages.add(outage)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        outages = list(self.outages)
        now = time.monotonic()
        for outage in outages:  # down, or just back (connections made before it ended fail once more)
            if outage.down or now - outage.ended_at < outage.settle_s:
                outage.held_back += 1
                return False
        for outage in outages:  # the embedded broker died and nobody noticed yet: say that, not this
            cause = outage.cause()
            if cause:
                outage.begin(cause)
                outage.held_back += 1
                return False
        if getattr(record, self._WAITED, False):  # held for wait_s, and no outage opened meanwhile
            return True
        key = (record.name, record.levelno, str(record.msg))
        at, held = self.last.get(key, (float("-inf"), 0))
        if now - at < self.every_s:
            self.last[key] = (at, held + 1)
            return False
        if len(self.last) > 1000:
            self.last.clear()
        self.last[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} ({held} like this held back in the last {self.every_s:.0f} s)"
        try:
            loop = asyncio.get_running_loop() if outages else None
        except RuntimeError:  # logged outside the event loop: nothing can call it back, judge it now
            loop = None
        if loop is not None:
            setattr(record, self._WAITED, True)
            loop.call_later(self.wait_s, logging.getLogger(record.name).handle, record)
            return False
        return True
