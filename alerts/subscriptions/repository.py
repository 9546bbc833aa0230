"""Where subscriptions and their contacts are kept: the only place an address, number, URL, secret, push
subscription or confirmation code of a subscriber exists (tables ``subscriptions``, ``subscription_channels``,
``subscription_keys``), on SQLite or PostGIS. ``store.repository(SUBSCRIPTIONS)`` gives the implementation.

It is also the fan-out's and channel workers' ``alerts.delivery.models.Directory``: ``targets()`` (no contact
data), ``contact()`` (None for an unconfirmed or stopped email/sms channel), ``confirmation()`` and
``pending_contact()`` (to send the confirmation message, and nothing else, to an unconfirmed channel).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from alerts.delivery.models import ChannelType, Contact, Target
from alerts.subscriptions.models import StoredChannel, Subscription
from alerts.subscriptions.service import CONFIRMED_BY_CODE, contact_of, target_of, unsubscribe_url
from emergency.events import utcnow
from emergency.store.repository import PostGISRepository, RepositorySpec, SQLiteRepository

if TYPE_CHECKING:
    import asyncpg

UNSUBSCRIBE_KEY = "unsubscribe"
_CONTACT_FIELDS = {"address", "number", "url", "secret", "push", "cell"}


class SubscriptionRepository(Protocol):
    """Subscriptions by id, their channels with contacts and codes, and the Directory reads."""

    public_url: str  # EMERGENCY_PUBLIC_URL, for unsubscribe links (set by whoever opens it; default local)

    async def create(self, sub: Subscription) -> None:
        """Store a new subscription with its channels."""
        ...

    async def get(self, subscription_id: str) -> Subscription | None:
        """The live subscription (None when unknown or deleted)."""
        ...

    async def save(self, sub: Subscription, *, expected_version: int) -> bool:
        """Replace the subscription and its channels whole (a deleted one keeps no channels); False when its stored
        version is no longer ``expected_version`` (someone changed it meanwhile)."""
        ...

    async def count_attempt(self, subscription_id: str, channel_id: str) -> int:
        """Count one code attempt against the channel's pending code; the attempts so far (0: no such channel)."""
        ...

    async def set_number_opt_out(self, number: str, stopped: bool) -> int:
        """SMS STOP (``stopped`` True) or START for every sms channel with this E.164 number; each subscription
        changed gets a new version. How many channels changed."""
        ...

    async def targets_with_number(self, number: str) -> list[Target]:
        """The Targets of the live subscriptions with an sms channel on this number."""
        ...

    async def target(self, subscription_id: str) -> Target | None:
        """The subscription's Target (``deleted`` True once deleted); None when unknown."""
        ...

    async def targets(self) -> list[Target]:
        """Every live subscription, for an index rebuilt at a worker's start."""
        ...

    async def contact(self, subscription_id: str, channel_id: str, *, pending: bool = False) -> Contact | None:
        """The contact of one channel; None when gone, stopped, or (email, sms) not confirmed. With ``pending``
        the contact of an unconfirmed channel instead (``pending_contact``), for its confirmation message only."""
        ...

    async def pending_contact(self, subscription_id: str, channel_id: str) -> Contact | None:
        """The contact of an unconfirmed channel with a pending code, only to send it the confirmation message."""
        ...

    async def confirmation(self, subscription_id: str, channel_id: str) -> str | None:
        """The pending confirmation code of the channel (None when confirmed, expired or unknown)."""
        ...

    async def page(self, *, after: str | None, limit: int) -> list[Subscription]:
        """Live subscriptions in id order, after ``after``."""
        ...

    async def count(self) -> int:
        """How many live subscriptions there are."""
        ...

    async def channel_counts(self) -> dict[str, dict[str, int]]:
        """Channels of live subscriptions by type, then confirmed / unconfirmed / stopped."""
        ...

    async def unsubscribe_key(self) -> bytes:
        """The HMAC key of unsubscribe links: random, made once per store and kept in it."""
        ...


