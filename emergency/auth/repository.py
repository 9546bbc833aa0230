"""Where API tokens are kept: the ``tokens`` table (SHA-256 hashes only), on SQLite or PostGIS.

``store.repository(TOKENS)`` gives the implementation for the store's dialect.

Each token of an agency carries the agency's ``agency_id`` (its stable identity, see
``emergency.auth.agencies``). Files and databases written before that column existed get it on
first use, idempotently: the column is added, and each older agency token receives the slug of
its agency name, which is the namespace its closure ids (``agency:<slug>:<reference>``) already use.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from emergency.auth.agencies import agency_slug
from emergency.auth.models import TokenRecord
from emergency.store.base import parse_ts, ts
from emergency.store.repository import PostGISRepository, RepositorySpec, SQLiteRepository

if TYPE_CHECKING:
    import asyncpg

COLUMNS = "token_hash, name, roles, agency, jurisdiction, created_at, revoked_at, agency_id, person"


class TokenRepository(Protocol):
    """Tokens by hash: stored whole, looked up, revoked; and the agencies they act for."""

    async def put(self, record: TokenRecord) -> None:
        """Store ``record``, replacing any token with the same hash."""
        ...

    async def get(self, token_hash: str) -> TokenRecord | None:
        """The token with this SHA-256 hex hash (revoked ones included), or None."""
        ...

    async def revoke(self, token_hash: str, at: datetime) -> bool:
        """Mark the token revoked at ``at``; False when there is no active token with this hash."""
        ...

    async def agencies(self) -> list[tuple[str, str]]:
        """Every (agency_id, agency name) pair that any token (revoked ones included) carries."""
        ...

    async def set_jurisdiction(self, agency_id: str, jurisdiction: dict[str, Any]) -> int:
        """Give every token of the agency this jurisdiction (GeoJSON, WGS 84); how many tokens."""
        ...

    async def hashes_starting(self, prefix: str) -> list[str]:
        """The hashes of active tokens starting with ``prefix`` (lowercase hex; a ``token_id`` is 16 digits)."""
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
    revoked_at TEXT,
    agency_id TEXT,
    person TEXT
);
"""

    async def run(self, fn):  # type: ignore[override]
        """As ``SQLiteRepository.run``, with older files brought up to date first (once)."""
        if not self._ready:
            await self.store.apply_schema(self.schema)
            await self.store.run(_sqlite_upgrade)
            self._ready = True
        return await self.store.run(fn)

    async def put(self, record: TokenRecord) -> None:
        params = (record.token_hash, record.name, json.dumps(record.roles), record.agency,
                  json.dumps(record.jurisdiction) if record.jurisdiction else None,
                  ts(record.created_at), ts(record.revoked_at), record.agency_id, record.person)
        await self.run(lambda c: c.execute(f"INSERT OR REPLACE INTO tokens ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                                           params))

    async def get(self, token_hash: str) -> TokenRecord | None:
        def _get(c: sqlite3.Connection) -> tuple | None:
            return c.execute(f"SELECT {COLUMNS} FROM tokens WHERE token_hash = ?", (token_hash,)).fetchone()

        r = await self.run(_get)
        if r is None:
            return None
        return TokenRecord(r[0], r[1], json.loads(r[2]), r[3], json.loads(r[4]) if r[4] else None,
                           parse_ts(r[5]), parse_ts(r[6]), agency_id=r[7], person=r[8])

    async def revoke(self, token_hash: str, at: datetime) -> bool:
        return await self.run(lambda c: c.execute(
            "UPDATE tokens SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL", (ts(at), token_hash)
        ).rowcount > 0)

    async def agencies(self) -> list[tuple[str, str]]:
        return await self.run(lambda c: [tuple(r) for r in c.execute(
            "SELECT DISTINCT agency_id, agency FROM tokens WHERE agency IS NOT NULL").fetchall()])

    async def set_jurisdiction(self, agency_id: str, jurisdiction: dict[str, Any]) -> int:
        return await self.run(lambda c: c.execute("UPDATE tokens SET jurisdiction = ? WHERE agency_id = ?",
                                                  (json.dumps(jurisdiction), agency_id)).rowcount)

    async def hashes_starting(self, prefix: str) -> list[str]:
        return await self.run(lambda c: [r[0] for r in c.execute(
            "SELECT token_hash FROM tokens WHERE substr(token_hash, 1, ?) = ? AND revoked_at IS NULL",
            (len(prefix), prefix)).fetchall()])


def _sqlite_upgrade(c: sqlite3.Connection) -> None:
    """Add ``agency_id`` (and ``person``) to a tokens table written before they existed, and fill it (idempotent)."""
    columns = {row[1] for row in c.execute("PRAGMA table_info(tokens)")}
    if "agency_id" not in columns:
        c.execute("ALTER TABLE tokens ADD COLUMN agency_id TEXT")
    if "person" not in columns:
        c.execute("ALTER TABLE tokens ADD COLUMN person TEXT")
    legacy = [r[0] for r in c.execute("SELECT DISTINCT agency FROM tokens WHERE agency IS NOT NULL "
                                      "AND agency_id IS NULL")]
    for agency in legacy:
        c.execute("UPDATE tokens SET agency_id = ? WHERE agency = ? AND agency_id IS NULL",
                  (agency_slug(agency), agency))


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
ALTER TABLE tokens ADD COLUMN IF NOT EXISTS agency_id TEXT;
ALTER TABLE tokens ADD COLUMN IF NOT EXISTS person TEXT;
"""

    async def pool(self) -> asyncpg.Pool:
        """As ``PostGISRepository.pool``, with older databases brought up to date first (once)."""
        if not self._ready:
            await self.store.apply_schema(self.schema)
            legacy = await self.store.pool.fetch(
                "SELECT DISTINCT agency FROM tokens WHERE agency IS NOT NULL AND agency_id IS NULL")
            for r in legacy:  # the same value whichever process fills it first
                await self.store.pool.execute("UPDATE tokens SET agency_id = $1 WHERE agency = $2 AND "
                                              "agency_id IS NULL", agency_slug(r[0]), r[0])
            self._ready = True
        return self.store.pool

    async def put(self, record: TokenRecord) -> None:
        await (await self.pool()).execute(
            f"INSERT INTO tokens ({COLUMNS}) VALUES ($1,$2,$3::jsonb,$4,$5::jsonb,$6,$7,$8,$9) "
            "ON CONFLICT (token_hash) DO UPDATE SET "
            "name = EXCLUDED.name, roles = EXCLUDED.roles, agency = EXCLUDED.agency, "
            "jurisdiction = EXCLUDED.jurisdiction, revoked_at = EXCLUDED.revoked_at, agency_id = EXCLUDED.agency_id, "
            "person = EXCLUDED.person",
            record.token_hash, record.name, json.dumps(record.roles), record.agency,
            json.dumps(record.jurisdiction) if record.jurisdiction else None, record.created_at, record.revoked_at,
            record.agency_id, record.person,
        )

    async def get(self, token_hash: str) -> TokenRecord | None:
        r = await (await self.pool()).fetchrow(
            "SELECT token_hash, name, roles::text, agency, jurisdiction::text, created_at, revoked_at, agency_id, person "
            "FROM tokens WHERE token_hash = $1", token_hash)
        if r is None:
            return None
        return TokenRecord(r[0], r[1], json.loads(r[2]), r[3], json.loads(r[4]) if r[4] else None, r[5], r[6],
                           agency_id=r[7], person=r[8])

    async def revoke(self, token_hash: str, at: datetime) -> bool:
        status = await (await self.pool()).execute(
            "UPDATE tokens SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL", at, token_hash)
        return status.split()[-1] != "0"

    async def agencies(self) -> list[tuple[str, str]]:
        rows = await (await self.pool()).fetch(
            "SELECT DISTINCT agency_id, agency FROM tokens WHERE agency IS NOT NULL")
        return [(r[0], r[1]) for r in rows]

    async def set_jurisdiction(self, agency_id: str, jurisdiction: dict[str, Any]) -> int:
        status = await (await self.pool()).execute("UPDATE tokens SET jurisdiction = $1::jsonb WHERE agency_id = $2",
                                                   json.dumps(jurisdiction), agency_id)
        return int(status.split()[-1])

    async def hashes_starting(self, prefix: str) -> list[str]:
        rows = await (await self.pool()).fetch(
            "SELECT token_hash FROM tokens WHERE left(token_hash, $1) = $2 AND revoked_at IS NULL", len(prefix), prefix)
        return [r[0] for r in rows]


TOKENS = RepositorySpec[TokenRepository]("tokens", sqlite=SQLiteTokens, postgis=PostGISTokens)
