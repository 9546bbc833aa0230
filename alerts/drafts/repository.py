"""The drafts' version column (table ``alert_draft_heads``): the one place that serialises the steps on one draft
across processes, on SQLite or PostGIS. ``store.repository(DRAFT_HEADS)`` gives the implementation.

The draft itself lives in the journal (``alerts.drafts.journal``); this row only keeps its version. A step that
read version N claims N → N+1 with a conditional update (``UPDATE … WHERE id = ? AND version = ?``) before it acts;
0 rows means another process took that step first (409 naming the draft and the version it is at now). A claim
that was never journaled (its process died between the claim and the journal) is taken over once it is older
than ``STALE_CLAIM``: issuing is idempotent (the alert id follows from the draft id), the other steps journal
nothing before their claim, so taking it over repeats nothing.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Protocol

from emergency.store.base import ts
from emergency.store.repository import PostGISRepository, RepositorySpec, SQLiteRepository

STALE_CLAIM = timedelta(minutes=2)


class DraftHeads(Protocol):
    """The version of each draft, claimed step by step."""

    async def claim(self, draft_id: str, *, version: int, now: datetime) -> int | None:
        """Move the draft from ``version`` (the journaled version the step read) to ``version + 1``; None when
        done, else the version the draft is at now (another process claimed it first)."""
        ...

    async def release(self, draft_id: str, *, version: int) -> None:
        """Give back a claim of ``version + 1`` whose step was refused before it journaled anything."""
        ...


class SQLiteDraftHeads(SQLiteRepository):
    schema = """
CREATE TABLE IF NOT EXISTS alert_draft_heads (id TEXT PRIMARY KEY, version INTEGER NOT NULL, claimed_at TEXT NOT NULL);
"""

    async def claim(self, draft_id: str, *, version: int, now: datetime) -> int | None:
        def _claim(c: sqlite3.Connection) -> int | None:
            c.execute("INSERT OR IGNORE INTO alert_draft_heads(id, version, claimed_at) VALUES (?, ?, '')",
                      (draft_id, version))  # a draft created before this table: its journaled version
            done = c.execute("UPDATE alert_draft_heads SET version = ?, claimed_at = ? WHERE id = ? AND "
                             "(version = ? OR (version = ? AND claimed_at < ?))",
                             (version + 1, ts(now), draft_id, version, version + 1, ts(now - STALE_CLAIM)))
            if done.rowcount == 1:
                return None
            return c.execute("SELECT version FROM alert_draft_heads WHERE id = ?", (draft_id,)).fetchone()[0]

        return await self.run(_claim)

    async def release(self, draft_id: str, *, version: int) -> None:
        await self.run(lambda c: c.execute("UPDATE alert_draft_heads SET version = ?, claimed_at = '' WHERE id = ? "
                                           "AND version = ?", (version, draft_id, version + 1)))


class PostGISDraftHeads(PostGISRepository):
    schema = """
CREATE TABLE IF NOT EXISTS alert_draft_heads (id text PRIMARY KEY, version integer NOT NULL, claimed_at text NOT NULL);
"""

    async def claim(self, draft_id: str, *, version: int, now: datetime) -> int | None:
        pool = await self.pool()
        await pool.execute("INSERT INTO alert_draft_heads(id, version, claimed_at) VALUES ($1, $2, '') "
                           "ON CONFLICT DO NOTHING", draft_id, version)
        done = await pool.fetchval(
            "UPDATE alert_draft_heads SET version = $1, claimed_at = $2 WHERE id = $3 AND "
            "(version = $4 OR (version = $1 AND claimed_at < $5)) RETURNING id",
            version + 1, ts(now), draft_id, version, ts(now - STALE_CLAIM))
        if done is not None:
            return None
        return await pool.fetchval("SELECT version FROM alert_draft_heads WHERE id = $1", draft_id)

    async def release(self, draft_id: str, *, version: int) -> None:
        await (await self.pool()).execute("UPDATE alert_draft_heads SET version = $1, claimed_at = '' WHERE id = $2 "
                                          "AND version = $3", version, draft_id, version + 1)


DRAFT_HEADS = RepositorySpec[DraftHeads]("alert_draft_heads", sqlite=SQLiteDraftHeads, postgis=PostGISDraftHeads)