def _channel_row(sub_id: str, c: StoredChannel) -> tuple:
    contact = json.dumps(c.model_dump(mode="json", include=_CONTACT_FIELDS))
    return (sub_id, c.channel_id, c.channel.value, c.number, c.confirmed, c.stopped, c.code,
            c.code_expires_at.isoformat() if c.code_expires_at else None, c.attempts, contact)


def _channel(row) -> StoredChannel:
    contact = json.loads(row[9])
    return StoredChannel(channel_id=row[1], channel=ChannelType(row[2]), confirmed=bool(row[4]), stopped=bool(row[5]),
                         code=row[6], code_expires_at=datetime.fromisoformat(row[7]) if row[7] else None,
                         attempts=row[8], **contact)


def _record(sub: Subscription) -> str:
    return sub.model_dump_json(exclude={"channels"})


def _subscription(record: str, channel_rows) -> Subscription:
    doc = json.loads(record)
    return Subscription(**doc, channels=[_channel(r) for r in channel_rows])


CHANNEL_COLUMNS = ("subscription_id, channel_id, type, number, confirmed, stopped, code, code_expires_at, attempts, "
                   "contact")


class _Directory:
    """The Directory reads, on top of ``get``/``_load`` of a backend."""

    public_url = "http://127.0.0.1:8000"

    async def _load(self, subscription_id: str) -> Subscription | None:
        raise NotImplementedError

    async def get(self, subscription_id: str) -> Subscription | None:
        sub = await self._load(subscription_id)
        return sub if sub is not None and sub.deleted_at is None else None

    async def target(self, subscription_id: str) -> Target | None:
        sub = await self._load(subscription_id)
        return None if sub is None else target_of(sub)

    async def _channel_of(self, subscription_id: str, channel_id: str) -> tuple[Subscription, StoredChannel] | None:
        sub = await self.get(subscription_id)
        channel = next((c for c in sub.channels if c.channel_id == channel_id), None) if sub else None
        return None if sub is None or channel is None else (sub, channel)

    async def _contact(self, sub: Subscription, channel: StoredChannel) -> Contact:
        link = unsubscribe_url(public_url=self.public_url, key=await self.unsubscribe_key(), subscription_id=sub.id,
                               channel_id=channel.channel_id)
        return contact_of(sub, channel, unsubscribe=link)

    async def contact(self, subscription_id: str, channel_id: str, *, pending: bool = False) -> Contact | None:
        if pending:
            return await self.pending_contact(subscription_id, channel_id)
        found = await self._channel_of(subscription_id, channel_id)
        if found is None or found[1].stopped or not found[1].confirmed:
            return None
        return await self._contact(*found)

    async def pending_contact(self, subscription_id: str, channel_id: str) -> Contact | None:
        found = await self._channel_of(subscription_id, channel_id)
        if found is None or found[1].stopped or found[1].confirmed or found[1].channel not in CONFIRMED_BY_CODE:
            return None
        return await self._contact(*found)

    async def confirmation(self, subscription_id: str, channel_id: str) -> str | None:
        found = await self._channel_of(subscription_id, channel_id)
        if found is None or found[1].confirmed or found[1].code is None:
            return None
        expires = found[1].code_expires_at
        return found[1].code if expires is None or expires > utcnow() else None

    async def unsubscribe_key(self) -> bytes:
        raise NotImplementedError


