"""Leases: one holder at a time for a named piece of work that several processes could do (e.g. polling one
external feed), held for a bounded time so a crashed holder's work is taken over.

``store.repository(LEASES)`` gives the implementation for the store's dialect; the table is ``leases`` (name,
holder, expires_at). A holder names itself (:func:`holder_name`: host, process, a random part), acquires before
the work and releases after; a lease not released (the holder died) expires after its ``ttl_s``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Protocol

from emergency.events import utcnow
from emergency.store.base import ts
from emergency.store.repository import PostGISRepository, RepositorySpec, SQLiteRepository


def holder_name() -> str:
    """A name no other process or object holds: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeaseRepository(Protocol):
    """Named leases with an expiry."""

    async def acquire(self, name: str, holder: str, ttl_s: float) -> bool:
        """Whether ``holder`` holds ``name`` for the next ``ttl_s`` seconds: True when it was free, expired or
        already held by ``holder`` (then renewed); False while another holder's lease runs."""
        ...

    async def release(self, name: str, holder: str) -> None:
        """Give ``name`` up if ``holder`` holds it (another holder's lease is left alone)."""
        ...


class SQLiteLeases(SQLiteRepository):
    schema = """
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
"""

    async def acquire(self, name: str, holder: str, ttl_s: float) -> bool:
        now = utcnow()
        until = ts(now + timedelta(seconds=ttl_s))

        def _acquire(c: sqlite3.Connection) -> bool:
            row = c.execute(
                "INSERT INTO leases VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
                "expires_at = excluded.expires_at WHERE leases.holder = excluded.holder OR leases.expires_at <= ? "
                "RETURNING holder", (name, holder, until, ts(now))).fetchone()
            return row is not None

        return await self.run(_acquire)

    async def release(self, name: str, holder: str) -> None:
        await self.run(lambda c: c.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder)))


class PostGISLeases(PostGISRepository):
    schema = """
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
"""

    async def acquire(self, name: str, holder: str, ttl_s: float) -> bool:
        now = utcnow()
        row = await (await self.pool()).fetchval(
            "INSERT INTO leases VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, "
            "expires_at = EXCLUDED.expires_at WHERE leases.holder = EXCLUDED.holder OR leases.expires_at <= $4 "
            "RETURNING holder", name, holder, now + timedelta(seconds=ttl_s), now)
        return row is not None

    async def release(self, name: str, holder: str) -> None:
        await (await self.pool()).execute("DELETE FROM leases WHERE name = $1 AND holder = $2", name, holder)


LEASES = RepositorySpec[LeaseRepository]("leases", sqlite=SQLiteLeases, postgis=PostGISLeases)


@asynccontextmanager
async def leased(leases: LeaseRepository, name: str, holder: str, *, ttl_s: float, wait_s: float = 0.0,
                 poll_s: float = 0.05) -> AsyncIterator[bool]:
    """Hold ``name`` for the block: yields True once ``holder`` has it (trying every ``poll_s`` for up to
    ``wait_s`` seconds while another holder's lease runs), False when it could not be had (nothing to release);
    a lease had is released when the block ends, however it ends."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while not await leases.acquire(name, holder, ttl_s):
        if loop.time() >= deadline:
            yield False
            return
        await asyncio.sleep(poll_s)
    try:
        yield True
    finally:
        await leases.release(name, holder)
