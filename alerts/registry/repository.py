"""Where the vulnerable-persons registry lives: the only place a registrant's name, address, needs, contacts and
caregiver exist (tables ``registrants``, ``registry_outreach``, ``registry_audit``, ``registry_keys``), on
SQLite or PostGIS. ``store.repository(REGISTRY)`` gives the implementation.

It is also the channel workers' owner of ``registrant:<id>`` people (``alerts.delivery.notices``): ``contact``
and ``notice`` (the check-in message with its signed links, rendered just before the send).

The check-in timer is a row: each outreach keeps its ``due_at``; ``due(now)`` is what the worker's loop reads, so a
restart loses no timer.
"""

from __future__ import annotations

import secrets
import sqlite3
from datetime import datetime
from typing import Protocol

from alerts.delivery.models import Contact, DeliveryJob, Rendered
from alerts.registry.models import AuditItem, Outreach, Registrant
from alerts.registry.selfservice.service import CONFIRM_PREFIX as SELF_CONFIRM_PREFIX
from alerts.registry.selfservice.service import confirm_target
from alerts.registry.selfservice.service import confirmation_message as self_confirmation_message
from alerts.registry.service import (
    CAREGIVER_CHANNEL,
    CONFIRM_PREFIX,
    PERSON_PREFIX,
    caregiver_confirm_registrant,
    caregiver_message,
    caregiver_reachable,
    caregiver_token,
    caregiver_url,
    checkin_message,
    checkin_token,
    checkin_url,
    confirmation_message,
    contact_of,
    has_number,
)
from alerts.subscriptions.repository import _tx
from emergency.store.base import ts
from emergency.store.repository import PostGISRepository, RepositorySpec, SQLiteRepository

CHECKIN_KEY = "checkin"


class RegistryRepository(Protocol):
    """Registrants, their check-ins per alert, the read audit, and the check-in link key."""

    public_url: str       # EMERGENCY_PUBLIC_URL, for check-in links (set by the runtime)
    checkin_minutes: int  # how long silence waits, said in the message (set by the runtime)

    async def create(self, reg: Registrant) -> None: ...

    async def get(self, registrant_id: str) -> Registrant | None: ...

    async def many(self, ids: list[str]) -> dict[str, Registrant]: ...

    async def page(self, *, after: str | None, limit: int) -> list[Registrant]: ...

    async def count(self) -> int: ...

    async def delete(self, registrant_id: str) -> bool:
        """Erase a registrant (consent withdrawn); False when unknown."""
        ...

    async def locations(self) -> list[tuple[str, float, float]]:
        """(id, lat, lon) of every registrant, for the geometry test of an alert."""
        ...

    async def add_outreach(self, rows: list[Outreach]) -> list[Outreach]:
        """Insert the check-ins not there yet (unique per alert thread and registrant); those inserted."""
        ...

    async def set_deliveries(self, outreach_id: str, delivery_ids: list[str]) -> None: ...

    async def outreach(self, outreach_id: str) -> Outreach | None: ...

    async def for_alert(self, alert_id: str) -> list[Outreach]: ...

    async def answer(self, outreach_id: str, *, state: str, at: datetime, report_id: str | None,
                     only_from: tuple[str, ...], by: str | None = None) -> Outreach | None:
        """Set the state (and the report, and who answered) of a check-in whose state is one of ``only_from``; the
        row after, or None."""
        ...

    async def due(self, now: datetime, limit: int = 100) -> list[Outreach]:
        """Check-ins still awaiting an answer whose ``due_at`` has passed."""
        ...

    async def audit(self, item: AuditItem) -> None: ...

    async def replace(self, reg: Registrant) -> None:
        """Store the new record of an existing registrant (a caregiver confirmed, a number STOPped)."""
        ...

    async def with_number(self, number: str) -> list[Registrant]:
        """The registrants with ``number`` (E.164) on an sms channel or as their caregiver's phone."""
        ...

    async def request_confirmation(self, registrant_id: str) -> None:
        """Queue the caregiver's confirmation request (sent by the timer loop: a row, so no crash loses it)."""
        ...

    async def confirmations_due(self, limit: int = 100) -> list[str]:
        """Registrant ids whose caregiver's confirmation request is still to send."""
        ...

    async def confirmation_sent(self, registrant_id: str) -> None: ...

    async def audit_log(self, *, limit: int) -> list[AuditItem]:
        """The newest reads first."""
        ...

    async def key(self) -> bytes: ...

    async def contact(self, subscription_id: str, channel_id: str, *, pending: bool = False) -> Contact | None: ...

    async def notice(self, job: DeliveryJob) -> Rendered | None: ...

    # self-registration (alerts/registry/selfservice): an entry never yet active (``awaiting_first_confirmation``)
    # has a row in ``registry_pending`` too, and ``locations`` (who an alert covers) leaves it out
    async def save(self, reg: Registrant, *, expected_version: int) -> bool:
        """Write ``reg`` over the stored entry of version ``expected_version`` (its pending mark following
        ``reg.awaiting_first_confirmation``); False when it changed meanwhile or is gone."""
        ...

    async def erase_unconfirmed(self, *, created_before: datetime, limit: int = 100) -> list[str]:
        """Erase (as ``delete`` does) up to ``limit`` entries never active and made before ``created_before``;
        their ids."""
        ...

    async def count_attempt(self, registrant_id: str, channel_id: str) -> int:
        """Count one code attempt against the channel's pending code; the attempts so far (0: no such channel)."""
        ...


