"""The agency audit log: every agency action (who, when, what), on SQLite or PostGIS.

Entries name the actor (the token holder's name and ``token_id``, or ``cli``), the agency
(``agency_id``), the action (``agency.create``, ``agency.update``, ``token.create``,
``shelters.submit``, ``shelters.end``, ``resource-requests.fulfil`` ...), its target (an event
id, a token id) and a small ``detail``: names of changed fields and references, never contacts
or other personal data. ``store.repository(AUDIT)`` gives the implementation for the store's
dialect; entries are only appended.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from emergency.auth.models import TokenRecord
from emergency.auth.tokens import token_id
from emergency.store.base import parse_ts, ts
from emergency.store.repository import PostGISRepository, RepositorySpec, SQLiteRepository


@dataclass(frozen=True)
class AuditEntry:
    """One agency action."""

    agency_id: str
    actor: str
    action: str
    target: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    actor_token: str | None = None  # the token_id (16 hex digits) the actor used


class AuditRepository(Protocol):
    """Append-only agency actions."""

    async def add(self, entry: AuditEntry) -> None:
        """Append ``entry``."""
        ...

    async def for_agency(self, agency_id: str, limit: int = 1000) -> list[AuditEntry]:
        """The agency's newest ``limit`` entries, newest first."""
        ...


class SQLiteAudit(SQLiteRepository):
    schema = """
CREATE TABLE IF NOT EXISTS agency_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    agency_id TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    actor_token TEXT,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS agency_audit_by_agency ON agency_audit(agency_id, seq);
"""

    async def add(self, entry: AuditEntry) -> None:
        params = (entry.agency_id, ts(entry.at), entry.actor, entry.actor_token, entry.action, entry.target,
                  json.dumps(entry.detail))
        await self.run(lambda c: c.execute(
            "INSERT INTO agency_audit (agency_id, at, actor, actor_token, action, target, detail) "
            "VALUES (?,?,?,?,?,?,?)", params))

    async def for_agency(self, agency_id: str, limit: int = 1000) -> list[AuditEntry]:
        def _read(c: sqlite3.Connection) -> list[tuple]:
            return c.execute("SELECT agency_id, at, actor, actor_token, action, target, detail FROM agency_audit "
                             "WHERE agency_id = ? ORDER BY seq DESC LIMIT ?", (agency_id, limit)).fetchall()

        return [AuditEntry(r[0], r[2], r[4], r[5], json.loads(r[6]), parse_ts(r[1]) or datetime.now(UTC), r[3])
                for r in await self.run(_read)]


class PostGISAudit(PostGISRepository):
    schema = """
CREATE TABLE IF NOT EXISTS agency_audit (
    seq BIGSERIAL PRIMARY KEY,
    agency_id TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    actor TEXT NOT NULL,
    actor_token TEXT,
    action TEXT NOT NULL,
    target TEXT,
    detail JSONB NOT NULL
);
CREATE INDEX IF NOT EXISTS agency_audit_by_agency ON agency_audit(agency_id, seq);
"""

    async def add(self, entry: AuditEntry) -> None:
        await (await self.pool()).execute(
            "INSERT INTO agency_audit (agency_id, at, actor, actor_token, action, target, detail) "
            "VALUES ($1,$2,$3,$4,$5,$6,$7::jsonb)", entry.agency_id, entry.at, entry.actor, entry.actor_token,
            entry.action, entry.target, json.dumps(entry.detail))

    async def for_agency(self, agency_id: str, limit: int = 1000) -> list[AuditEntry]:
        rows = await (await self.pool()).fetch(
            "SELECT agency_id, at, actor, actor_token, action, target, detail::text FROM agency_audit "
            "WHERE agency_id = $1 ORDER BY seq DESC LIMIT $2", agency_id, limit)
        return [AuditEntry(r[0], r[2], r[4], r[5], json.loads(r[6]), r[1], r[3]) for r in rows]


AUDIT = RepositorySpec[AuditRepository]("agency_audit", sqlite=SQLiteAudit, postgis=PostGISAudit)


def audit_entry(*, principal: TokenRecord | None, agency_id: str, action: str, target: str | None = None,
                detail: dict[str, Any] | None = None, now: datetime | None = None) -> AuditEntry:
    """An audit entry of ``principal``'s action (None: the command line, actor ``cli``)."""
    return AuditEntry(agency_id=agency_id, actor=principal.name if principal else "cli", action=action,
                      target=target, detail=detail or {}, at=now or datetime.now(UTC),
                      actor_token=token_id(principal.token_hash) if principal else None)
