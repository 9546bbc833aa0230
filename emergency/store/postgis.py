"""PostgreSQL + PostGIS backend (``postgresql://...``): GIST-indexed geometry, same interface as SQLite.

Geometries are stored as ``geometry(Geometry, 4326)`` (WGS 84 degrees); bbox queries use
``&&`` against the GIST index and ``ST_Intersects`` for the exact test.

Change seqs come from the sequence ``projection_seq``; every transaction that takes one holds
the transaction-level advisory lock ``SEQ_LOCK`` first, so transactions that number changes run
one at a time and commit in seq order, even with several projector processes: a reader that
sees seq N sees every seq below it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, TypeVar

import asyncpg

from emergency.errors import StoreError
from emergency.events import Envelope, utcnow
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
)
from emergency.store.repository import Dialect, RepositorySpec

R = TypeVar("R")

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE TABLE IF NOT EXISTS outbox (
    seq BIGSERIAL PRIMARY KEY,
    event_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    key TEXT,
    payload BYTEA NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    published_at TIMESTAMPTZ,
    applied_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS outbox_event ON outbox(event_id);
CREATE INDEX IF NOT EXISTS outbox_unapplied ON outbox(seq) WHERE applied_at IS NULL;
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS failed_at TIMESTAMPTZ;
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS failure TEXT;
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    category TEXT,
    layer TEXT NOT NULL,
    observed_at TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,
    geom geometry(Geometry, 4326),
    envelope JSONB NOT NULL,
    seq BIGINT,
    ended_at TIMESTAMPTZ
);
ALTER TABLE events ADD COLUMN IF NOT EXISTS seq BIGINT;
ALTER TABLE events ADD COLUMN IF NOT EXISTS ended_at TIMESTAMPTZ;
CREATE SEQUENCE IF NOT EXISTS projection_seq;
UPDATE events SET seq = nextval('projection_seq') WHERE seq IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS events_seq ON events(seq);
CREATE INDEX IF NOT EXISTS events_layer_newest ON events(layer, observed_at, seq);
CREATE INDEX IF NOT EXISTS events_ending ON events(expires_at) WHERE ended_at IS NULL AND expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_geom ON events USING GIST (geom);
CREATE INDEX IF NOT EXISTS events_observed ON events(observed_at);
CREATE INDEX IF NOT EXISTS events_layer ON events(layer, observed_at);
"""

SEQ_LOCK = 727002  # pg_advisory_xact_lock key held by every transaction that takes change seqs

UPSERT = """
INSERT INTO events(id, kind, category, layer, observed_at, received_at, expires_at, geom, envelope, seq, ended_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, ST_SetSRID(ST_GeomFromGeoJSON($8), 4326), $9::jsonb, nextval('projection_seq'),
        $10)
ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, category = EXCLUDED.category, layer = EXCLUDED.layer,
    observed_at = EXCLUDED.observed_at, received_at = EXCLUDED.received_at, expires_at = EXCLUDED.expires_at,
    geom = EXCLUDED.geom, envelope = EXCLUDED.envelope, seq = EXCLUDED.seq, ended_at = EXCLUDED.ended_at
"""

# the stored state of a batch's ids: (id, received_at, whether the stored envelope equals the batch's)
STORED_STATE = """
SELECT e.id, e.received_at, e.envelope = b.doc::jsonb
FROM events e JOIN unnest($1::text[], $2::text[]) AS b(id, doc) ON e.id = b.id
"""

ROW = "seq, ended_at, envelope::text"  # the columns ``_stored`` reads


HEAD = "SELECT coalesce(max(seq), 0) FROM events"


