"""Alert threads and their lifecycle (active → updated → cancelled / expired), IPAWS-OPEN style.

A thread starts with an ``Alert``; each ``Update`` or ``Cancel`` references the messages it
replaces (``sender,identifier,sent``). ``LifecycleRegistry.admit`` refuses what IPAWS-OPEN
refuses, with codes operators recognise from its responses: ``duplicate`` (identifier already
used by this sender), ``missing-reference`` (Update/Cancel without references, or referencing a
message never seen), ``expired-reference`` (referencing a message whose every info has expired),
``cancelled-reference`` (the thread is already cancelled). Times are aware datetimes.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from alerts.cap.model import Alert, parse_date
from alerts.cap.validate import Finding


class State(str, Enum):
    active = "active"
    updated = "updated"
    cancelled = "cancelled"
    expired = "expired"


@dataclass
class Thread:
    """One alert and its updates; ``messages`` are reference keys in arrival order."""

    first: str
    messages: list[str] = field(default_factory=list)
    cancelled: bool = False


@dataclass(frozen=True)
class Entry:
    alert: Alert
    expires: datetime | None  # latest info expiry; None = does not expire
    thread: str


def _expires(alert: Alert) -> datetime | None:
    dates = [parse_date(i.expires) for i in alert.info]
    if not dates or any(d is None for d in dates):
        return None
    return max(d for d in dates if d is not None)


def _finding(code: str, path: str, message: str) -> Finding:
    return Finding(f"lifecycle.{code}", "error", path, message)


class LifecycleRegistry:
    """In-memory registry of every message admitted, keyed by (sender, identifier)."""

    def __init__(self) -> None:
        self._by_id: dict[tuple[str, str], Entry] = {}
        self._threads: dict[str, Thread] = {}
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def thread_lock(self, alert_id: str) -> asyncio.Lock:
        """The lock serialising changes (Update/Cancel) to one alert thread within this process."""
        lock = self._locks.get(alert_id)
        if lock is None:
            lock = self._locks[alert_id] = asyncio.Lock()
        return lock

    def get(self, sender: str, identifier: str) -> Entry | None:
        return self._by_id.get((sender, identifier))

    def check(self, alert: Alert, now: datetime) -> list[Finding]:
        """What IPAWS-OPEN would refuse in ``alert`` given the messages admitted so far."""
        if (alert.sender, alert.identifier) in self._by_id:
            return [_finding("duplicate", "/alert/identifier",
                             f"{alert.identifier!r} was already used by {alert.sender!r}")]
        if alert.msg_type not in ("Update", "Cancel"):
            return []
        refs = alert.reference_list()
        if not refs:
            return [_finding("missing-reference", "/alert/references",
                             f"a {alert.msg_type} must reference the message(s) it replaces")]
        out = []
        for sender, identifier, _sent in refs:
            entry = self._by_id.get((sender, identifier))
            if entry is None:
                out.append(_finding("missing-reference", "/alert/references",
                                    f"{sender},{identifier} is not a message known here"))
            elif self._threads[entry.thread].cancelled:
                out.append(_finding("cancelled-reference", "/alert/references",
                                    f"{identifier!r} belongs to a thread already cancelled"))
            elif entry.expires is not None and entry.expires <= now:
                out.append(_finding("expired-reference", "/alert/references",
                                    f"{identifier!r} expired at {entry.alert.info[0].expires}"))
        return out

    def admit(self, alert: Alert, now: datetime) -> list[Finding]:
        """Check ``alert`` and, when nothing is refused, record it (starting or extending a thread)."""
        findings = self.check(alert, now)
        if findings:
            return findings
        key = alert.reference_key()
        if alert.msg_type in ("Update", "Cancel"):
            sender, identifier, _ = alert.reference_list()[0]
            thread_id = self._by_id[(sender, identifier)].thread
        else:
            thread_id = key
            self._threads[thread_id] = Thread(first=key)
        thread = self._threads[thread_id]
        thread.messages.append(key)
        if alert.msg_type == "Cancel":
            thread.cancelled = True
        self._by_id[(alert.sender, alert.identifier)] = Entry(alert, _expires(alert), thread_id)
        return []

    def remember(self, alert: Alert) -> None:
        """Record a message issued earlier (e.g. read back from the store after a restart) without checks;
        an Update/Cancel joins the thread of its first reference."""
        if (alert.sender, alert.identifier) in self._by_id:
            return
        refs = alert.reference_list()
        parent = self._by_id.get((refs[0][0], refs[0][1])) if refs else None
        thread_id = parent.thread if parent else alert.reference_key()
        thread = self._threads.setdefault(thread_id, Thread(first=alert.reference_key()))
        thread.messages.append(alert.reference_key())
        thread.cancelled = thread.cancelled or alert.msg_type == "Cancel"
        self._by_id[(alert.sender, alert.identifier)] = Entry(alert, _expires(alert), thread_id)

    def state(self, sender: str, identifier: str, now: datetime) -> State | None:
        """The state of the thread a message belongs to, or None for an unknown message."""
        entry = self._by_id.get((sender, identifier))
        if entry is None:
            return None
        thread = self._threads[entry.thread]
        if thread.cancelled:
            return State.cancelled
        latest = self._by_id_key(thread.messages[-1])
        if latest.expires is not None and latest.expires <= now:
            return State.expired
        return State.updated if len(thread.messages) > 1 else State.active

    def live_references(self, sender: str, identifier: str, now: datetime) -> str:
        """The ``references`` an Update/Cancel of this thread must carry: every non-expired message."""
        entry = self._by_id[(sender, identifier)]
        keys = [k for k in self._threads[entry.thread].messages
                if (e := self._by_id_key(k)).expires is None or e.expires > now]
        return " ".join(keys)

    def _by_id_key(self, key: str) -> Entry:
        sender, identifier, _ = key.split(",")
        return self._by_id[(sender, identifier)]
