"""SQLite backend: one file, WAL journal, R*Tree spatial index.

Why R*Tree rather than SpatiaLite: the standard-library ``sqlite3`` of the Pythons we run on
cannot load extensions, while the R*Tree module is built in. The R*Tree answers the bbox
pre-filter (degrees, WGS 84); shapely refines non-point geometries exactly. Nothing extra
to install, and the file opens with any SQLite tool.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from shapely.geometry import box

from emergency.errors import StoreError
from emergency.events import Envelope, utcnow
from emergency.geometry import bounds, to_shape
from emergency.layers import expires_at, layer_of
from emergency.store.base import (
    Accepted,
    EventPage,
    EventQuery,
    JournalCounts,
    JournalFailure,
    OnConflict,
    OutboxRow,
    StoredEvent,
    latest_per_id,
    parse_ts,
    ts,
)
from emergency.store.repository import Dialect, RepositorySpec

R = TypeVar("R")
T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    key TEXT,
    payload BLOB NOT NULL,
    received_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    published_at TEXT,
    applied_at TEXT,
    failed_at TEXT,
    failure TEXT
);
CREATE INDEX IF NOT EXISTS outbox_event ON outbox(event_id);
CREATE INDEX IF NOT EXISTS outbox_unapplied ON outbox(applied_at, published_at);
CREATE TABLE IF NOT EXISTS events (
    rid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    category TEXT,
    layer TEXT NOT NULL,
    observed_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    expires_at TEXT,
    envelope TEXT NOT NULL,
    seq INTEGER,
    ended_at TEXT
);
CREATE TABLE IF NOT EXISTS projection_seq (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO projection_seq VALUES (1, 0);
CREATE INDEX IF NOT EXISTS events_observed ON events(observed_at);
CREATE INDEX IF NOT EXISTS events_layer ON events(layer, observed_at);
CREATE VIRTUAL TABLE IF NOT EXISTS events_rtree USING rtree(rid, minx, maxx, miny, maxy);
"""

