"""The repository interface every store backend implements, and the shapes it exchanges.

The store holds two things:
- the **journal/outbox**: every accepted input, in arrival order, kept for ever; a relay
  publishes rows to Kafka and a row is finished (``applied_at``) only when the projection
  holds its effect;
- the **projection**: the latest state of each event by id (the common operating picture),
  spatially indexed, queried by bbox (WGS 84 degrees), time window, category, kind and layer.
  Every change to it (an upsert that wins, an item ending when its expiry passes) gets the next
  number of one increasing **change sequence** (``seq``), assigned in the change's own
  transaction and in commit order, so a reader resumes with "changes after seq N" and misses
  nothing; a row keeps the seq of its latest change, and an ended row stays for history.

Everything else a domain stores goes through that domain's repository, which shares the
store's connection (``Store.repository``; see ``emergency.store.repository``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol, TypeVar

from emergency.events import Envelope
from emergency.store.repository import Dialect, RepositorySpec

OnConflict = Literal["keep", "append"]
R = TypeVar("R")

MAX_SEQ = 2**63 - 1  # a seq is a signed 64-bit integer in both backends (SQLite INTEGER, PostgreSQL bigint)


@dataclass(frozen=True)
class OutboxRow:
    """One journaled input waiting for (or past) publication to ``topic``."""

    seq: int
    event_id: str
    topic: str
    key: str | None
    payload: bytes
    published_at: datetime | None = None
    applied_at: datetime | None = None
    failed_at: datetime | None = None  # a processor gave up on it (dead-lettered); not republished until retried
    failure: str | None = None         # why, as sent to the dead-letter topic


@dataclass(frozen=True)
class JournalFailure:
    """A message a processor gave up on: the journal rows of ``event_id`` (up to ``received_at``, or all
    unapplied ones when None) are marked failed with ``reason``."""

    event_id: str
    received_at: datetime | None
    reason: str


@dataclass(frozen=True)
class Accepted:
    """Result of journaling: the event id and whether a new journal row was written."""

    event_id: str
    created: bool


@dataclass(frozen=True)
class Cursor:
    """A position in newest-first order: items older than (``observed_at``, ``seq``) come next."""

    observed_at: datetime
    seq: int


@dataclass(frozen=True)
class EventQuery:
    """Filters for the projection. ``bbox`` is (min lon, min lat, max lon, max lat), WGS 84.

    ``before`` (keyset cursor) applies only to ``read_events`` (newest first)."""

    bbox: tuple[float, float, float, float] | None = None
    since: datetime | None = None
    until: datetime | None = None
    categories: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    layers: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()  # the event's ``attributes.status`` is one of these (incidents, alerts)
    active_at: datetime | None = None
    limit: int = 10_000
    before: Cursor | None = None


@dataclass(frozen=True)
class StoredEvent:
    """A projected event with the seq of its latest change and, once its expiry passed, when it ended."""

    event: Envelope
    seq: int
    ended_at: datetime | None = None

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.event.observed_at, self.seq)


@dataclass(frozen=True)
class EventPage:
    """One newest-first page: its items, how many match in all, the head seq when read, and whether older ones follow."""

    items: list[StoredEvent]
    total: int
    head: int
    more: bool


@dataclass(frozen=True)
class JournalCounts:
    total: int
    published: int
    applied: int
    failed: int = 0  # not applied, given up on by a processor (dead-lettered), waiting for an operator's retry

    @property
    def finished(self) -> int:
        """Rows needing no more work from the stream: applied, or failed (until retried)."""
        return self.applied + self.failed


class Store(Protocol):
    """What the rest of the system needs from a store backend."""

    url: str
    dialect: Dialect

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...

    # domain repositories sharing this store's connection
    def repository(self, spec: RepositorySpec[R]) -> R: ...

    # journal / outbox
    async def accept(self, event: Envelope, topic: str, key: str | None, on_conflict: OnConflict = "keep") -> Accepted: ...
    async def due_for_publication(self, limit: int, republish_before: datetime) -> list[OutboxRow]: ...
    async def mark_published(self, seqs: list[int], at: datetime) -> None: ...
    async def reset_unapplied(self) -> int: ...
    async def journal_counts(self) -> JournalCounts: ...
    async def mark_failed(self, failures: list[JournalFailure], at: datetime) -> int: ...
    async def failed_rows(self, limit: int = 1000) -> list[OutboxRow]: ...
    async def journal_until(self, upto: datetime, after: int = 0) -> list[OutboxRow]:
        """Every journal row received at or before ``upto`` with a seq above ``after``, in journal (seq) order (for
        the picture at a time)."""
        ...
    async def retry_failed(self, seqs: list[int] | None = None) -> list[int]: ...
    async def latest_accepted(self, event_id: str, topic: str) -> Envelope | None:
        """The version of ``event_id`` journaled last on ``topic`` (published or not, on the map or not yet), not
        counting versions the processors gave up on (dead-lettered); None when none was accepted."""
        ...
    async def mark_applied(self, events: list[tuple[str, datetime]], at: datetime) -> int:
        """Mark the unapplied journal rows of each ``(event_id, received_at)`` applied, up to that ``received_at``
        (for topics whose effect is not in the projection, such as ``alerts.subscriptions``); how many."""
        ...

    # projection
    async def upsert_events(self, events: list[Envelope]) -> int: ...
    async def query_events(self, query: EventQuery) -> list[Envelope]: ...
    async def get_event(self, event_id: str) -> Envelope | None: ...
    async def count_events(self) -> int: ...
    async def clear_projection(self) -> None: ...

    # the change sequence of the projection
    async def read_events(self, query: EventQuery) -> EventPage:
        """Newest first (``observed_at``, then ``seq``, descending), ``query.limit`` at most, older
        than ``query.before``; with the count of all matches and the head seq read before them."""
        ...

    async def head_seq(self) -> int:
        """The seq of the latest committed change (0 for an empty projection)."""
        ...

    async def changes_after(self, after: int, limit: int, upto: int | None = None) -> list[StoredEvent]:
        """Items whose latest change has ``after < seq <= upto``, seq ascending: each id once, in its latest state."""
        ...

    async def end_expired(self, now: datetime) -> int:
        """Record every item whose expiry is at or before ``now`` as ended, each with a new seq; how many."""
        ...


def ts(dt: datetime | None) -> str | None:
    """Fixed-width UTC text for a datetime, so text comparison orders like time."""
    if dt is None:
        return None
    return dt.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def parse_ts(value: str | None) -> datetime | None:
    """Inverse of ``ts``."""
    if value is None:
        return None
    return datetime.fromisoformat(value)


def latest_per_id(events: list[Envelope]) -> list[Envelope]:
    """Collapse a batch to one event per id, keeping the latest ``received_at`` (ties: last seen)."""
    best: dict[str, Envelope] = {}
    for e in events:
        cur = best.get(e.id)
        if cur is None or e.received_at >= cur.received_at:
            best[e.id] = e
    return list(best.values())