def _where(query: EventQuery) -> tuple[str, list[object]]:
    """`` WHERE ...`` (or "") with $n placeholders and its parameters for the filters of ``query`` (not its cursor)."""
    where: list[str] = []
    params: list[object] = []

    def arg(value: object) -> str:
        params.append(value)
        return f"${len(params)}"

    if query.bbox is not None:
        env = f"ST_MakeEnvelope({arg(query.bbox[0])}, {arg(query.bbox[1])}, {arg(query.bbox[2])}, {arg(query.bbox[3])}, 4326)"
        where.append(f"geom && {env} AND ST_Intersects(geom, {env})")
    if query.since is not None:
        where.append(f"observed_at >= {arg(query.since)}")
    if query.until is not None:
        where.append(f"observed_at <= {arg(query.until)}")
    if query.active_at is not None:
        where.append(f"(expires_at IS NULL OR expires_at > {arg(query.active_at)})")
    for column, values in (("category", query.categories), ("kind", query.kinds), ("layer", query.layers)):
        if values:
            where.append(f"{column} = ANY({arg(list(values))}::text[])")
    if query.statuses:
        where.append(f"envelope->'attributes'->>'status' = ANY({arg(list(query.statuses))}::text[])")
    return (" WHERE " + " AND ".join(where) if where else ""), params


def _stored(row: asyncpg.Record) -> StoredEvent:
    return StoredEvent(Envelope.model_validate_json(row[2]), row[0], row[1])


