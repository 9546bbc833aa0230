"""The delivery ledger: one row per (alert version, subscription, channel), on SQLite or PostGIS.

``store.repository(DELIVERIES)`` gives the implementation for the store's dialect. The fan-out writes rows
in one batch per alert version (``add``: new rows only, the unique key keeps a re-run from doubling them);
the channel workers ``claim`` a row before each send (a row already sent, delivered, acknowledged or failed
is not claimed again: that is the redelivery dedupe) and ``mark`` its outcome. No personal data: rows name the
subscription and its channel id, the contacts stay in the subscription repository.

States: ``queued`` (waiting, or waiting for a retry) → ``sending`` (claimed, attempt counted) → ``sent`` →
``delivered`` (when the channel reports it) → ``acknowledged`` (the person tapped the link); or ``failed``.
"""

from __future__ import annotations

import hashlib
import operator
import sqlite3
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Protocol

from emergency.store.base import parse_ts, ts
from emergency.store.repository import PostGISRepository, RepositorySpec, SQLiteRepository

DONE = ("sent", "delivered", "acknowledged", "failed", "skipped")  # a row in one of these states is never sent again
STATES = ("queued", "sending", *DONE)


def delivery_id(alert_version: str, subscription_id: str, channel_id: str) -> str:
    """The ledger key of a delivery: sha256 hex of ``<alert_version>|<subscription_id>|<channel_id>``; also the
    channel's idempotency key (Message-ID, webhook-id, Web Push Topic, MQTT message id) and the ack capability."""
    return hashlib.sha256(f"{alert_version}|{subscription_id}|{channel_id}".encode()).hexdigest()


@dataclass(frozen=True)
class Delivery:
    """One ledger row. Times are UTC."""

    delivery_id: str
    alert_id: str
    alert_version: str
    subscription_id: str
    channel_id: str
    channel: str
    priority: int
    state: str
    attempts: int
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    acknowledged_at: datetime | None = None
    failure: str | None = None
    remote_id: str | None = None


COLUMNS = ", ".join(f.name for f in fields(Delivery))
_values = operator.attrgetter(*COLUMNS.split(", "))  # a row as a plain tuple (dataclasses.astuple deep-copies)
_TIMES = {"created_at", "updated_at", "sent_at", "delivered_at", "acknowledged_at"}
_STAMP = {"sent": "sent_at", "delivered": "delivered_at", "acknowledged": "acknowledged_at"}


@dataclass(frozen=True)
class Recipient:
    """Who an earlier version of a thread went to: a subscription's channel."""

    subscription_id: str
    channel_id: str
    channel: str


@dataclass(frozen=True)
class Progress:
    """The times of one delivery for the receipts view (no ids, no personal data)."""

    alert_version: str
    channel: str
    state: str
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    acknowledged_at: datetime | None


class DeliveryLedger(Protocol):
    """Deliveries by id: written by the fan-out, claimed and marked by the channel workers, read by the API."""

    async def add(self, rows: list[Delivery]) -> tuple[list[str], dict[str, str]]:
        """Insert the rows whose key is new, in one transaction; returns (ids inserted, {id: state} of those
        that already existed)."""
        ...

    async def get(self, delivery_id: str) -> Delivery | None: ...

    async def recipients(self, alert_id: str) -> list[Recipient]:
        """Every (subscription, channel) any version of the thread ``alert_id`` was written for."""
        ...

    async def claim(self, delivery_id: str, at: datetime) -> Delivery | None:
        """Mark a row ``sending`` with one more attempt, unless it is done (sent, delivered, acknowledged,
        failed) or unknown: then None, and nothing is sent."""
        ...

    async def mark(self, delivery_id: str, state: str, at: datetime, *, failure: str | None = None,
                   remote_id: str | None = None) -> Delivery | None:
        """Set the state (and its time: sent_at, delivered_at, acknowledged_at); ``acknowledged`` only for a row
        that was sent or delivered. The row after the change, or None when unknown or not changed."""
        ...

    async def progress(self, alert_id: str) -> list[Progress]:
        """Every delivery of the thread, for the receipts view."""
        ...


def _row(r) -> Delivery:
    values = dict(zip(COLUMNS.split(", "), tuple(r), strict=True))
    for k in _TIMES:
        if isinstance(values[k], str):
            values[k] = parse_ts(values[k])
    return Delivery(**values)


