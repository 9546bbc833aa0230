"""The server's VAPID key pair (RFC 8292), created at first start and kept in the store.

``store.repository(VAPID_KEYS)`` keeps one private key (PEM) per name in the table ``vapid_keys``;
``ensure_vapid(store)`` gives the key, creating it once: two processes starting together both end with
the first one stored (insert-if-absent, then read). Browsers subscribe with its public key
(``application_server_key``), so it must never change while subscriptions exist.
"""

from __future__ import annotations

import sqlite3
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid02
from py_vapid.utils import b64urlencode

from emergency.events import utcnow
from emergency.store.base import Store, ts
from emergency.store.repository import PostGISRepository, RepositorySpec, SQLiteRepository

KEY_NAME = "webpush"


class VapidKeyRepository(Protocol):
    """Private keys (PEM text) by name, written once."""

    async def get(self, name: str) -> str | None:
        """The PEM saved under ``name``, or None."""
        ...

    async def put_if_absent(self, name: str, pem: str) -> str:
        """Save ``pem`` under ``name`` unless a key is there already; return the key that is stored."""
        ...


class SQLiteVapidKeys(SQLiteRepository):
    schema = """
CREATE TABLE IF NOT EXISTS vapid_keys (
    name TEXT PRIMARY KEY,
    private_pem TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""

    async def get(self, name: str) -> str | None:
        def _get(c: sqlite3.Connection) -> str | None:
            r = c.execute("SELECT private_pem FROM vapid_keys WHERE name = ?", (name,)).fetchone()
            return r[0] if r else None

        return await self.run(_get)

    async def put_if_absent(self, name: str, pem: str) -> str:
        now = ts(utcnow())

        def _put(c: sqlite3.Connection) -> str:
            c.execute("INSERT INTO vapid_keys VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING", (name, pem, now))
            return c.execute("SELECT private_pem FROM vapid_keys WHERE name = ?", (name,)).fetchone()[0]

        return await self.run(_put)


class PostGISVapidKeys(PostGISRepository):
    schema = """
CREATE TABLE IF NOT EXISTS vapid_keys (
    name TEXT PRIMARY KEY,
    private_pem TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
"""

    async def get(self, name: str) -> str | None:
        return await (await self.pool()).fetchval("SELECT private_pem FROM vapid_keys WHERE name = $1", name)

    async def put_if_absent(self, name: str, pem: str) -> str:
        pool = await self.pool()
        await pool.execute("INSERT INTO vapid_keys VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
                           name, pem, utcnow())
        return await pool.fetchval("SELECT private_pem FROM vapid_keys WHERE name = $1", name)


VAPID_KEYS = RepositorySpec[VapidKeyRepository]("vapid_keys", sqlite=SQLiteVapidKeys, postgis=PostGISVapidKeys)


async def ensure_vapid(store: Store) -> Vapid02:
    """The server's VAPID key from the store, created (P-256) and stored at the first call."""
    keys = store.repository(VAPID_KEYS)
    pem = await keys.get(KEY_NAME)
    if pem is None:
        fresh = Vapid02()
        fresh.generate_keys()
        pem = await keys.put_if_absent(KEY_NAME, fresh.private_pem().decode("ascii"))
    vapid = Vapid02.from_pem(pem.encode("ascii"))
    vapid.conf["no-strict"] = True  # the subject may be an http:// public URL on a private deployment
    return vapid


def application_server_key(vapid: Vapid02) -> str:
    """The public key as browsers' ``PushManager.subscribe({applicationServerKey})`` takes it: the uncompressed
    P-256 point, base64url without padding."""
    raw = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return b64urlencode(raw)