class PostGISStore:
    """Store backend on PostgreSQL with the PostGIS extension."""

    dialect: Dialect = "postgis"

    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: asyncpg.Pool | None = None
        self._repositories: dict[RepositorySpec[Any], Any] = {}

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("store is not open")
        return self._pool

    async def apply_schema(self, ddl: str) -> None:
        """Run idempotent DDL (the store's or a domain repository's tables), one process at a time."""
        async with self.pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock(727001)")  # several processes may start at once
            try:
                await conn.execute(ddl)
            finally:
                await conn.execute("SELECT pg_advisory_unlock(727001)")

    def repository(self, spec: RepositorySpec[R]) -> R:
        """This store's instance of a domain repository (built once, sharing this pool)."""
        if spec not in self._repositories:
            self._repositories[spec] = spec.postgis(self)
        return self._repositories[spec]

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=8, timeout=10)
            await self.apply_schema(SCHEMA)
        except (OSError, asyncpg.PostgresError) as exc:
            raise StoreError(f"cannot open PostGIS store: {exc}") from None

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def ping(self) -> None:
        await self.pool.fetchval("SELECT 1")

    # -- journal / outbox -------------------------------------------------------------------

    async def accept(self, event: Envelope, topic: str, key: str | None, on_conflict: OnConflict = "keep") -> Accepted:
        async with self.pool.acquire() as conn, conn.transaction():
            if on_conflict == "keep":
                # serialise concurrent submissions of the same id
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", event.id)
                if await conn.fetchval("SELECT 1 FROM outbox WHERE event_id = $1 LIMIT 1", event.id):
                    return Accepted(event.id, False)
            await conn.execute(
                "INSERT INTO outbox(event_id, topic, key, payload, received_at, created_at) VALUES ($1,$2,$3,$4,$5,$6)",
                event.id, topic, key, event.to_json(), event.received_at, utcnow(),
            )
        return Accepted(event.id, True)

    async def journal_until(self, upto: datetime, after: int = 0) -> list[OutboxRow]:
        rows = await self.pool.fetch("SELECT seq, event_id, topic, key, payload FROM outbox WHERE received_at <= $1 "
                                     "AND seq > $2 ORDER BY seq", upto, after)
        return [OutboxRow(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows]

    async def due_for_publication(self, limit: int, republish_before: datetime) -> list[OutboxRow]:
        # claimed (SKIP LOCKED, then published_at = now): relays of several processes on one database share the
        # due rows instead of each publishing all of them; a claimed row not applied is due again after
        # ``republish_before``, as a published one is
        rows = await self.pool.fetch(
            "WITH due AS (SELECT seq FROM outbox "
            "WHERE applied_at IS NULL AND failed_at IS NULL AND (published_at IS NULL OR published_at < $1) "
            "ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED) "
            "UPDATE outbox o SET published_at = $3 FROM due WHERE o.seq = due.seq "
            "RETURNING o.seq, o.event_id, o.topic, o.key, o.payload, o.published_at",
            republish_before, limit, utcnow(),
        )
        return sorted((OutboxRow(r[0], r[1], r[2], r[3], bytes(r[4]), r[5]) for r in rows), key=lambda r: r.seq)

    async def mark_published(self, seqs: list[int], at: datetime) -> None:
        if seqs:
            await self.pool.execute("UPDATE outbox SET published_at = $1 WHERE seq = ANY($2::bigint[])", at, seqs)

    async def reset_unapplied(self) -> int:
        status = await self.pool.execute(
            "UPDATE outbox SET published_at = NULL WHERE applied_at IS NULL AND failed_at IS NULL"
            " AND published_at IS NOT NULL"
        )
        return int(status.split()[-1])

    async def journal_counts(self) -> JournalCounts:
        r = await self.pool.fetchrow(
            "SELECT count(*), count(published_at), count(applied_at),"
            " count(*) FILTER (WHERE failed_at IS NOT NULL AND applied_at IS NULL) FROM outbox")
        return JournalCounts(r[0], r[1], r[2], r[3])

    async def mark_failed(self, failures: list[JournalFailure], at: datetime) -> int:
        """Mark the unapplied journal rows of each failure failed (not republished until retried)."""
        if not failures:
            return 0
        n = 0
        async with self.pool.acquire() as conn, conn.transaction():
            for f in failures:
                status = await conn.execute(
                    "UPDATE outbox SET failed_at = $1, failure = $2 WHERE event_id = $3 AND applied_at IS NULL"
                    " AND failed_at IS NULL AND ($4::timestamptz IS NULL OR received_at <= $4)",
                    at, f.reason[:2000], f.event_id, f.received_at)
                n += int(status.split()[-1])
        return n

    async def mark_applied(self, events: list[tuple[str, datetime]], at: datetime) -> int:
        """Mark the unapplied journal rows of each ``(event_id, received_at)`` applied, up to that ``received_at``."""
        if not events:
            return 0
        n = 0
        async with self.pool.acquire() as conn, conn.transaction():
            for event_id, received in events:
                status = await conn.execute(
                    "UPDATE outbox SET applied_at = $1 WHERE event_id = $2 AND applied_at IS NULL AND received_at <= $3",
                    at, event_id, received)
                n += int(status.split()[-1])
        return n

    async def failed_rows(self, limit: int = 1000) -> list[OutboxRow]:
        """Failed, unapplied journal rows, oldest first."""
        rows = await self.pool.fetch(
            "SELECT seq, event_id, topic, key, payload, published_at, applied_at, failed_at, failure FROM outbox "
            "WHERE failed_at IS NOT NULL AND applied_at IS NULL ORDER BY seq LIMIT $1", limit)
        return [OutboxRow(r[0], r[1], r[2], r[3], bytes(r[4]), r[5], r[6], r[7], r[8]) for r in rows]

    async def retry_failed(self, seqs: list[int] | None = None) -> list[int]:
        """Clear the failure of these rows (all failed rows when None) so the relay publishes them again."""
        rows = await self.pool.fetch(
            "UPDATE outbox SET failed_at = NULL, failure = NULL, published_at = NULL "
            "WHERE failed_at IS NOT NULL AND applied_at IS NULL AND ($1::bigint[] IS NULL OR seq = ANY($1::bigint[])) "
            "RETURNING seq", seqs)
        return sorted(r[0] for r in rows)

    # -- projection -------------------------------------------------------------------------

    async def upsert_events(self, events: list[Envelope]) -> int:
        """Insert or replace by id (newer ``received_at`` wins; the same version again changes nothing),
        each write with the next seq (ended already when past its expiry), and mark journal rows
        applied, in one transaction."""
        batch = sorted(latest_per_id(events), key=lambda x: x.id)
        if not batch:
            return 0
        now = utcnow()
        docs = [e.model_dump_json(by_alias=True) for e in batch]
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", SEQ_LOCK)  # seq order == commit order
            stored = {r[0]: (r[1], r[2]) for r in await conn.fetch(STORED_STATE, [e.id for e in batch], docs)}
            rows = []
            for e, doc in zip(batch, docs, strict=True):
                old = stored.get(e.id)
                if old is None or old[0] < e.received_at or (old[0] == e.received_at and not old[1]):
                    end = expires_at(e)
                    rows.append((e.id, e.kind.value, e.category, layer_of(e), e.observed_at, e.received_at, end,
                                 json.dumps(e.geometry) if e.geometry is not None else None, doc,
                                 now if end is not None and end <= now else None))
            if rows:
                await conn.executemany(UPSERT, rows)
            await conn.executemany(
                "UPDATE outbox SET applied_at = $1 WHERE event_id = $2 AND applied_at IS NULL AND received_at <= $3",
                [(now, e.id, e.received_at) for e in batch],
            )
        return len(rows)

    async def query_events(self, query: EventQuery) -> list[Envelope]:
        where, params = _where(query)
        rows = await self.pool.fetch(
            f"SELECT envelope::text FROM events{where} ORDER BY observed_at, id LIMIT ${len(params) + 1}",
            *params, query.limit)
        return [Envelope.model_validate_json(r[0]) for r in rows]

    async def read_events(self, query: EventQuery) -> EventPage:
        where, params = _where(query)
        page_where, page_params = where, list(params)
        if query.before is not None:
            n = len(page_params)
            page_where += (" AND " if where else " WHERE ") + f"(observed_at, seq) < (${n + 1}, ${n + 2})"
            page_params += [query.before.observed_at, query.before.seq]
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            head = await conn.fetchval(HEAD)  # one snapshot for the head, the count and the page
            total = await conn.fetchval(f"SELECT count(*) FROM events{where}", *params)
            rows = await conn.fetch(
                f"SELECT {ROW} FROM events{page_where} ORDER BY observed_at DESC, seq DESC "
                f"LIMIT ${len(page_params) + 1}", *page_params, query.limit + 1)
        items = [_stored(r) for r in rows]
        return EventPage(items[:query.limit], total, head, len(items) > query.limit)

    async def head_seq(self) -> int:
        return await self.pool.fetchval(HEAD)

    async def changes_after(self, after: int, limit: int, upto: int | None = None) -> list[StoredEvent]:
        if upto is None:
            rows = await self.pool.fetch(f"SELECT {ROW} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
                                         after, limit)
        else:
            rows = await self.pool.fetch(
                f"SELECT {ROW} FROM events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3", after, upto, limit)
        return [_stored(r) for r in rows]

    async def end_expired(self, now: datetime) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", SEQ_LOCK)
            status = await conn.execute(
                "UPDATE events SET ended_at = $1, seq = nextval('projection_seq') "
                "WHERE ended_at IS NULL AND expires_at IS NOT NULL AND expires_at <= $1", now)
        return int(status.split()[-1])

    async def get_event(self, event_id: str) -> Envelope | None:
        doc = await self.pool.fetchval("SELECT envelope::text FROM events WHERE id = $1", event_id)
        return Envelope.model_validate_json(doc) if doc else None

    async def latest_accepted(self, event_id: str, topic: str) -> Envelope | None:
        payload = await self.pool.fetchval(
            "SELECT payload FROM outbox WHERE event_id = $1 AND topic = $2 AND failed_at IS NULL "
            "ORDER BY seq DESC LIMIT 1", event_id, topic)
        return Envelope.model_validate_json(bytes(payload)) if payload is not None else None

    async def count_events(self) -> int:
        return await self.pool.fetchval("SELECT count(*) FROM events")

    async def clear_projection(self) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("TRUNCATE events")
            await conn.execute("UPDATE outbox SET published_at = NULL, applied_at = NULL")