class SQLiteSubscriptions(_Directory, SQLiteRepository):
    schema = """
CREATE TABLE IF NOT EXISTS subscriptions (
    id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS subscription_channels (
    subscription_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    type TEXT NOT NULL,
    number TEXT,
    confirmed INTEGER NOT NULL,
    stopped INTEGER NOT NULL DEFAULT 0,
    code TEXT,
    code_expires_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    contact TEXT NOT NULL,
    PRIMARY KEY (subscription_id, channel_id)
);
CREATE INDEX IF NOT EXISTS subscription_channels_number ON subscription_channels(number);
CREATE TABLE IF NOT EXISTS subscription_keys (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

    async def create(self, sub: Subscription) -> None:
        def _create(c: sqlite3.Connection) -> None:
            with _tx(c):
                c.execute("INSERT INTO subscriptions(id, version, deleted, record) VALUES (?,?,0,?)",
                          (sub.id, sub.version, _record(sub)))
                _put_channels(c, sub)

        await self.run(_create)

    async def _load(self, subscription_id: str) -> Subscription | None:
        def _get(c: sqlite3.Connection):
            row = c.execute("SELECT record FROM subscriptions WHERE id = ?", (subscription_id,)).fetchone()
            if row is None:
                return None
            return row[0], c.execute(f"SELECT {CHANNEL_COLUMNS} FROM subscription_channels WHERE subscription_id = ? "
                                     "ORDER BY rowid", (subscription_id,)).fetchall()

        got = await self.run(_get)
        return None if got is None else _subscription(*got)

    async def save(self, sub: Subscription, *, expected_version: int) -> bool:
        def _save(c: sqlite3.Connection) -> bool:
            with _tx(c):
                if c.execute("UPDATE subscriptions SET version = ?, deleted = ?, record = ? WHERE id = ? AND version = ?",
                             (sub.version, sub.deleted_at is not None, _record(sub), sub.id,
                              expected_version)).rowcount != 1:
                    return False
                c.execute("DELETE FROM subscription_channels WHERE subscription_id = ?", (sub.id,))
                _put_channels(c, sub)
                return True

        return await self.run(_save)

    async def count_attempt(self, subscription_id: str, channel_id: str) -> int:
        def _count(c: sqlite3.Connection) -> int:
            with _tx(c):
                c.execute("UPDATE subscription_channels SET attempts = attempts + 1 WHERE subscription_id = ? AND "
                          "channel_id = ?", (subscription_id, channel_id))
                row = c.execute("SELECT attempts FROM subscription_channels WHERE subscription_id = ? AND "
                                "channel_id = ?", (subscription_id, channel_id)).fetchone()
            return row[0] if row else 0

        return await self.run(_count)

    async def set_number_opt_out(self, number: str, stopped: bool) -> int:
        def _set(c: sqlite3.Connection) -> int:
            with _tx(c):
                ids = [r[0] for r in c.execute(
                    "SELECT DISTINCT subscription_id FROM subscription_channels WHERE number = ? AND type = 'sms' "
                    "AND stopped <> ?", (number, stopped)).fetchall()]
                n = c.execute("UPDATE subscription_channels SET stopped = ? WHERE number = ? AND type = 'sms' AND "
                              "stopped <> ?", (stopped, number, stopped)).rowcount
                for sid in ids:
                    record = json.loads(c.execute("SELECT record FROM subscriptions WHERE id = ?", (sid,)).fetchone()[0])
                    record["version"] += 1
                    c.execute("UPDATE subscriptions SET version = ?, record = ? WHERE id = ?",
                              (record["version"], json.dumps(record), sid))
            return n

        return await self.run(_set)

    async def targets_with_number(self, number: str) -> list[Target]:
        ids = await self.run(lambda c: [r[0] for r in c.execute(
            "SELECT DISTINCT subscription_id FROM subscription_channels WHERE number = ? AND type = 'sms' "
            "ORDER BY subscription_id", (number,)).fetchall()])
        return [t for sid in ids if (t := await self.target(sid)) is not None and not t.deleted]

    async def targets(self) -> list[Target]:
        return [target_of(s) for s in await self._all(after=None, limit=None)]

    async def page(self, *, after: str | None, limit: int) -> list[Subscription]:
        return await self._all(after=after, limit=limit)

    async def _all(self, *, after: str | None, limit: int | None) -> list[Subscription]:
        def _read(c: sqlite3.Connection):
            rows = c.execute("SELECT id, record FROM subscriptions WHERE deleted = 0 AND id > ? ORDER BY id LIMIT ?",
                             (after or "", -1 if limit is None else limit)).fetchall()
            channels: dict[str, list] = {r[0]: [] for r in rows}
            if rows:
                for ch in c.execute(f"SELECT {CHANNEL_COLUMNS} FROM subscription_channels WHERE subscription_id "
                                    "BETWEEN ? AND ? ORDER BY rowid", (rows[0][0], rows[-1][0])).fetchall():
                    if ch[0] in channels:
                        channels[ch[0]].append(ch)
            return [(r[1], channels[r[0]]) for r in rows]

        return [_subscription(*got) for got in await self.run(_read)]

    async def count(self) -> int:
        return await self.run(lambda c: c.execute("SELECT count(*) FROM subscriptions WHERE deleted = 0").fetchone()[0])

    async def channel_counts(self) -> dict[str, dict[str, int]]:
        rows = await self.run(lambda c: c.execute(
            "SELECT ch.type, ch.confirmed, ch.stopped, count(*) FROM subscription_channels ch JOIN subscriptions s "
            "ON s.id = ch.subscription_id WHERE s.deleted = 0 GROUP BY 1, 2, 3").fetchall())
        return _counts(rows)

    async def unsubscribe_key(self) -> bytes:
        def _key(c: sqlite3.Connection) -> str:
            c.execute("INSERT OR IGNORE INTO subscription_keys(name, value) VALUES (?, ?)",
                      (UNSUBSCRIBE_KEY, secrets.token_hex(32)))
            return c.execute("SELECT value FROM subscription_keys WHERE name = ?", (UNSUBSCRIBE_KEY,)).fetchone()[0]

        if getattr(self, "_key", None) is None:
            self._key = bytes.fromhex(await self.run(_key))
        return self._key


def _counts(rows) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for kind, confirmed, stopped, n in rows:
        state = "stopped" if stopped else "confirmed" if confirmed else "unconfirmed"
        bucket = out.setdefault(kind, {"confirmed": 0, "unconfirmed": 0, "stopped": 0})
        bucket[state] += n
    return out


def _put_channels(c: sqlite3.Connection, sub: Subscription) -> None:
    if sub.deleted_at is None:
        c.executemany(f"INSERT INTO subscription_channels({CHANNEL_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                      [_channel_row(sub.id, ch) for ch in sub.channels])


class _tx:
    """BEGIN IMMEDIATE ... COMMIT on the store's connection, rolled back on any error."""

    def __init__(self, c: sqlite3.Connection) -> None:
        self.c = c

    def __enter__(self) -> None:
        self.c.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, exc, tb) -> None:
        self.c.execute("ROLLBACK" if kind is not None else "COMMIT")