class _Owner:
    """The notice owner reads shared by both backends."""

    public_url = "http://127.0.0.1:8000"
    checkin_minutes = 60

    async def get(self, registrant_id: str) -> Registrant | None:
        raise NotImplementedError

    async def outreach(self, outreach_id: str) -> Outreach | None:
        raise NotImplementedError

    async def key(self) -> bytes:
        raise NotImplementedError

    async def contact(self, subscription_id: str, channel_id: str, *, pending: bool = False) -> Contact | None:
        prefix, _, rid = subscription_id.partition(":")
        reg = await self.get(rid) if prefix == PERSON_PREFIX and not pending else None
        return None if reg is None else contact_of(reg, channel_id)

    async def notice(self, job: DeliveryJob) -> Rendered | None:
        if job.alert_version.startswith(SELF_CONFIRM_PREFIX):  # a self-registration's confirmation code
            return await self._confirmation(job)
        key = await self.key()
        if job.alert_version.startswith(CONFIRM_PREFIX):  # a caregiver's confirmation request
            reg = await self.get(caregiver_confirm_registrant(job.alert_version))
            cg = reg.caregiver if reg is not None else None
            if reg is None or cg is None or cg.phone is None or cg.confirmed_at is not None or cg.stopped or \
                    job.subscription_id != f"{PERSON_PREFIX}:{reg.id}" or job.channel_id != CAREGIVER_CHANNEL:
                return None
            return confirmation_message(reg=reg, url=caregiver_url(
                base=self.public_url, token=caregiver_token(key=key, registrant_id=reg.id, phone=cg.phone)))
        oid = job.alert_version.removeprefix("checkin:")
        found = await self.outreach(oid)
        if found is None or found.state != "awaiting" or job.subscription_id != f"{PERSON_PREFIX}:{found.registrant_id}":
            return None
        caregiver = job.channel_id == CAREGIVER_CHANNEL

        def link(answer: str) -> str:
            return checkin_url(base=self.public_url, token=checkin_token(key=key, outreach=oid, answer=answer,
                                                                         caregiver=caregiver))

        if not caregiver:
            return checkin_message(outreach=found, minutes=self.checkin_minutes, safe_url=link("safe"),
                                   help_url=link("help"))
        reg = await self.get(found.registrant_id)
        if reg is None or not caregiver_reachable(reg):
            return None
        return caregiver_message(outreach=found, registrant_name=reg.name, minutes=self.checkin_minutes,
                                 safe_url=link("safe"), help_url=link("help"))


    async def _confirmation(self, job: DeliveryJob) -> Rendered | None:
        rid, channel_id = confirm_target(job.alert_version)
        reg = await self.get(rid)
        channel = next((c for c in reg.channels if c.channel_id == channel_id), None) if reg else None
        if reg is None or channel is None or channel.confirmed or not channel.code:
            return None
        return self_confirmation_message(reg=reg, code=channel.code, base=self.public_url)


