"""Short-lived state of the SMS and email report intake: each sender's open conversation and the answer given to
each gateway message id (so a retried webhook or mail gets the same answer), every row with an expiry.

Table ``message_conversations`` (key, value JSON, expires_at). Keys never hold a phone number or an address:
the service keys by an HMAC of the sender (``sender_key``). ``store.repository(CONVERSATIONS)`` gives the
implementation of the store's dialect.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any, Protocol

from emergency.store.base import ts
from emergency.store.repository import PostGISRepository, RepositorySpec, SQLiteRepository


class ConversationRepository(Protocol):
    """JSON values by key, each until its expiry."""

    async def get(self, key: str, *, now: datetime) -> dict[str, Any] | None:
        """The value under ``key`` if it has not expired by ``now``, else None."""
        ...

    async def put(self, key: str, value: dict[str, Any], *, expires_at: datetime) -> None:
        """Keep ``value`` under ``key`` until ``expires_at``, replacing what was there."""
        ...

    async def delete(self, key: str) -> None:
        """Forget ``key``."""
        ...


class SQLiteConversations(SQLiteRepository):
    schema = """
CREATE TABLE IF NOT EXISTS message_conversations (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
"""

    async def get(self, key: str, *, now: datetime) -> dict[str, Any] | None:
        def _get(c: sqlite3.Connection) -> str | None:
            c.execute("DELETE FROM message_conversations WHERE expires_at <= ?", (ts(now),))
            r = c.execute("SELECT value FROM message_conversations WHERE key = ?", (key,)).fetchone()
            return r[0] if r else None

        value = await self.run(_get)
        return json.loads(value) if value is not None else None

    async def put(self, key: str, value: dict[str, Any], *, expires_at: datetime) -> None:
        await self.run(lambda c: c.execute(
            "INSERT INTO message_conversations VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
            "value = excluded.value, expires_at = excluded.expires_at", (key, json.dumps(value), ts(expires_at))))

    async def delete(self, key: str) -> None:
        await self.run(lambda c: c.execute("DELETE FROM message_conversations WHERE key = ?", (key,)))


class PostGISConversations(PostGISRepository):
    schema = """
CREATE TABLE IF NOT EXISTS message_conversations (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
"""

    async def get(self, key: str, *, now: datetime) -> dict[str, Any] | None:
        pool = await self.pool()
        await pool.execute("DELETE FROM message_conversations WHERE expires_at <= $1", now)
        value = await pool.fetchval("SELECT value FROM message_conversations WHERE key = $1", key)
        return json.loads(value) if value is not None else None

    async def put(self, key: str, value: dict[str, Any], *, expires_at: datetime) -> None:
        await (await self.pool()).execute(
            "INSERT INTO message_conversations VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE SET "
            "value = EXCLUDED.value, expires_at = EXCLUDED.expires_at", key, json.dumps(value), expires_at)

    async def delete(self, key: str) -> None:
        await (await self.pool()).execute("DELETE FROM message_conversations WHERE key = $1", key)


CONVERSATIONS = RepositorySpec[ConversationRepository](
    "message_conversations", sqlite=SQLiteConversations, postgis=PostGISConversations)
