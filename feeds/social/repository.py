"""Where the social filter rules are kept: one versioned JSON document (table ``social_rules``).

``store.repository(SOCIAL_RULES)`` gives the implementation for the store's dialect.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Protocol

from emergency.events import utcnow
from emergency.store.base import ts
from emergency.store.repository import PostGISRepository, RepositorySpec, SQLiteRepository


class SocialRulesRepository(Protocol):
    """The rules document and its version (1, 2, ... ; each save adds one)."""

    async def get(self) -> tuple[dict[str, Any], int] | None:
        """The saved rules and their version, or None when none were saved."""
        ...

    async def put(self, rules: dict[str, Any], *, updated_by: str) -> int:
        """Replace the rules; returns the new version."""
        ...


class SQLiteSocialRules(SQLiteRepository):
    schema = """
CREATE TABLE IF NOT EXISTS social_rules (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL,
    rules TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"""

    async def get(self) -> tuple[dict[str, Any], int] | None:
        def _get(c: sqlite3.Connection) -> tuple | None:
            return c.execute("SELECT rules, version FROM social_rules WHERE id = 1").fetchone()

        r = await self.run(_get)
        return (json.loads(r[0]), r[1]) if r else None

    async def put(self, rules: dict[str, Any], *, updated_by: str) -> int:
        doc, now = json.dumps(rules), ts(utcnow())

        def _put(c: sqlite3.Connection) -> int:
            # one statement is its own transaction; fetchall() runs it to completion (and commit)
            return c.execute(
                "INSERT INTO social_rules VALUES (1, 1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "version = version + 1, rules = excluded.rules, updated_by = excluded.updated_by, "
                "updated_at = excluded.updated_at RETURNING version", (doc, updated_by, now)).fetchall()[0][0]

        return await self.run(_put)


class PostGISSocialRules(PostGISRepository):
    schema = """
CREATE TABLE IF NOT EXISTS social_rules (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL,
    rules JSONB NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
"""

    async def get(self) -> tuple[dict[str, Any], int] | None:
        r = await (await self.pool()).fetchrow("SELECT rules::text, version FROM social_rules WHERE id = 1")
        return (json.loads(r[0]), r[1]) if r else None

    async def put(self, rules: dict[str, Any], *, updated_by: str) -> int:
        return await (await self.pool()).fetchval(
            "INSERT INTO social_rules VALUES (1, 1, $1::jsonb, $2, $3) ON CONFLICT (id) DO UPDATE SET "
            "version = social_rules.version + 1, rules = EXCLUDED.rules, updated_by = EXCLUDED.updated_by, "
            "updated_at = EXCLUDED.updated_at RETURNING version", json.dumps(rules), updated_by, utcnow())


SOCIAL_RULES = RepositorySpec[SocialRulesRepository]("social_rules", sqlite=SQLiteSocialRules,
                                                     postgis=PostGISSocialRules)