# after the columns of older files are added (``_migrate``)
INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS events_seq ON events(seq);
CREATE INDEX IF NOT EXISTS events_layer_newest ON events(layer, observed_at, seq);
CREATE INDEX IF NOT EXISTS events_ending ON events(expires_at) WHERE ended_at IS NULL AND expires_at IS NOT NULL;
"""

ROW = "seq, ended_at, envelope"  # the columns ``_stored`` reads


class SQLiteStore:
    """Store backend on a SQLite file (``sqlite:///path``)."""

    dialect: Dialect = "sqlite"

    def __init__(self, url: str) -> None:
        self.url = url
        self._repositories: dict[RepositorySpec[Any], Any] = {}
        self.path = Path(url.removeprefix("sqlite:///").removeprefix("sqlite://"))
        self._conn: sqlite3.Connection | None = None
        self._pending: list[tuple[tuple, OnConflict, asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task | None = None
        # one thread owns the connection: calls are serialised, transactions never interleave
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._conn is None:
            raise StoreError("store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, self._conn, *args)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(conn)`` on the thread that owns the connection, serialised with every other call."""
        return await self._run(fn)

    async def apply_schema(self, ddl: str) -> None:
        """Run idempotent DDL (a domain repository's tables) on this store's connection."""
        await self._run(lambda c: c.executescript(ddl))

    def repository(self, spec: RepositorySpec[R]) -> R:
        """This store's instance of a domain repository (built once, sharing this connection)."""
        if spec not in self._repositories:
            self._repositories[spec] = spec.sqlite(self)
        return self._repositories[spec]

    async def open(self) -> None:
        def _open() -> sqlite3.Connection:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.executescript(SCHEMA)
            _migrate(conn)
            _add_outbox_failure_columns(conn)
            conn.executescript(INDEXES)
            conn.create_function("geom_hits", 5, _geom_hits, deterministic=True)
            return conn

        try:
            self._conn = await asyncio.get_running_loop().run_in_executor(self._executor, _open)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open SQLite store at {self.path}: {exc}") from None

    async def close(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            await self._flusher  # journal what callers are waiting for before closing
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.get_running_loop().run_in_executor(self._executor, conn.close)

    async def ping(self) -> None:
        await self._run(lambda c: c.execute("SELECT 1").fetchone())

    # -- journal / outbox -------------------------------------------------------------------

    async def accept(self, event: Envelope, topic: str, key: str | None, on_conflict: OnConflict = "keep") -> Accepted:
        """Journal one input. Concurrent calls are group-committed: one transaction for all that
        arrived while the previous one was being written; each call returns after its commit."""
        row = (event.id, topic, key, event.to_json(), ts(event.received_at), ts(utcnow()))
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((row, on_conflict, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_pending())
        return Accepted(event.id, await done)

    async def _flush_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                created = await self._run(_journal, [(row, on_conflict) for row, on_conflict, _ in batch])
            except BaseException as exc:
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for (_, _, done), was_created in zip(batch, created, strict=True):
                if not done.done():
                    done.set_result(was_created)

    async def due_for_publication(self, limit: int, republish_before: datetime) -> list[OutboxRow]:
        claimed_at = ts(utcnow())

        def _due(c: sqlite3.Connection) -> list[OutboxRow]:
            # claimed in one statement (SQLite serialises writers): a relay in another process sharing the file
            # does not publish the same rows until they are due again
            rows = c.execute(
                "UPDATE outbox SET published_at = ? WHERE seq IN (SELECT seq FROM outbox "
                "WHERE applied_at IS NULL AND failed_at IS NULL AND (published_at IS NULL OR published_at < ?) "
                "ORDER BY seq LIMIT ?) RETURNING seq, event_id, topic, key, payload, published_at",
                (claimed_at, ts(republish_before), limit),
            ).fetchall()
            return sorted((OutboxRow(r[0], r[1], r[2], r[3], bytes(r[4]), parse_ts(r[5])) for r in rows),
                          key=lambda r: r.seq)

        return await self._run(_due)

    async def journal_until(self, upto: datetime, after: int = 0) -> list[OutboxRow]:
        def _rows(c: sqlite3.Connection) -> list[OutboxRow]:
            rows = c.execute("SELECT seq, event_id, topic, key, payload FROM outbox WHERE received_at <= ? AND seq > ?"
                             " ORDER BY seq", (ts(upto), after)).fetchall()
            return [OutboxRow(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows]

        return await self._run(_rows)

    async def mark_published(self, seqs: list[int], at: datetime) -> None:
        if seqs:
            marks = ",".join("?" * len(seqs))
            await self._run(lambda c: c.execute(
                f"UPDATE outbox SET published_at = ? WHERE seq IN ({marks})", (ts(at), *seqs)))

    async def reset_unapplied(self) -> int:
        return await self._run(lambda c: c.execute(
            "UPDATE outbox SET published_at = NULL WHERE applied_at IS NULL AND failed_at IS NULL"
            " AND published_at IS NOT NULL"
        ).rowcount)

    async def journal_counts(self) -> JournalCounts:
        row = await self._run(lambda c: c.execute(
            "SELECT count(*), count(published_at), count(applied_at),"
            " count(CASE WHEN failed_at IS NOT NULL AND applied_at IS NULL THEN 1 END) FROM outbox").fetchone())
        return JournalCounts(*row)

    async def mark_failed(self, failures: list[JournalFailure], at: datetime) -> int:
        """Mark the unapplied journal rows of each failure failed (not republished until retried)."""

        def _mark(c: sqlite3.Connection) -> int:
            n = 0
            with _transaction(c):
                for f in failures:
                    sql = ("UPDATE outbox SET failed_at = ?, failure = ? WHERE event_id = ? AND applied_at IS NULL"
                           " AND failed_at IS NULL")
                    params: tuple = (ts(at), f.reason[:2000], f.event_id)
                    if f.received_at is not None:
                        sql += " AND received_at <= ?"
                        params += (ts(f.received_at),)
                    n += c.execute(sql, params).rowcount
            return n

        return await self._run(_mark) if failures else 0

    async def mark_applied(self, events: list[tuple[str, datetime]], at: datetime) -> int:
        """Mark the unapplied journal rows of each ``(event_id, received_at)`` applied, up to that ``received_at``."""

        def _mark(c: sqlite3.Connection) -> int:
            with _transaction(c):
                return sum(c.execute("UPDATE outbox SET applied_at = ? WHERE event_id = ? AND applied_at IS NULL"
                                     " AND received_at <= ?", (ts(at), event_id, ts(received))).rowcount
                           for event_id, received in events)

        return await self._run(_mark) if events else 0

    async def failed_rows(self, limit: int = 1000) -> list[OutboxRow]:
        """Failed, unapplied journal rows, oldest first."""
        rows = await self._run(lambda c: c.execute(
            "SELECT seq, event_id, topic, key, payload, published_at, applied_at, failed_at, failure FROM outbox "
            "WHERE failed_at IS NOT NULL AND applied_at IS NULL ORDER BY seq LIMIT ?", (limit,)).fetchall())
        return [OutboxRow(r[0], r[1], r[2], r[3], bytes(r[4]), parse_ts(r[5]), parse_ts(r[6]), parse_ts(r[7]), r[8])
                for r in rows]

    async def retry_failed(self, seqs: list[int] | None = None) -> list[int]:
        """Clear the failure of these rows (all failed rows when None) so the relay publishes them again."""

        def _retry(c: sqlite3.Connection) -> list[int]:
            with _transaction(c):
                found = [r[0] for r in c.execute(
                    "SELECT seq FROM outbox WHERE failed_at IS NOT NULL AND applied_at IS NULL ORDER BY seq").fetchall()
                    if seqs is None or r[0] in set(seqs)]
                for seq in found:
                    c.execute("UPDATE outbox SET failed_at = NULL, failure = NULL, published_at = NULL WHERE seq = ?",
                              (seq,))
            return found

        return await self._run(_retry)

    # -- projection -------------------------------------------------------------------------

    async def upsert_events(self, events: list[Envelope]) -> int:
        """Insert or replace by id; an older ``received_at`` never overwrites a newer one, and the
        same version again changes nothing. Each write takes the next seq; an item already past
        its expiry is written as ended.

        In the same transaction, journal rows of these ids up to that ``received_at`` are
        marked applied. Returns the number of events written.
        """
        rows = [
            (e.id, e.kind.value, e.category, layer_of(e), ts(e.observed_at), ts(e.received_at),
             ts(expires_at(e)), e.model_dump_json(by_alias=True),
             bounds(e.geometry) if e.geometry is not None else None)
            for e in latest_per_id(events)
        ]
        if not rows:
            return 0
        now = ts(utcnow())

        def _upsert(c: sqlite3.Connection) -> int:
            written = 0
            with _transaction(c):
                for eid, kind, category, layer, observed, received, expires, doc, bb in rows:
                    old = c.execute("SELECT rid, received_at, envelope FROM events WHERE id = ?", (eid,)).fetchone()
                    if old is None or old[1] < received or (old[1] == received and old[2] != doc):
                        written += 1
                        ended = now if expires is not None and expires <= now else None
                        params = (kind, category, layer, observed, received, expires, doc, _next_seq(c), ended)
                        if old is None:
                            rid = c.execute(
                                "INSERT INTO events(kind, category, layer, observed_at, received_at, expires_at,"
                                " envelope, seq, ended_at, id) VALUES (?,?,?,?,?,?,?,?,?,?)", (*params, eid)).lastrowid
                        else:
                            rid = old[0]
                            c.execute(
                                "UPDATE events SET kind=?, category=?, layer=?, observed_at=?, received_at=?,"
                                " expires_at=?, envelope=?, seq=?, ended_at=? WHERE rid=?", (*params, rid))
                            c.execute("DELETE FROM events_rtree WHERE rid = ?", (rid,))
                        if bb is not None:
                            c.execute("INSERT INTO events_rtree VALUES (?,?,?,?,?)", (rid, bb[0], bb[2], bb[1], bb[3]))
                    c.execute(
                        "UPDATE outbox SET applied_at = ? WHERE event_id = ? AND applied_at IS NULL"
                        " AND received_at <= ?", (now, eid, received))
            return written

        return await self._run(_upsert)

    async def query_events(self, query: EventQuery) -> list[Envelope]:
        where, params = _where(query)
        sql = f"SELECT envelope FROM events{where} ORDER BY observed_at, id LIMIT ?"
        docs = await self._run(lambda c: c.execute(sql, (*params, query.limit)).fetchall())
        return [Envelope.model_validate_json(r[0]) for r in docs]

    async def read_events(self, query: EventQuery) -> EventPage:
        where, params = _where(query)
        page_where, page_params = where, list(params)
        if query.before is not None:
            page_where += (" AND " if where else " WHERE ") + "(observed_at, seq) < (?, ?)"
            page_params += [ts(query.before.observed_at), query.before.seq]

        def _read(c: sqlite3.Connection) -> tuple[int, int, list[tuple]]:
            c.execute("BEGIN")  # one snapshot for the head, the count and the page
            try:
                head = _head(c)
                total = c.execute(f"SELECT count(*) FROM events{where}", params).fetchone()[0]
                rows = c.execute(f"SELECT {ROW} FROM events{page_where} ORDER BY observed_at DESC, seq DESC LIMIT ?",
                                 (*page_params, query.limit + 1)).fetchall()
            finally:
                c.execute("COMMIT")
            return head, total, rows

        head, total, rows = await self._run(_read)
        # parsed off the connection's thread: journal writes waiting for it are not held up by a large page
        items = await asyncio.to_thread(lambda: [_stored(r) for r in rows]) if len(rows) > 100 else \
            [_stored(r) for r in rows]
        return EventPage(items[:query.limit], total, head, len(items) > query.limit)

    async def head_seq(self) -> int:
        return await self._run(_head)

    async def changes_after(self, after: int, limit: int, upto: int | None = None) -> list[StoredEvent]:
        sql = f"SELECT {ROW} FROM events WHERE seq > ?" + (" AND seq <= ?" if upto is not None else "")
        params = (after, upto) if upto is not None else (after,)
        rows = await self._run(lambda c: c.execute(sql + " ORDER BY seq LIMIT ?", (*params, limit)).fetchall())
        return [_stored(r) for r in rows]

    async def end_expired(self, now: datetime) -> int:
        at = ts(now)

        def _end(c: sqlite3.Connection) -> int:
            with _transaction(c):
                rids = [r[0] for r in c.execute(
                    "SELECT rid FROM events WHERE ended_at IS NULL AND expires_at IS NOT NULL AND expires_at <= ?"
                    " ORDER BY expires_at, rid", (at,))]
                for rid in rids:
                    c.execute("UPDATE events SET ended_at = ?, seq = ? WHERE rid = ?", (at, _next_seq(c), rid))
            return len(rids)

        return await self._run(_end)

    async def get_event(self, event_id: str) -> Envelope | None:
        row = await self._run(lambda c: c.execute("SELECT envelope FROM events WHERE id = ?", (event_id,)).fetchone())
        return Envelope.model_validate_json(row[0]) if row else None

    async def latest_accepted(self, event_id: str, topic: str) -> Envelope | None:
        row = await self._run(lambda c: c.execute(
            "SELECT payload FROM outbox WHERE event_id = ? AND topic = ? AND failed_at IS NULL "
            "ORDER BY seq DESC LIMIT 1", (event_id, topic)).fetchone())
        return Envelope.model_validate_json(row[0]) if row else None

    async def count_events(self) -> int:
        return (await self._run(lambda c: c.execute("SELECT count(*) FROM events").fetchone()))[0]

    async def clear_projection(self) -> None:
        def _clear(c: sqlite3.Connection) -> None:
            with _transaction(c):
                c.execute("DELETE FROM events")
                c.execute("DELETE FROM events_rtree")
                c.execute("UPDATE outbox SET published_at = NULL, applied_at = NULL")

        await self._run(_clear)


def _where(query: EventQuery) -> tuple[str, list[object]]:
    """`` WHERE ...`` (or "") and its parameters for the filters of ``query`` (not its cursor)."""
    where: list[str] = []
    params: list[object] = []
    if query.bbox is not None:
        minx, miny, maxx, maxy = query.bbox
        where.append("rid IN (SELECT rid FROM events_rtree WHERE minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ?)")
        params += [maxx, minx, maxy, miny]
        # the R*Tree box test is exact for points; lines and polygons whose box only touches are tested exactly
        where.append("(json_extract(envelope, '$.geometry.type') = 'Point'"
                     " OR geom_hits(json_extract(envelope, '$.geometry'), ?, ?, ?, ?))")
        params += [minx, miny, maxx, maxy]
    if query.since is not None:
        where.append("observed_at >= ?")
        params.append(ts(query.since))
    if query.until is not None:
        where.append("observed_at <= ?")
        params.append(ts(query.until))
    if query.active_at is not None:
        where.append("(expires_at IS NULL OR expires_at > ?)")
        params.append(ts(query.active_at))
    for column, values in (("category", query.categories), ("kind", query.kinds), ("layer", query.layers)):
        if values:
            where.append(f"{column} IN ({','.join('?' * len(values))})")
            params += list(values)
    if query.statuses:
        where.append(f"json_extract(envelope, '$.attributes.status') IN ({','.join('?' * len(query.statuses))})")
        params += list(query.statuses)
    return (" WHERE " + " AND ".join(where) if where else ""), params


def _geom_hits(geometry: str | None, minx: float, miny: float, maxx: float, maxy: float) -> bool:
    """Whether a GeoJSON geometry (text, WGS 84) intersects the box (degrees)."""
    return geometry is not None and to_shape(json.loads(geometry)).intersects(box(minx, miny, maxx, maxy))


def _stored(row: tuple) -> StoredEvent:
    return StoredEvent(Envelope.model_validate_json(row[2]), row[0], parse_ts(row[1]))


def _head(c: sqlite3.Connection) -> int:
    return c.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]


def _next_seq(c: sqlite3.Connection) -> int:
    """The next change seq (call inside the writing transaction: SQLite has one writer at a time)."""
    return c.execute("UPDATE projection_seq SET value = value + 1 WHERE id = 1 RETURNING value").fetchone()[0]


def _migrate(c: sqlite3.Connection) -> None:
    """Add the change-sequence columns to a file written before they existed; number its rows."""
    columns = {r[1] for r in c.execute("PRAGMA table_info(events)")}
    with _transaction(c):
        for name in ("seq INTEGER", "ended_at TEXT"):
            if name.split()[0] not in columns:
                c.execute(f"ALTER TABLE events ADD COLUMN {name}")
        for (rid,) in c.execute("SELECT rid FROM events WHERE seq IS NULL ORDER BY received_at, rid").fetchall():
            c.execute("UPDATE events SET seq = ? WHERE rid = ?", (_next_seq(c), rid))


def _add_outbox_failure_columns(c: sqlite3.Connection) -> None:
    """Add ``failed_at`` and ``failure`` to an outbox created before they existed (idempotent)."""
    have = {r[1] for r in c.execute("PRAGMA table_info(outbox)").fetchall()}
    for column in ("failed_at", "failure"):
        if column not in have:
            c.execute(f"ALTER TABLE outbox ADD COLUMN {column} TEXT")


def _journal(c: sqlite3.Connection, items: list[tuple[tuple, OnConflict]]) -> list[bool]:
    """Insert journal rows in one transaction; with "keep", an id already journaled is not added again."""
    created = []
    with _transaction(c):
        for row, on_conflict in items:
            if on_conflict == "keep" and c.execute(
                "SELECT 1 FROM outbox WHERE event_id = ? LIMIT 1", (row[0],)
            ).fetchone():
                created.append(False)
                continue
            c.execute(
                "INSERT INTO outbox(event_id, topic, key, payload, received_at, created_at) VALUES (?,?,?,?,?,?)", row
            )
            created.append(True)
    return created


@contextmanager
def _transaction(c: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""
    c.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        c.execute("ROLLBACK")
        raise
    c.execute("COMMIT")
