"""Registered agencies: name, stable ``agency_id``, jurisdiction and contacts, on SQLite or PostGIS.

An agency's ``agency_id`` follows the rules of ``emergency.auth.agencies`` (the slug of its exact
name, made unique; look-alike names refused) and is shared with its tokens: registering a name
that tokens already carry adopts their id, and a token created for a registered agency gets its
id and, unless given another, its jurisdiction. ``contacts`` are personal data: they are kept
here only, never on a public surface or in a log (``mask_contact`` for lists).

``store.repository(AGENCIES)`` gives the implementation for the store's dialect.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from emergency.store.base import parse_ts, ts
from emergency.store.repository import PostGISRepository, RepositorySpec, SQLiteRepository


@dataclass
class AgencyRecord:
    """An agency: ``jurisdiction`` GeoJSON Polygon/MultiPolygon (WGS 84), ``jurisdiction_codes`` the
    region's zone/county codes it was given as (None when given as GeoJSON), ``contacts`` (personal
    data) as dicts with ``name``, ``role``, ``phone`` (E.164), ``email``."""

    agency_id: str
    name: str
    jurisdiction: dict[str, Any]
    jurisdiction_codes: list[str] | None = None
    contacts: list[dict[str, Any]] = field(default_factory=list)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class AgencyRepository(Protocol):
    """Agencies by id: stored whole, read, listed."""

    async def put(self, record: AgencyRecord) -> None:
        """Store ``record``, replacing the agency with the same id."""
        ...

    async def get(self, agency_id: str) -> AgencyRecord | None:
        """The agency with this id, or None."""
        ...

    async def by_name(self, name: str) -> AgencyRecord | None:
        """The agency with exactly this name, or None."""
        ...

    async def all(self) -> list[AgencyRecord]:
        """Every agency, by name."""
        ...


COLUMNS = "agency_id, name, jurisdiction, jurisdiction_codes, contacts, created_at, updated_at"


def _params(r: AgencyRecord) -> tuple:
    return (r.agency_id, r.name, json.dumps(r.jurisdiction),
            json.dumps(r.jurisdiction_codes) if r.jurisdiction_codes is not None else None,
            json.dumps(r.contacts))


def _record(row: Any, created: datetime | None, updated: datetime | None) -> AgencyRecord:
    return AgencyRecord(row[0], row[1], json.loads(row[2]), json.loads(row[3]) if row[3] else None,
                        json.loads(row[4]), created or datetime.now(UTC), updated or datetime.now(UTC))


class SQLiteAgencies(SQLiteRepository):
    schema = """
CREATE TABLE IF NOT EXISTS agencies (
    agency_id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    jurisdiction TEXT NOT NULL,
    jurisdiction_codes TEXT,
    contacts TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"""

    async def put(self, record: AgencyRecord) -> None:
        params = (*_params(record), ts(record.created_at), ts(record.updated_at))
        await self.run(lambda c: c.execute(f"INSERT OR REPLACE INTO agencies ({COLUMNS}) VALUES (?,?,?,?,?,?,?)",
                                           params))

    async def _one(self, where: str, value: str) -> AgencyRecord | None:
        def _get(c: sqlite3.Connection) -> tuple | None:
            return c.execute(f"SELECT {COLUMNS} FROM agencies WHERE {where} = ?", (value,)).fetchone()

        r = await self.run(_get)
        return None if r is None else _record(r, parse_ts(r[5]), parse_ts(r[6]))

    async def get(self, agency_id: str) -> AgencyRecord | None:
        return await self._one("agency_id", agency_id)

    async def by_name(self, name: str) -> AgencyRecord | None:
        return await self._one("name", name)

    async def all(self) -> list[AgencyRecord]:
        rows = await self.run(lambda c: c.execute(f"SELECT {COLUMNS} FROM agencies ORDER BY name").fetchall())
        return [_record(r, parse_ts(r[5]), parse_ts(r[6])) for r in rows]


class PostGISAgencies(PostGISRepository):
    schema = """
CREATE TABLE IF NOT EXISTS agencies (
    agency_id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    jurisdiction JSONB NOT NULL,
    jurisdiction_codes JSONB,
    contacts JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
"""
    SELECT = ("SELECT agency_id, name, jurisdiction::text, jurisdiction_codes::text, contacts::text, created_at, "
              "updated_at FROM agencies")

    async def put(self, record: AgencyRecord) -> None:
        await (await self.pool()).execute(
            f"INSERT INTO agencies ({COLUMNS}) VALUES ($1,$2,$3::jsonb,$4::jsonb,$5::jsonb,$6,$7) "
            "ON CONFLICT (agency_id) DO UPDATE SET name = EXCLUDED.name, jurisdiction = EXCLUDED.jurisdiction, "
            "jurisdiction_codes = EXCLUDED.jurisdiction_codes, contacts = EXCLUDED.contacts, "
            "updated_at = EXCLUDED.updated_at", *_params(record), record.created_at, record.updated_at)

    async def _one(self, where: str, value: str) -> AgencyRecord | None:
        r = await (await self.pool()).fetchrow(f"{self.SELECT} WHERE {where} = $1", value)
        return None if r is None else _record(r, r[5], r[6])

    async def get(self, agency_id: str) -> AgencyRecord | None:
        return await self._one("agency_id", agency_id)

    async def by_name(self, name: str) -> AgencyRecord | None:
        return await self._one("name", name)

    async def all(self) -> list[AgencyRecord]:
        rows = await (await self.pool()).fetch(f"{self.SELECT} ORDER BY name")
        return [_record(r, r[5], r[6]) for r in rows]


AGENCIES = RepositorySpec[AgencyRepository]("agencies", sqlite=SQLiteAgencies, postgis=PostGISAgencies)


def mask_contact(contact: dict[str, Any]) -> dict[str, Any]:
    """A contact as lists show it: initials of the name, the last two digits of the phone, the e-mail's
    first letter and domain; the role in full."""
    name = contact.get("name") or ""
    phone = contact.get("phone") or ""
    email = contact.get("email") or ""
    local, _, domain = email.partition("@")
    return {"name": " ".join(f"{part[0]}." for part in name.split() if part) or None,
            "role": contact.get("role"),
            "phone": f"…{phone[-2:]}" if phone else None,
            "email": f"{local[:1]}…@{domain}" if email else None}
