"""Storage of photo references (both backends): which report carries which photo (by content hash), with its
media type and size. The bytes live in files under the data directory (``feeds.photos.service``).

``store.repository(PHOTOS)``; table ``photos``, one row per (photo, owner): the same photo sent with two
reports is stored once and listed for both.
"""

from __future__ import annotations

from typing import Protocol

from emergency.events import utcnow
from emergency.store.base import ts
from emergency.store.repository import PostGISRepository, RepositorySpec, SQLiteRepository
from feeds.photos.models import PhotoRecord

COLUMNS = "sha256, owner_id, media_type, width, height, size"


class PhotoRepository(Protocol):
    """Photo references by hash and by owner."""

    async def put(self, record: PhotoRecord) -> bool:
        """Record ``record``; False when that photo was already attached to that owner (nothing changed)."""
        ...

    async def owners(self, sha256: str) -> list[PhotoRecord]:
        """Every owner the photo ``sha256`` is attached to, oldest first."""
        ...

    async def of_owner(self, owner_id: str) -> list[PhotoRecord]:
        """The photos attached to ``owner_id``, in the order they were attached."""
        ...

    async def referenced(self, hashes: list[str]) -> set[str]:
        """Those of ``hashes`` attached to at least one owner (the orphan sweep keeps their files)."""
        ...


def _record(row) -> PhotoRecord:
    return PhotoRecord(sha256=row[0], owner_id=row[1], media_type=row[2], width=row[3], height=row[4], size=row[5])


class SQLitePhotos(SQLiteRepository):
    schema = """
CREATE TABLE IF NOT EXISTS photos (
    sha256 TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    media_type TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    size INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (sha256, owner_id)
);
CREATE INDEX IF NOT EXISTS photos_owner ON photos (owner_id);
"""

    async def put(self, record: PhotoRecord) -> bool:
        r, now = record, ts(utcnow())

        def _put(c) -> bool:
            with c:
                return bool(c.execute(
                    "INSERT INTO photos VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sha256, owner_id) DO NOTHING",
                    (r.sha256, r.owner_id, r.media_type, r.width, r.height, r.size, now)).rowcount)

        return await self.run(_put)

    async def owners(self, sha256: str) -> list[PhotoRecord]:
        rows = await self.run(lambda c: c.execute(
            f"SELECT {COLUMNS} FROM photos WHERE sha256 = ? ORDER BY created_at, owner_id", (sha256,)).fetchall())
        return [_record(r) for r in rows]

    async def of_owner(self, owner_id: str) -> list[PhotoRecord]:
        rows = await self.run(lambda c: c.execute(
            f"SELECT {COLUMNS} FROM photos WHERE owner_id = ? ORDER BY created_at, rowid", (owner_id,)).fetchall())
        return [_record(r) for r in rows]

    async def referenced(self, hashes: list[str]) -> set[str]:
        if not hashes:
            return set()
        marks = ",".join("?" * len(hashes))
        rows = await self.run(lambda c: c.execute(f"SELECT DISTINCT sha256 FROM photos WHERE sha256 IN ({marks})",
                                                  hashes).fetchall())
        return {r[0] for r in rows}


class PostGISPhotos(PostGISRepository):
    schema = """
CREATE TABLE IF NOT EXISTS photos (
    sha256 TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    media_type TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    size INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (sha256, owner_id)
);
CREATE INDEX IF NOT EXISTS photos_owner ON photos (owner_id);
"""

    async def put(self, record: PhotoRecord) -> bool:
        r = record
        status = await (await self.pool()).execute(
            "INSERT INTO photos VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (sha256, owner_id) DO NOTHING",
            r.sha256, r.owner_id, r.media_type, r.width, r.height, r.size, utcnow())
        return status.endswith(" 1")

    async def owners(self, sha256: str) -> list[PhotoRecord]:
        rows = await (await self.pool()).fetch(
            f"SELECT {COLUMNS} FROM photos WHERE sha256 = $1 ORDER BY created_at, owner_id", sha256)
        return [_record(tuple(r)) for r in rows]

    async def of_owner(self, owner_id: str) -> list[PhotoRecord]:
        rows = await (await self.pool()).fetch(
            f"SELECT {COLUMNS} FROM photos WHERE owner_id = $1 ORDER BY created_at, sha256", owner_id)
        return [_record(tuple(r)) for r in rows]

    async def referenced(self, hashes: list[str]) -> set[str]:
        if not hashes:
            return set()
        rows = await (await self.pool()).fetch("SELECT DISTINCT sha256 FROM photos WHERE sha256 = ANY($1::text[])",
                                               hashes)
        return {r[0] for r in rows}


PHOTOS = RepositorySpec[PhotoRepository]("photos", sqlite=SQLitePhotos, postgis=PostGISPhotos)