def _sqlite_params(rows: list[Delivery]) -> list[tuple]:
    """Rows as SQLite parameters (times as ``ts`` text; a batch shares few distinct times, so each is formatted once)."""
    texts: dict[datetime, str | None] = {}

    def text(v):
        if not isinstance(v, datetime):
            return v
        t = texts.get(v)
        if t is None:
            t = texts[v] = ts(v)
        return t

    return [tuple(map(text, _values(d))) for d in rows]


_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    delivery_id TEXT PRIMARY KEY,
    alert_id TEXT NOT NULL,
    alert_version TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    priority INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    sent_at TEXT,
    delivered_at TEXT,
    acknowledged_at TEXT,
    failure TEXT,
    remote_id TEXT,
    UNIQUE (alert_version, subscription_id, channel_id)
);
CREATE INDEX IF NOT EXISTS deliveries_alert ON deliveries (alert_id);
"""


class SQLiteDeliveries(SQLiteRepository):
    schema = _SQLITE_SCHEMA

    async def add(self, rows: list[Delivery]) -> tuple[list[str], dict[str, str]]:
        params = _sqlite_params(rows)

        def _add(c: sqlite3.Connection) -> tuple[list[str], dict[str, str]]:
            c.execute(f"CREATE TEMP TABLE IF NOT EXISTS incoming_deliveries AS SELECT {COLUMNS} FROM deliveries "
                      "WHERE 0")
            c.execute("BEGIN")
            try:
                c.execute("DELETE FROM incoming_deliveries")
                marks = ",".join("?" * len(fields(Delivery)))
                c.executemany(f"INSERT INTO incoming_deliveries ({COLUMNS}) VALUES ({marks})", params)
                existing = dict(c.execute("SELECT d.delivery_id, d.state FROM incoming_deliveries i "
                                          "JOIN deliveries d ON d.delivery_id = i.delivery_id").fetchall())
                c.execute(f"INSERT OR IGNORE INTO deliveries ({COLUMNS}) SELECT {COLUMNS} FROM incoming_deliveries")
                c.execute("DELETE FROM incoming_deliveries")
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
            return [d.delivery_id for d in rows if d.delivery_id not in existing], existing

        return await self.run(_add)

    async def get(self, delivery_id: str) -> Delivery | None:
        r = await self.run(lambda c: c.execute(f"SELECT {COLUMNS} FROM deliveries WHERE delivery_id = ?",
                                               (delivery_id,)).fetchone())
        return _row(r) if r else None

    async def recipients(self, alert_id: str) -> list[Recipient]:
        rows = await self.run(lambda c: c.execute(
            "SELECT DISTINCT subscription_id, channel_id, channel FROM deliveries WHERE alert_id = ?",
            (alert_id,)).fetchall())
        return [Recipient(*r) for r in rows]

    async def claim(self, delivery_id: str, at: datetime) -> Delivery | None:
        def _claim(c: sqlite3.Connection):
            r = c.execute(f"UPDATE deliveries SET state = 'sending', attempts = attempts + 1, updated_at = ? "
                          f"WHERE delivery_id = ? AND state NOT IN {DONE!r} RETURNING {COLUMNS}",
                          (ts(at), delivery_id)).fetchall()
            return r[0] if r else None

        r = await self.run(_claim)
        return _row(r) if r else None

    async def mark(self, delivery_id: str, state: str, at: datetime, *, failure: str | None = None,
                   remote_id: str | None = None) -> Delivery | None:
        stamp = _STAMP.get(state)
        guard = " AND state IN ('sent', 'delivered')" if state == "acknowledged" else ""
        sets = "state = ?, updated_at = ?, failure = COALESCE(?, failure), remote_id = COALESCE(?, remote_id)"
        if stamp:
            sets += f", {stamp} = COALESCE({stamp}, ?)"
        args: list = [state, ts(at), failure, remote_id] + ([ts(at)] if stamp else []) + [delivery_id]

        def _mark(c: sqlite3.Connection):
            r = c.execute(f"UPDATE deliveries SET {sets} WHERE delivery_id = ?{guard} RETURNING {COLUMNS}",
                          args).fetchall()
            return r[0] if r else None

        r = await self.run(_mark)
        return _row(r) if r else None

    async def progress(self, alert_id: str) -> list[Progress]:
        rows = await self.run(lambda c: c.execute(
            "SELECT alert_version, channel, state, created_at, sent_at, delivered_at, acknowledged_at "
            "FROM deliveries WHERE alert_id = ?", (alert_id,)).fetchall())
        return [Progress(r[0], r[1], r[2], *(parse_ts(v) for v in r[3:])) for r in rows]


_PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    delivery_id text PRIMARY KEY,
    alert_id text NOT NULL,
    alert_version text NOT NULL,
    subscription_id text NOT NULL,
    channel_id text NOT NULL,
    channel text NOT NULL,
    priority smallint NOT NULL,
    state text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    sent_at timestamptz,
    delivered_at timestamptz,
    acknowledged_at timestamptz,
    failure text,
    remote_id text,
    UNIQUE (alert_version, subscription_id, channel_id)
);
CREATE INDEX IF NOT EXISTS deliveries_alert ON deliveries (alert_id);
"""


