"""The drafts' journal: every version of every draft is an ``alert_draft`` envelope journaled on ``alerts.drafts``.

A draft's state is its latest journaled version (``alerts.journal.ALERT_JOURNAL`` reads the versions of one id);
this repository lists the latest version of each draft, newest first. The journal (the store's outbox) is
kept whole by ``emergency rebuild`` (which only re-applies it), so drafts and their audit trail survive a
rebuild exactly as they were; the ``alert-drafts`` consumer group only marks the rows applied.
"""

from __future__ import annotations

from typing import Protocol

from emergency.events import Envelope
from emergency.store.repository import PostGISRepository, RepositorySpec, SQLiteRepository
from emergency.stream.topics import ALERT_DRAFTS


class DraftJournal(Protocol):
    """Read-only view of the journaled draft versions."""

    async def latest(self, limit: int) -> list[Envelope]:
        """The latest version of up to ``limit`` drafts, the most recently changed first."""
        ...


def _fold(payloads: list[bytes], limit: int) -> list[Envelope]:
    seen: dict[str, Envelope] = {}
    for raw in payloads:  # newest row first: the first row of an id is its latest version
        event = Envelope.from_json(raw)
        if event.id not in seen:
            seen[event.id] = event
            if len(seen) >= limit:
                break
    return list(seen.values())


class SQLiteDraftJournal(SQLiteRepository):
    schema = "CREATE INDEX IF NOT EXISTS outbox_topic ON outbox(topic, seq);"

    async def latest(self, limit: int) -> list[Envelope]:
        rows = await self.run(lambda c: c.execute(
            "SELECT payload FROM outbox WHERE topic = ? ORDER BY seq DESC", (ALERT_DRAFTS,)).fetchall())
        return _fold([bytes(r[0]) for r in rows], limit)


class PostGISDraftJournal(PostGISRepository):
    schema = "CREATE INDEX IF NOT EXISTS outbox_topic ON outbox(topic, seq);"

    async def latest(self, limit: int) -> list[Envelope]:
        pool = await self.pool()
        rows = await pool.fetch("SELECT payload FROM outbox WHERE topic = $1 ORDER BY seq DESC", ALERT_DRAFTS)
        return _fold([bytes(r["payload"]) for r in rows], limit)


DRAFT_JOURNAL = RepositorySpec[DraftJournal]("alert-drafts", sqlite=SQLiteDraftJournal, postgis=PostGISDraftJournal)
