"""Storage of external feeds (both backends): the feeds added through the admin API (``external_feeds``)
and, per feed, the content hash and last envelope of every item it currently lists (``feed_items``), so a
poll journals only new or changed items and ends the ones that left.

``store.repository(FEEDS)``; each poll's state (validators, health) is a named cursor ``feed:<name>``
(``emergency/store/cursors.py``).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Protocol

from emergency.events import utcnow
from emergency.store.base import ts
from emergency.store.repository import PostGISRepository, RepositorySpec, SQLiteRepository
from feeds.external.models import FeedConfig


@dataclass(frozen=True)
class StoredItem:
    """An item a feed listed at its last change: its content hash and the envelope journaled for it (JSON)."""

    hash: str
    envelope: str


class FeedRepository(Protocol):
    """Admin-added feeds and the items each feed lists."""

    async def list_feeds(self) -> list[FeedConfig]:
        """Every feed added through the admin API, by name."""
        ...

    async def put_feed(self, feed: FeedConfig) -> bool:
        """Add ``feed``; False when a feed of that name exists (nothing changed)."""
        ...

    async def delete_feed(self, name: str) -> bool:
        """Remove the feed ``name``; False when there was none."""
        ...

    async def items(self, feed: str) -> dict[str, StoredItem]:
        """The items ``feed`` listed at its last change, by item id."""
        ...

    async def apply(self, feed: str, *, put: dict[str, StoredItem], remove: list[str]) -> None:
        """Record new/changed items and forget removed ones, in one transaction."""
        ...


class SQLiteFeeds(SQLiteRepository):
    schema = """
CREATE TABLE IF NOT EXISTS external_feeds (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    interval_s REAL NOT NULL,
    created_by TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS feed_items (
    feed TEXT NOT NULL,
    item_id TEXT NOT NULL,
    hash TEXT NOT NULL,
    envelope TEXT NOT NULL,
    PRIMARY KEY (feed, item_id)
);
"""

    async def list_feeds(self) -> list[FeedConfig]:
        rows = await self.run(lambda c: c.execute(
            "SELECT name, url, interval_s, created_by FROM external_feeds ORDER BY name").fetchall())
        return [FeedConfig(r[0], r[1], r[2], "admin", r[3]) for r in rows]

    async def put_feed(self, feed: FeedConfig) -> bool:
        now = ts(utcnow())
        return bool(await self.run(lambda c: c.execute(
            "INSERT INTO external_feeds VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
            (feed.name, feed.url, feed.interval_s, feed.created_by, now)).rowcount))

    async def delete_feed(self, name: str) -> bool:
        def _delete(c: sqlite3.Connection) -> bool:
            with c:
                gone = c.execute("DELETE FROM external_feeds WHERE name = ?", (name,)).rowcount
            return bool(gone)

        return await self.run(_delete)

    async def items(self, feed: str) -> dict[str, StoredItem]:
        rows = await self.run(lambda c: c.execute(
            "SELECT item_id, hash, envelope FROM feed_items WHERE feed = ?", (feed,)).fetchall())
        return {r[0]: StoredItem(r[1], r[2]) for r in rows}

    async def apply(self, feed: str, *, put: dict[str, StoredItem], remove: list[str]) -> None:
        def _apply(c: sqlite3.Connection) -> None:
            c.execute("BEGIN")
            try:
                c.executemany("DELETE FROM feed_items WHERE feed = ? AND item_id = ?", [(feed, i) for i in remove])
                c.executemany(
                    "INSERT INTO feed_items VALUES (?, ?, ?, ?) ON CONFLICT (feed, item_id) DO UPDATE SET "
                    "hash = excluded.hash, envelope = excluded.envelope",
                    [(feed, i, s.hash, s.envelope) for i, s in put.items()])
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")

        await self.run(_apply)


class PostGISFeeds(PostGISRepository):
    schema = """
CREATE TABLE IF NOT EXISTS external_feeds (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    interval_s DOUBLE PRECISION NOT NULL,
    created_by TEXT,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS feed_items (
    feed TEXT NOT NULL,
    item_id TEXT NOT NULL,
    hash TEXT NOT NULL,
    envelope TEXT NOT NULL,
    PRIMARY KEY (feed, item_id)
);
"""

    async def list_feeds(self) -> list[FeedConfig]:
        rows = await (await self.pool()).fetch(
            "SELECT name, url, interval_s, created_by FROM external_feeds ORDER BY name")
        return [FeedConfig(r["name"], r["url"], r["interval_s"], "admin", r["created_by"]) for r in rows]

    async def put_feed(self, feed: FeedConfig) -> bool:
        status = await (await self.pool()).execute(
            "INSERT INTO external_feeds VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
            feed.name, feed.url, feed.interval_s, feed.created_by, utcnow())
        return status.endswith(" 1")

    async def delete_feed(self, name: str) -> bool:
        status = await (await self.pool()).execute("DELETE FROM external_feeds WHERE name = $1", name)
        return status.endswith(" 1")

    async def items(self, feed: str) -> dict[str, StoredItem]:
        rows = await (await self.pool()).fetch(
            "SELECT item_id, hash, envelope FROM feed_items WHERE feed = $1", feed)
        return {r["item_id"]: StoredItem(r["hash"], r["envelope"]) for r in rows}

    async def apply(self, feed: str, *, put: dict[str, StoredItem], remove: list[str]) -> None:
        pool = await self.pool()
        async with pool.acquire() as conn, conn.transaction():
            if remove:
                await conn.execute("DELETE FROM feed_items WHERE feed = $1 AND item_id = ANY($2::text[])",
                                   feed, remove)
            if put:
                await conn.executemany(
                    "INSERT INTO feed_items VALUES ($1, $2, $3, $4) ON CONFLICT (feed, item_id) DO UPDATE SET "
                    "hash = EXCLUDED.hash, envelope = EXCLUDED.envelope",
                    [(feed, i, s.hash, s.envelope) for i, s in put.items()])


FEEDS = RepositorySpec[FeedRepository]("external_feeds", sqlite=SQLiteFeeds, postgis=PostGISFeeds)