class PostGISSubscriptions(_Directory, PostGISRepository):
    schema = """
CREATE TABLE IF NOT EXISTS subscriptions (
    id TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT false,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS subscription_channels (
    subscription_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    type TEXT NOT NULL,
    number TEXT,
    confirmed BOOLEAN NOT NULL,
    stopped BOOLEAN NOT NULL DEFAULT false,
    code TEXT,
    code_expires_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    contact TEXT NOT NULL,
    position SERIAL,
    PRIMARY KEY (subscription_id, channel_id)
);
CREATE INDEX IF NOT EXISTS subscription_channels_number ON subscription_channels(number);
CREATE TABLE IF NOT EXISTS subscription_keys (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

    async def create(self, sub: Subscription) -> None:
        pool = await self.pool()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("INSERT INTO subscriptions(id, version, deleted, record) VALUES ($1, $2, false, $3)",
                               sub.id, sub.version, _record(sub))
            await _pg_put_channels(conn, sub)

    async def _load(self, subscription_id: str) -> Subscription | None:
        pool = await self.pool()
        async with pool.acquire() as conn:
            row = await conn.fetchrow("SELECT record FROM subscriptions WHERE id = $1", subscription_id)
            if row is None:
                return None
            channels = await conn.fetch(f"SELECT {CHANNEL_COLUMNS} FROM subscription_channels WHERE "
                                        "subscription_id = $1 ORDER BY position", subscription_id)
        return _subscription(row[0], channels)

    async def save(self, sub: Subscription, *, expected_version: int) -> bool:
        pool = await self.pool()
        async with pool.acquire() as conn, conn.transaction():
            status = await conn.execute("UPDATE subscriptions SET version = $1, deleted = $2, record = $3 WHERE id = $4 "
                                        "AND version = $5", sub.version, sub.deleted_at is not None, _record(sub),
                                        sub.id, expected_version)
            if status.split()[-1] != "1":
                return False
            await conn.execute("DELETE FROM subscription_channels WHERE subscription_id = $1", sub.id)
            await _pg_put_channels(conn, sub)
        return True

    async def count_attempt(self, subscription_id: str, channel_id: str) -> int:
        value = await (await self.pool()).fetchval(
            "UPDATE subscription_channels SET attempts = attempts + 1 WHERE subscription_id = $1 AND channel_id = $2 "
            "RETURNING attempts", subscription_id, channel_id)
        return value or 0

    async def set_number_opt_out(self, number: str, stopped: bool) -> int:
        pool = await self.pool()
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch("UPDATE subscription_channels SET stopped = $1 WHERE number = $2 AND type = 'sms' "
                                    "AND stopped <> $1 RETURNING subscription_id", stopped, number)
            for sid in sorted({r[0] for r in rows}):
                record = json.loads(await conn.fetchval("SELECT record FROM subscriptions WHERE id = $1 FOR UPDATE",
                                                        sid))
                record["version"] += 1
                await conn.execute("UPDATE subscriptions SET version = $1, record = $2 WHERE id = $3",
                                   record["version"], json.dumps(record), sid)
        return len(rows)

    async def targets_with_number(self, number: str) -> list[Target]:
        rows = await (await self.pool()).fetch(
            "SELECT DISTINCT subscription_id FROM subscription_channels WHERE number = $1 AND type = 'sms' "
            "ORDER BY subscription_id", number)
        return [t for r in rows if (t := await self.target(r[0])) is not None and not t.deleted]

    async def targets(self) -> list[Target]:
        return [target_of(s) for s in await self._all(after=None, limit=None)]

    async def page(self, *, after: str | None, limit: int) -> list[Subscription]:
        return await self._all(after=after, limit=limit)

    async def _all(self, *, after: str | None, limit: int | None) -> list[Subscription]:
        pool = await self.pool()
        async with pool.acquire() as conn:
            rows = await conn.fetch("SELECT id, record FROM subscriptions WHERE NOT deleted AND id > $1 ORDER BY id "
                                    "LIMIT $2", after or "", limit)
            channels: dict[str, list] = {r[0]: [] for r in rows}
            if rows:
                for ch in await conn.fetch(f"SELECT {CHANNEL_COLUMNS} FROM subscription_channels WHERE "
                                           "subscription_id = ANY($1::text[]) ORDER BY position", list(channels)):
                    channels[ch[0]].append(ch)
        return [_subscription(r[1], channels[r[0]]) for r in rows]

    async def count(self) -> int:
        return await (await self.pool()).fetchval("SELECT count(*) FROM subscriptions WHERE NOT deleted")

    async def channel_counts(self) -> dict[str, dict[str, int]]:
        rows = await (await self.pool()).fetch(
            "SELECT ch.type, ch.confirmed, ch.stopped, count(*) FROM subscription_channels ch JOIN subscriptions s "
            "ON s.id = ch.subscription_id WHERE NOT s.deleted GROUP BY 1, 2, 3")
        return _counts([tuple(r) for r in rows])

    async def unsubscribe_key(self) -> bytes:
        if getattr(self, "_key", None) is None:
            pool = await self.pool()
            await pool.execute("INSERT INTO subscription_keys(name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                               UNSUBSCRIBE_KEY, secrets.token_hex(32))
            self._key = bytes.fromhex(await pool.fetchval("SELECT value FROM subscription_keys WHERE name = $1",
                                                          UNSUBSCRIBE_KEY))
        return self._key


async def _pg_put_channels(conn: asyncpg.Connection, sub: Subscription) -> None:
    if sub.deleted_at is None and sub.channels:
        await conn.executemany(f"INSERT INTO subscription_channels({CHANNEL_COLUMNS}) VALUES "
                               "($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)", [_channel_row(sub.id, ch) for ch in sub.channels])


SUBSCRIPTIONS = RepositorySpec[SubscriptionRepository]("subscriptions", sqlite=SQLiteSubscriptions,
                                                       postgis=PostGISSubscriptions)
