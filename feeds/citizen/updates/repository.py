"""Where the status-message state of reports is kept (table ``reporter_updates``) and the contacts that asked for
no more status messages (``reporter_opt_outs``, by a SHA-256 of the address (unkeyed: as private as the contacts): STOP from a number, or a mail's
unsubscribe link, stops every report of that contact). SQLite and PostGIS; ``store.repository(UPDATES)``.
"""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import datetime
from typing import Protocol

from emergency.store.base import ts
from emergency.store.repository import PostGISRepository, RepositorySpec, SQLiteRepository
from feeds.citizen.updates.models import Updates

SCHEMA = """
CREATE TABLE IF NOT EXISTS reporter_updates (
    report_id TEXT PRIMARY KEY,
    rev INTEGER NOT NULL,
    due_at TEXT,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reporter_updates_due ON reporter_updates (due_at);
CREATE TABLE IF NOT EXISTS reporter_opt_outs (
    contact_hash TEXT PRIMARY KEY,
    at TEXT NOT NULL
);
"""  # the same on SQLite and PostGIS


def contact_hash(kind: str, address: str) -> str:
    """The opt-out key of a contact: SHA-256 hex of ``kind|address`` (address as stored: E.164 or normalised)."""
    return hashlib.sha256(f"reporter-opt-out|{kind}|{address.strip().lower()}".encode()).hexdigest()


class UpdatesRepository(Protocol):
    async def get(self, report_id: str) -> Updates | None: ...

    async def add(self, u: Updates) -> bool:
        """Insert unless the report has a row; whether it was new."""
        ...

    async def save(self, u: Updates) -> bool:
        """Write ``u`` over the row of revision ``u.rev`` (then rev + 1); False when it changed meanwhile."""
        ...

    async def known(self, report_ids: list[str]) -> dict[str, Updates]:
        """The rows of those reports that have one."""
        ...

    async def due(self, now: datetime) -> list[Updates]:
        """Rows whose next message is due at ``now`` or before."""
        ...

    async def set_opt_out(self, key: str, stopped: bool, at: datetime) -> None: ...

    async def opted_out(self, key: str) -> bool: ...


def _load(row) -> Updates:
    return Updates.model_validate_json(row[1]).model_copy(update={"rev": row[0]})


def _dump(u: Updates) -> str:
    return u.model_dump_json(exclude={"rev"})


class SQLiteUpdates(SQLiteRepository):
    schema = SCHEMA

    async def get(self, report_id: str) -> Updates | None:
        row = await self.run(lambda c: c.execute("SELECT rev, record FROM reporter_updates WHERE report_id = ?",
                                                  (report_id,)).fetchone())
        return _load(row) if row else None

    async def add(self, u: Updates) -> bool:
        def _add(c: sqlite3.Connection) -> bool:
            return c.execute("INSERT INTO reporter_updates(report_id, rev, due_at, record) VALUES (?, 0, ?, ?) "
                             "ON CONFLICT (report_id) DO NOTHING", (u.report_id, ts(u.due_at), _dump(u))).rowcount == 1
        return await self.run(_add)

    async def save(self, u: Updates) -> bool:
        def _save(c: sqlite3.Connection) -> bool:
            return c.execute("UPDATE reporter_updates SET rev = rev + 1, due_at = ?, record = ? "
                             "WHERE report_id = ? AND rev = ?", (ts(u.due_at), _dump(u), u.report_id, u.rev)
                             ).rowcount == 1
        return await self.run(_save)

    async def known(self, report_ids: list[str]) -> dict[str, Updates]:
        if not report_ids:
            return {}
        marks = ",".join("?" * len(report_ids))
        rows = await self.run(lambda c: c.execute(
            f"SELECT rev, record FROM reporter_updates WHERE report_id IN ({marks})", report_ids).fetchall())
        return {u.report_id: u for u in map(_load, rows)}

    async def due(self, now: datetime) -> list[Updates]:
        rows = await self.run(lambda c: c.execute(
            "SELECT rev, record FROM reporter_updates WHERE due_at IS NOT NULL AND due_at <= ? ORDER BY due_at "
            "LIMIT 1000", (ts(now),)).fetchall())
        return [_load(r) for r in rows]

    async def set_opt_out(self, key: str, stopped: bool, at: datetime) -> None:
        if stopped:
            await self.run(lambda c: c.execute("INSERT INTO reporter_opt_outs(contact_hash, at) VALUES (?, ?) "
                                               "ON CONFLICT (contact_hash) DO NOTHING", (key, ts(at))))
        else:
            await self.run(lambda c: c.execute("DELETE FROM reporter_opt_outs WHERE contact_hash = ?", (key,)))

    async def opted_out(self, key: str) -> bool:
        row = await self.run(lambda c: c.execute("SELECT 1 FROM reporter_opt_outs WHERE contact_hash = ?",
                                                 (key,)).fetchone())
        return row is not None


class PostGISUpdates(PostGISRepository):
    schema = SCHEMA

    async def get(self, report_id: str) -> Updates | None:
        row = await (await self.pool()).fetchrow("SELECT rev, record FROM reporter_updates WHERE report_id = $1",
                                                 report_id)
        return _load(tuple(row)) if row else None

    async def add(self, u: Updates) -> bool:
        done = await (await self.pool()).execute(
            "INSERT INTO reporter_updates(report_id, rev, due_at, record) VALUES ($1, 0, $2, $3) "
            "ON CONFLICT (report_id) DO NOTHING", u.report_id, ts(u.due_at), _dump(u))
        return done.endswith(" 1")

    async def save(self, u: Updates) -> bool:
        done = await (await self.pool()).execute(
            "UPDATE reporter_updates SET rev = rev + 1, due_at = $1, record = $2 WHERE report_id = $3 AND rev = $4",
            ts(u.due_at), _dump(u), u.report_id, u.rev)
        return done.endswith(" 1")

    async def known(self, report_ids: list[str]) -> dict[str, Updates]:
        if not report_ids:
            return {}
        rows = await (await self.pool()).fetch(
            "SELECT rev, record FROM reporter_updates WHERE report_id = ANY($1::text[])", report_ids)
        return {u.report_id: u for u in (_load(tuple(r)) for r in rows)}

    async def due(self, now: datetime) -> list[Updates]:
        rows = await (await self.pool()).fetch(
            "SELECT rev, record FROM reporter_updates WHERE due_at IS NOT NULL AND due_at <= $1 ORDER BY due_at "
            "LIMIT 1000", ts(now))
        return [_load(tuple(r)) for r in rows]

    async def set_opt_out(self, key: str, stopped: bool, at: datetime) -> None:
        pool = await self.pool()
        if stopped:
            await pool.execute("INSERT INTO reporter_opt_outs(contact_hash, at) VALUES ($1, $2) "
                               "ON CONFLICT (contact_hash) DO NOTHING", key, ts(at))
        else:
            await pool.execute("DELETE FROM reporter_opt_outs WHERE contact_hash = $1", key)

    async def opted_out(self, key: str) -> bool:
        return await (await self.pool()).fetchval("SELECT 1 FROM reporter_opt_outs WHERE contact_hash = $1",
                                                  key) is not None


UPDATES = RepositorySpec[UpdatesRepository]("reporter_updates", sqlite=SQLiteUpdates, postgis=PostGISUpdates)