class PostGISDeliveries(PostGISRepository):
    schema = _PG_SCHEMA

    async def add(self, rows: list[Delivery]) -> tuple[list[str], dict[str, str]]:
        pool = await self.pool()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("CREATE TEMP TABLE IF NOT EXISTS incoming_deliveries "
                               "(LIKE deliveries INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
            await conn.copy_records_to_table("incoming_deliveries", records=[_values(d) for d in rows],
                                             columns=COLUMNS.split(", "))
            existing = {r[0]: r[1] for r in await conn.fetch(
                "SELECT d.delivery_id, d.state FROM incoming_deliveries i JOIN deliveries d USING (delivery_id)")}
            inserted = await conn.fetch(f"INSERT INTO deliveries ({COLUMNS}) SELECT {COLUMNS} FROM "
                                        "incoming_deliveries ON CONFLICT DO NOTHING RETURNING delivery_id")
        new = {r[0] for r in inserted}
        return [d.delivery_id for d in rows if d.delivery_id in new], existing

    async def get(self, delivery_id: str) -> Delivery | None:
        pool = await self.pool()
        r = await pool.fetchrow(f"SELECT {COLUMNS} FROM deliveries WHERE delivery_id = $1", delivery_id)
        return _row(r) if r else None

    async def recipients(self, alert_id: str) -> list[Recipient]:
        pool = await self.pool()
        rows = await pool.fetch("SELECT DISTINCT subscription_id, channel_id, channel FROM deliveries "
                                "WHERE alert_id = $1", alert_id)
        return [Recipient(*r) for r in rows]

    async def claim(self, delivery_id: str, at: datetime) -> Delivery | None:
        pool = await self.pool()
        r = await pool.fetchrow(f"UPDATE deliveries SET state = 'sending', attempts = attempts + 1, updated_at = $1 "
                                f"WHERE delivery_id = $2 AND state <> ALL($3::text[]) RETURNING {COLUMNS}",
                                at, delivery_id, list(DONE))
        return _row(r) if r else None

    async def mark(self, delivery_id: str, state: str, at: datetime, *, failure: str | None = None,
                   remote_id: str | None = None) -> Delivery | None:
        pool = await self.pool()
        stamp = _STAMP.get(state)
        guard = " AND state IN ('sent', 'delivered')" if state == "acknowledged" else ""
        sets = "state = $1, updated_at = $2, failure = COALESCE($3, failure), remote_id = COALESCE($4, remote_id)"
        if stamp:
            sets += f", {stamp} = COALESCE({stamp}, $2)"
        r = await pool.fetchrow(f"UPDATE deliveries SET {sets} WHERE delivery_id = $5{guard} RETURNING {COLUMNS}",
                                state, at, failure, remote_id, delivery_id)
        return _row(r) if r else None

    async def progress(self, alert_id: str) -> list[Progress]:
        pool = await self.pool()
        rows = await pool.fetch("SELECT alert_version, channel, state, created_at, sent_at, delivered_at, "
                                "acknowledged_at FROM deliveries WHERE alert_id = $1", alert_id)
        return [Progress(*r) for r in rows]


DELIVERIES = RepositorySpec[DeliveryLedger]("deliveries", sqlite=SQLiteDeliveries, postgis=PostGISDeliveries)