def _counted(reg: Registrant, channel_id: str) -> tuple[Registrant, int]:
    """``reg`` with one more attempt on the channel's code, and the attempts so far (0: no such channel)."""
    channels = [c.model_copy(update={"attempts": c.attempts + 1}) if c.channel_id == channel_id else c
                for c in reg.channels]
    n = next((c.attempts for c in channels if c.channel_id == channel_id), 0)
    return reg.model_copy(update={"channels": channels}), n


def _unconfirmed_before(regs: list[Registrant], created_before: datetime, limit: int) -> list[str]:
    """The ids of entries never active made before ``created_before`` (at most ``limit``)."""
    return [r.id for r in regs if r.awaiting_first_confirmation and r.created_at < created_before][:limit]


def _reg(record: str) -> Registrant:
    return Registrant.model_validate_json(record)


def _out(record: str) -> Outreach:
    return Outreach.model_validate_json(record)


class SQLiteRegistry(_Owner, SQLiteRepository):
    schema = """
CREATE TABLE IF NOT EXISTS registrants (id TEXT PRIMARY KEY, lat REAL NOT NULL, lon REAL NOT NULL, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS registry_outreach (
    id TEXT PRIMARY KEY, alert_id TEXT NOT NULL, registrant_id TEXT NOT NULL, state TEXT NOT NULL,
    due_at TEXT NOT NULL, record TEXT NOT NULL, UNIQUE (alert_id, registrant_id));
CREATE INDEX IF NOT EXISTS registry_outreach_due ON registry_outreach (state, due_at);
CREATE TABLE IF NOT EXISTS registry_audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS registry_keys (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS registry_pending (id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS registry_caregiver_requests (registrant_id TEXT PRIMARY KEY);
"""

    async def create(self, reg: Registrant) -> None:
        def _create(c: sqlite3.Connection) -> None:
            with _tx(c):
                c.execute("INSERT INTO registrants(id, lat, lon, record) VALUES (?,?,?,?)",
                          (reg.id, reg.lat, reg.lon, reg.model_dump_json()))
                if reg.awaiting_first_confirmation:
                    c.execute("INSERT INTO registry_pending(id) VALUES (?)", (reg.id,))

        await self.run(_create)

    async def save(self, reg: Registrant, *, expected_version: int) -> bool:
        def _save(c: sqlite3.Connection) -> bool:
            with _tx(c):
                row = c.execute("SELECT record FROM registrants WHERE id = ?", (reg.id,)).fetchone()
                if row is None or _reg(row[0]).version != expected_version:
                    return False
                c.execute("UPDATE registrants SET lat = ?, lon = ?, record = ? WHERE id = ?",
                          (reg.lat, reg.lon, reg.model_dump_json(), reg.id))
                if not reg.awaiting_first_confirmation:
                    c.execute("DELETE FROM registry_pending WHERE id = ?", (reg.id,))
                else:
                    c.execute("INSERT OR IGNORE INTO registry_pending(id) VALUES (?)", (reg.id,))
                return True

        return await self.run(_save)

    async def count_attempt(self, registrant_id: str, channel_id: str) -> int:
        def _count(c: sqlite3.Connection) -> int:
            with _tx(c):
                row = c.execute("SELECT record FROM registrants WHERE id = ?", (registrant_id,)).fetchone()
                if row is None:
                    return 0
                new, n = _counted(_reg(row[0]), channel_id)
                c.execute("UPDATE registrants SET record = ? WHERE id = ?", (new.model_dump_json(), registrant_id))
                return n

        return await self.run(_count)

    async def get(self, registrant_id: str) -> Registrant | None:
        row = await self.run(lambda c: c.execute("SELECT record FROM registrants WHERE id = ?",
                                                 (registrant_id,)).fetchone())
        return _reg(row[0]) if row else None

    async def many(self, ids: list[str]) -> dict[str, Registrant]:
        def _many(c: sqlite3.Connection):
            marks = ",".join("?" * len(ids))
            return c.execute(f"SELECT record FROM registrants WHERE id IN ({marks})", ids).fetchall() if ids else []

        return {r.id: r for r in (_reg(row[0]) for row in await self.run(_many))}

    async def page(self, *, after: str | None, limit: int) -> list[Registrant]:
        rows = await self.run(lambda c: c.execute("SELECT record FROM registrants WHERE id > ? ORDER BY id LIMIT ?",
                                                  (after or "", limit)).fetchall())
        return [_reg(r[0]) for r in rows]

    async def count(self) -> int:
        return await self.run(lambda c: c.execute("SELECT count(*) FROM registrants").fetchone()[0])

    async def delete(self, registrant_id: str) -> bool:
        def _delete(c: sqlite3.Connection) -> bool:
            with _tx(c):
                c.execute("DELETE FROM registry_pending WHERE id = ?", (registrant_id,))
                return c.execute("DELETE FROM registrants WHERE id = ?", (registrant_id,)).rowcount == 1

        return await self.run(_delete)

    async def erase_unconfirmed(self, *, created_before: datetime, limit: int = 100) -> list[str]:
        def _erase(c: sqlite3.Connection) -> list[str]:
            with _tx(c):
                rows = c.execute("SELECT r.record FROM registrants r JOIN registry_pending p ON p.id = r.id "
                                 "ORDER BY r.id").fetchall()
                gone = _unconfirmed_before([_reg(r[0]) for r in rows], created_before, limit)
                for rid in gone:
                    c.execute("DELETE FROM registry_pending WHERE id = ?", (rid,))
                    c.execute("DELETE FROM registrants WHERE id = ?", (rid,))
                return gone

        return await self.run(_erase)

    async def locations(self) -> list[tuple[str, float, float]]:
        rows = await self.run(lambda c: c.execute(
            "SELECT id, lat, lon FROM registrants WHERE id NOT IN (SELECT id FROM registry_pending) "
            "ORDER BY id").fetchall())
        return [(r[0], r[1], r[2]) for r in rows]

    async def add_outreach(self, rows: list[Outreach]) -> list[Outreach]:
        def _add(c: sqlite3.Connection) -> list[Outreach]:
            made = []
            for o in rows:
                cur = c.execute("INSERT OR IGNORE INTO registry_outreach(id, alert_id, registrant_id, state, due_at, "
                                "record) VALUES (?,?,?,?,?,?)", (o.id, o.alert_id, o.registrant_id, o.state,
                                                                  ts(o.due_at), o.model_dump_json()))
                if cur.rowcount == 1:
                    made.append(o)
            return made

        return await self.run(_add)

    async def _update(self, o: Outreach) -> None:
        await self.run(lambda c: c.execute("UPDATE registry_outreach SET state = ?, record = ? WHERE id = ?",
                                           (o.state, o.model_dump_json(), o.id)))

    async def set_deliveries(self, outreach_id: str, delivery_ids: list[str]) -> None:
        found = await self.outreach(outreach_id)
        if found is not None:
            await self._update(found.model_copy(update={"delivery_ids": delivery_ids}))

    async def outreach(self, outreach_id: str) -> Outreach | None:
        row = await self.run(lambda c: c.execute("SELECT record FROM registry_outreach WHERE id = ?",
                                                 (outreach_id,)).fetchone())
        return _out(row[0]) if row else None

    async def for_alert(self, alert_id: str) -> list[Outreach]:
        rows = await self.run(lambda c: c.execute("SELECT record FROM registry_outreach WHERE alert_id = ? "
                                                  "ORDER BY id", (alert_id,)).fetchall())
        return [_out(r[0]) for r in rows]

    async def answer(self, outreach_id: str, *, state: str, at: datetime, report_id: str | None,
                     only_from: tuple[str, ...], by: str | None = None) -> Outreach | None:
        def _answer(c: sqlite3.Connection) -> Outreach | None:
            c.execute("BEGIN IMMEDIATE")
            try:
                row = c.execute("SELECT record FROM registry_outreach WHERE id = ?", (outreach_id,)).fetchone()
                found = _out(row[0]) if row else None
                if found is None or found.state not in only_from:
                    c.execute("ROLLBACK")
                    return None
                new = found.model_copy(update={"state": state, "answered_at": at, "answered_by": by or found.answered_by,
                                               "report_id": report_id or found.report_id})
                c.execute("UPDATE registry_outreach SET state = ?, record = ? WHERE id = ?",
                          (new.state, new.model_dump_json(), new.id))
                c.execute("COMMIT")
                return new
            except BaseException:
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise

        return await self.run(_answer)

    async def due(self, now: datetime, limit: int = 100) -> list[Outreach]:
        rows = await self.run(lambda c: c.execute(
            "SELECT record FROM registry_outreach WHERE state = 'awaiting' AND due_at <= ? ORDER BY due_at LIMIT ?",
            (ts(now), limit)).fetchall())
        return [_out(r[0]) for r in rows]

    async def audit(self, item: AuditItem) -> None:
        await self.run(lambda c: c.execute("INSERT INTO registry_audit(at, record) VALUES (?, ?)",
                                           (ts(item.at), item.model_dump_json())))

    async def replace(self, reg: Registrant) -> None:
        await self.run(lambda c: c.execute("UPDATE registrants SET record = ? WHERE id = ?",
                                           (reg.model_dump_json(), reg.id)))

    async def with_number(self, number: str) -> list[Registrant]:
        rows = await self.run(lambda c: c.execute("SELECT record FROM registrants WHERE instr(record, ?) > 0 "
                                                  "ORDER BY id", (f'"{number}"',)).fetchall())
        return [r for r in (_reg(row[0]) for row in rows) if has_number(r, number)]

    async def request_confirmation(self, registrant_id: str) -> None:
        await self.run(lambda c: c.execute("INSERT OR IGNORE INTO registry_caregiver_requests(registrant_id) "
                                           "VALUES (?)", (registrant_id,)))

    async def confirmations_due(self, limit: int = 100) -> list[str]:
        rows = await self.run(lambda c: c.execute("SELECT registrant_id FROM registry_caregiver_requests ORDER BY "
                                                  "registrant_id LIMIT ?", (limit,)).fetchall())
        return [r[0] for r in rows]

    async def confirmation_sent(self, registrant_id: str) -> None:
        await self.run(lambda c: c.execute("DELETE FROM registry_caregiver_requests WHERE registrant_id = ?",
                                           (registrant_id,)))

    async def audit_log(self, *, limit: int) -> list[AuditItem]:
        rows = await self.run(lambda c: c.execute("SELECT record FROM registry_audit ORDER BY seq DESC LIMIT ?",
                                                  (limit,)).fetchall())
        return [AuditItem.model_validate_json(r[0]) for r in rows]

    async def key(self) -> bytes:
        def _key(c: sqlite3.Connection) -> str:
            c.execute("INSERT OR IGNORE INTO registry_keys(name, value) VALUES (?, ?)",
                      (CHECKIN_KEY, secrets.token_hex(32)))
            return c.execute("SELECT value FROM registry_keys WHERE name = ?", (CHECKIN_KEY,)).fetchone()[0]

        if getattr(self, "_key", None) is None:
            self._key = bytes.fromhex(await self.run(_key))
        return self._key


