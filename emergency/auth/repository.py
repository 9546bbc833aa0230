"""Where API tokens are kept: the ``tokens`` table (SHA-256 hashes only), on SQLite or PostGIS.

``store.repository(TOKENS)`` gives the implementation for the store's dialect.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Protocol

from emergency.auth.models import TokenRecord
from emergency.store.base import parse_ts, ts
from emergency.store.repository import PostGISRepository, RepositorySpec, SQLiteRepository


class TokenRepository(Protocol):
    """Tokens by hash: stored whole, looked up, revoked."""

    async def put(self, record: TokenRecord) -> None:
        """Store ``record``, replacing any token with the same hash."""
        ...

    async def get(self, token_hash: str) -> TokenRecord | None:
        """The token with this SHA-256 hex hash (revoked ones included), or None."""
        ...

    async def revoke(self, token_hash: str, at: datetime) -> bool:
        """Mark the token revoked at ``at``; False when there is no active token with this hash."""
        ...


class SQLiteTokens(SQLiteRepository):
    schema = """
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    roles TEXT NOT NULL,
    agency TEXT,
    jurisdiction TEXT,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
"""

    async def put(self, record: TokenRecord) -> None:
        params = (record.token_hash, record.name, json.dumps(record.roles), record.agency,
                  json.dumps(record.jurisdiction) if record.jurisdiction else None,
                  ts(record.created_at), ts(record.revoked_at))
        await self.run(lambda c: c.execute("INSERT OR REPLACE INTO tokens VALUES (?,?,?,?,?,?,?)", params))

    async def get(self, token_hash: str) -> TokenRecord | None:
        def _get(c: sqlite3.Connection) -> tuple | None:
            return c.execute("SELECT * FROM tokens WHERE token_hash = ?", (token_hash,)).fetchone()

        r = await self.run(_get)
        if r is None:
            return None
        return TokenRecord(r[0], r[1], json.loads(r[2]), r[3], json.loads(r[4]) if r[4] else None,
                           parse_ts(r[5]), parse_ts(r[6]))

    async def revoke(self, token_hash: str, at: datetime) -> bool:
        return await self.run(lambda c: c.execute(
            "UPDATE tokens SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL", (ts(at), token_hash)
        ).rowcount > 0)


class PostGISTokens(PostGISRepository):
    schema = """
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    roles JSONB NOT NULL,
    agency TEXT,
    jurisdiction JSONB,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
"""

    async def put(self, record: TokenRecord) -> None:
        await (await self.pool()).execute(
            "INSERT INTO tokens VALUES ($1,$2,$3::jsonb,$4,$5::jsonb,$6,$7) ON CONFLICT (token_hash) DO UPDATE SET "
            "name = EXCLUDED.name, roles = EXCLUDED.roles, agency = EXCLUDED.agency, "
            "jurisdiction = EXCLUDED.jurisdiction, revoked_at = EXCLUDED.revoked_at",
            record.token_hash, record.name, json.dumps(record.roles), record.agency,
            json.dumps(record.jurisdiction) if record.jurisdiction else None, record.created_at, record.revoked_at,
        )

    async def get(self, token_hash: str) -> TokenRecord | None:
        r = await (await self.pool()).fetchrow(
            "SELECT token_hash, name, roles::text, agency, jurisdiction::text, created_at, revoked_at "
            "FROM tokens WHERE token_hash = $1", token_hash)
        if r is None:
            return None
        return TokenRecord(r[0], r[1], json.loads(r[2]), r[3], json.loads(r[4]) if r[4] else None, r[5], r[6])

    async def revoke(self, token_hash: str, at: datetime) -> bool:
        status = await (await self.pool()).execute(
            "UPDATE tokens SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL", at, token_hash)
        return status.split()[-1] != "0"


TOKENS = RepositorySpec[TokenRepository]("tokens", sqlite=SQLiteTokens, postgis=PostGISTokens)
