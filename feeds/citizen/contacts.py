"""Where a reporter's contact is kept: the only place the e-mail address or phone number given with a citizen report
exists (table ``citizen_contacts``), on SQLite or PostGIS. ``store.repository(CONTACTS)`` gives the implementation.

The report's event carries only ``attributes.private.reporter`` (``feeds.citizen.service.reporter_ref``), so
no journal row, topic payload, public API or log line holds the contact. Every intake path (the report page and
JSON API, SMS, e-mail) records it through :func:`remember_contact`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from emergency.errors import ValidationFailed
from emergency.store.repository import PostGISRepository, RepositorySpec, SQLiteRepository

ContactKind = Literal["email", "sms"]


@dataclass(frozen=True)
class ReporterContact:
    """The contact of one report: ``kind`` (email or sms), ``address`` (an e-mail address or an E.164 number)."""

    report_id: str
    kind: ContactKind
    address: str
    language: str
    created_at: datetime


class ContactRepository(Protocol):
    """A report id -> its reporter's contact (kept once: a retry of the report changes nothing)."""

    async def put(self, contact: ReporterContact) -> None: ...

    async def get(self, report_id: str) -> ReporterContact | None: ...


COLUMNS = "report_id, kind, address, language, created_at"
SCHEMA = """
CREATE TABLE IF NOT EXISTS citizen_contacts (
    report_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    address TEXT NOT NULL,
    language TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""  # the same on SQLite and PostGIS


def _row(c: ReporterContact) -> tuple:
    return (c.report_id, c.kind, c.address, c.language, c.created_at.isoformat())


def _contact(row) -> ReporterContact:
    return ReporterContact(report_id=row[0], kind=row[1], address=row[2], language=row[3],
                           created_at=datetime.fromisoformat(row[4]))


class SQLiteContacts(SQLiteRepository):
    schema = SCHEMA

    async def put(self, contact: ReporterContact) -> None:
        def _put(c: sqlite3.Connection) -> None:
            c.execute(f"INSERT INTO citizen_contacts({COLUMNS}) VALUES (?,?,?,?,?) ON CONFLICT(report_id) DO NOTHING",
                      _row(contact))
        await self.run(_put)

    async def get(self, report_id: str) -> ReporterContact | None:
        def _get(c: sqlite3.Connection):
            return c.execute(f"SELECT {COLUMNS} FROM citizen_contacts WHERE report_id = ?", (report_id,)).fetchone()
        row = await self.run(_get)
        return _contact(row) if row else None


class PostGISContacts(PostGISRepository):
    schema = SCHEMA

    async def put(self, contact: ReporterContact) -> None:
        pool = await self.pool()
        await pool.execute(f"INSERT INTO citizen_contacts({COLUMNS}) VALUES ($1,$2,$3,$4,$5) "
                           "ON CONFLICT (report_id) DO NOTHING", *_row(contact))

    async def get(self, report_id: str) -> ReporterContact | None:
        row = await (await self.pool()).fetchrow(f"SELECT {COLUMNS} FROM citizen_contacts WHERE report_id = $1",
                                                 report_id)
        return _contact(tuple(row)) if row else None


CONTACTS = RepositorySpec[ContactRepository]("citizen_contacts", sqlite=SQLiteContacts, postgis=PostGISContacts)


def parse_contact(raw: str, *, field: str = "contact") -> tuple[ContactKind, str]:
    """``(kind, address)`` of what a reporter typed: an e-mail address (normalised) or a phone number (E.164).

    ``ValidationFailed`` naming ``field`` when it is neither.
    """
    text = raw.strip()
    if "@" in text:
        try:
            return "email", validate_email(text, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ValidationFailed(field, f"not a usable e-mail address ({exc})") from None
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValidationFailed(field, "give an e-mail address or a phone number in international form (+1 503 555 0100)")
    return "sms", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


async def remember_contact(*, contacts: ContactRepository, report_id: str, contact: str, language: str,
                           now: datetime) -> ReporterContact:
    """Keep the contact of report ``report_id`` in the private store (once; a retry keeps the first).

    ``contacts`` is ``store.repository(CONTACTS)``; ``contact`` an e-mail address or a phone number
    (``ValidationFailed`` naming ``contact`` otherwise); ``language`` (en, es, ko) that of its status messages.
    """
    kind, address = parse_contact(contact)
    record = ReporterContact(report_id=report_id, kind=kind, address=address, language=language, created_at=now)
    await contacts.put(record)
    return record
