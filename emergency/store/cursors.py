"""Named cursors: a text value per name, replaced whole (e.g. where a social stream resumes).

``store.repository(CURSORS)`` gives the implementation for the store's dialect; the table is
``cursors`` (name, value, updated_at).
"""

from __future__ import annotations

import sqlite3
from typing import Protocol

from emergency.events import utcnow
from emergency.store.base import ts
from emergency.store.repository import PostGISRepository, RepositorySpec, SQLiteRepository


class CursorRepository(Protocol):
    """Text values by name."""

    async def get(self, name: str) -> str | None:
        """The value saved under ``name``, or None."""
        ...

    async def put(self, name: str, value: str) -> None:
        """Save ``value`` under ``name``, replacing what was there."""
        ...


class SQLiteCursors(SQLiteRepository):
    schema = """
CREATE TABLE IF NOT EXISTS cursors (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"""

    async def get(self, name: str) -> str | None:
        def _get(c: sqlite3.Connection) -> str | None:
            r = c.execute("SELECT value FROM cursors WHERE name = ?", (name,)).fetchone()
            return r[0] if r else None

        return await self.run(_get)

    async def put(self, name: str, value: str) -> None:
        now = ts(utcnow())
        await self.run(lambda c: c.execute(
            "INSERT INTO cursors VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at", (name, value, now)))


class PostGISCursors(PostGISRepository):
    schema = """
CREATE TABLE IF NOT EXISTS cursors (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
"""

    async def get(self, name: str) -> str | None:
        return await (await self.pool()).fetchval("SELECT value FROM cursors WHERE name = $1", name)

    async def put(self, name: str, value: str) -> None:
        await (await self.pool()).execute(
            "INSERT INTO cursors VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, "
            "updated_at = EXCLUDED.updated_at", name, value, utcnow())


CURSORS = RepositorySpec[CursorRepository]("cursors", sqlite=SQLiteCursors, postgis=PostGISCursors)