class PostGISRegistry(_Owner, PostGISRepository):
    schema = """
CREATE TABLE IF NOT EXISTS registrants (id text PRIMARY KEY, lat double precision NOT NULL,
    lon double precision NOT NULL, record text NOT NULL);
CREATE TABLE IF NOT EXISTS registry_outreach (
    id text PRIMARY KEY, alert_id text NOT NULL, registrant_id text NOT NULL, state text NOT NULL,
    due_at text NOT NULL, record text NOT NULL, UNIQUE (alert_id, registrant_id));
CREATE INDEX IF NOT EXISTS registry_outreach_due ON registry_outreach (state, due_at);
CREATE TABLE IF NOT EXISTS registry_audit (seq bigserial PRIMARY KEY, at text NOT NULL, record text NOT NULL);
CREATE TABLE IF NOT EXISTS registry_keys (name text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS registry_pending (id text PRIMARY KEY);
CREATE TABLE IF NOT EXISTS registry_caregiver_requests (registrant_id text PRIMARY KEY);
"""

    async def create(self, reg: Registrant) -> None:
        pool = await self.pool()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("INSERT INTO registrants(id, lat, lon, record) VALUES ($1,$2,$3,$4)",
                               reg.id, reg.lat, reg.lon, reg.model_dump_json())
            if reg.awaiting_first_confirmation:
                await conn.execute("INSERT INTO registry_pending(id) VALUES ($1)", reg.id)

    async def save(self, reg: Registrant, *, expected_version: int) -> bool:
        pool = await self.pool()
        async with pool.acquire() as conn, conn.transaction():
            record = await conn.fetchval("SELECT record FROM registrants WHERE id = $1 FOR UPDATE", reg.id)
            if record is None or _reg(record).version != expected_version:
                return False
            await conn.execute("UPDATE registrants SET lat = $1, lon = $2, record = $3 WHERE id = $4",
                               reg.lat, reg.lon, reg.model_dump_json(), reg.id)
            if not reg.awaiting_first_confirmation:
                await conn.execute("DELETE FROM registry_pending WHERE id = $1", reg.id)
            else:
                await conn.execute("INSERT INTO registry_pending(id) VALUES ($1) ON CONFLICT DO NOTHING", reg.id)
            return True

    async def count_attempt(self, registrant_id: str, channel_id: str) -> int:
        pool = await self.pool()
        async with pool.acquire() as conn, conn.transaction():
            record = await conn.fetchval("SELECT record FROM registrants WHERE id = $1 FOR UPDATE", registrant_id)
            if record is None:
                return 0
            new, n = _counted(_reg(record), channel_id)
            await conn.execute("UPDATE registrants SET record = $1 WHERE id = $2", new.model_dump_json(),
                               registrant_id)
            return n

    async def get(self, registrant_id: str) -> Registrant | None:
        record = await (await self.pool()).fetchval("SELECT record FROM registrants WHERE id = $1", registrant_id)
        return _reg(record) if record else None

    async def many(self, ids: list[str]) -> dict[str, Registrant]:
        rows = await (await self.pool()).fetch("SELECT record FROM registrants WHERE id = ANY($1::text[])", ids)
        return {r.id: r for r in (_reg(row[0]) for row in rows)}

    async def page(self, *, after: str | None, limit: int) -> list[Registrant]:
        rows = await (await self.pool()).fetch("SELECT record FROM registrants WHERE id > $1 ORDER BY id LIMIT $2",
                                               after or "", limit)
        return [_reg(r[0]) for r in rows]

    async def count(self) -> int:
        return await (await self.pool()).fetchval("SELECT count(*) FROM registrants")

    async def delete(self, registrant_id: str) -> bool:
        pool = await self.pool()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM registry_pending WHERE id = $1", registrant_id)
            done = await conn.execute("DELETE FROM registrants WHERE id = $1", registrant_id)
        return done.endswith(" 1")

    async def erase_unconfirmed(self, *, created_before: datetime, limit: int = 100) -> list[str]:
        pool = await self.pool()
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch("SELECT r.record FROM registrants r JOIN registry_pending p ON p.id = r.id "
                                    "ORDER BY r.id FOR UPDATE OF r")
            gone = _unconfirmed_before([_reg(r[0]) for r in rows], created_before, limit)
            if gone:
                await conn.execute("DELETE FROM registry_pending WHERE id = ANY($1::text[])", gone)
                await conn.execute("DELETE FROM registrants WHERE id = ANY($1::text[])", gone)
        return gone

    async def locations(self) -> list[tuple[str, float, float]]:
        rows = await (await self.pool()).fetch("SELECT id, lat, lon FROM registrants WHERE id NOT IN "
                                               "(SELECT id FROM registry_pending) ORDER BY id")
        return [(r[0], r[1], r[2]) for r in rows]

    async def add_outreach(self, rows: list[Outreach]) -> list[Outreach]:
        pool = await self.pool()
        made = []
        async with pool.acquire() as conn, conn.transaction():
            for o in rows:
                got = await conn.fetchval(
                    "INSERT INTO registry_outreach(id, alert_id, registrant_id, state, due_at, record) VALUES "
                    "($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING RETURNING id", o.id, o.alert_id, o.registrant_id,
                    o.state, ts(o.due_at), o.model_dump_json())
                if got is not None:
                    made.append(o)
        return made

    async def set_deliveries(self, outreach_id: str, delivery_ids: list[str]) -> None:
        found = await self.outreach(outreach_id)
        if found is not None:
            new = found.model_copy(update={"delivery_ids": delivery_ids})
            await (await self.pool()).execute("UPDATE registry_outreach SET record = $1 WHERE id = $2",
                                              new.model_dump_json(), new.id)

    async def outreach(self, outreach_id: str) -> Outreach | None:
        record = await (await self.pool()).fetchval("SELECT record FROM registry_outreach WHERE id = $1", outreach_id)
        return _out(record) if record else None

    async def for_alert(self, alert_id: str) -> list[Outreach]:
        rows = await (await self.pool()).fetch("SELECT record FROM registry_outreach WHERE alert_id = $1 ORDER BY id",
                                               alert_id)
        return [_out(r[0]) for r in rows]

    async def answer(self, outreach_id: str, *, state: str, at: datetime, report_id: str | None,
                     only_from: tuple[str, ...], by: str | None = None) -> Outreach | None:
        pool = await self.pool()
        async with pool.acquire() as conn, conn.transaction():
            record = await conn.fetchval("SELECT record FROM registry_outreach WHERE id = $1 FOR UPDATE", outreach_id)
            found = _out(record) if record else None
            if found is None or found.state not in only_from:
                return None
            new = found.model_copy(update={"state": state, "answered_at": at, "answered_by": by or found.answered_by,
                                           "report_id": report_id or found.report_id})
            await conn.execute("UPDATE registry_outreach SET state = $1, record = $2 WHERE id = $3", new.state,
                               new.model_dump_json(), new.id)
            return new

    async def due(self, now: datetime, limit: int = 100) -> list[Outreach]:
        rows = await (await self.pool()).fetch(
            "SELECT record FROM registry_outreach WHERE state = 'awaiting' AND due_at <= $1 ORDER BY due_at LIMIT $2",
            ts(now), limit)
        return [_out(r[0]) for r in rows]

    async def audit(self, item: AuditItem) -> None:
        await (await self.pool()).execute("INSERT INTO registry_audit(at, record) VALUES ($1, $2)", ts(item.at),
                                          item.model_dump_json())

    async def replace(self, reg: Registrant) -> None:
        await (await self.pool()).execute("UPDATE registrants SET record = $1 WHERE id = $2", reg.model_dump_json(),
                                          reg.id)

    async def with_number(self, number: str) -> list[Registrant]:
        rows = await (await self.pool()).fetch("SELECT record FROM registrants WHERE strpos(record, $1) > 0 "
                                               "ORDER BY id", f'"{number}"')
        return [r for r in (_reg(row[0]) for row in rows) if has_number(r, number)]

    async def request_confirmation(self, registrant_id: str) -> None:
        await (await self.pool()).execute("INSERT INTO registry_caregiver_requests(registrant_id) VALUES ($1) "
                                          "ON CONFLICT DO NOTHING", registrant_id)

    async def confirmations_due(self, limit: int = 100) -> list[str]:
        rows = await (await self.pool()).fetch("SELECT registrant_id FROM registry_caregiver_requests ORDER BY "
                                               "registrant_id LIMIT $1", limit)
        return [r[0] for r in rows]

    async def confirmation_sent(self, registrant_id: str) -> None:
        await (await self.pool()).execute("DELETE FROM registry_caregiver_requests WHERE registrant_id = $1",
                                          registrant_id)

    async def audit_log(self, *, limit: int) -> list[AuditItem]:
        rows = await (await self.pool()).fetch("SELECT record FROM registry_audit ORDER BY seq DESC LIMIT $1", limit)
        return [AuditItem.model_validate_json(r[0]) for r in rows]

    async def key(self) -> bytes:
        if getattr(self, "_key", None) is None:
            pool = await self.pool()
            await pool.execute("INSERT INTO registry_keys(name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                               CHECKIN_KEY, secrets.token_hex(32))
            self._key = bytes.fromhex(await pool.fetchval("SELECT value FROM registry_keys WHERE name = $1",
                                                          CHECKIN_KEY))
        return self._key


REGISTRY = RepositorySpec[RegistryRepository]("registry", sqlite=SQLiteRegistry, postgis=PostGISRegistry)
