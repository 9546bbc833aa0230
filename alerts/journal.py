"""The journaled versions of one alert: the store's accepted rows (``outbox``) for its envelope id.

The projection lags the journal (relay → broker → projector), so decisions that must see every
accepted version — the next CAP identifier of a thread, whether an Idempotency-Key was already used —
read the journal, which holds each accepted envelope once, in acceptance order, from the moment
``accept`` returns. ``store.repository(ALERT_JOURNAL).versions(event_id)`` reads it on either backend.
(The rows are the kernel's; a ``Store`` method would be the natural home once the store interface
takes one.)
"""

from __future__ import annotations

from typing import Protocol

from emergency.events import Envelope
from emergency.store.repository import PostGISRepository, RepositorySpec, SQLiteRepository


class AlertJournal(Protocol):
    """Read-only view of the journal rows of one envelope id."""

    async def versions(self, event_id: str) -> list[Envelope]:
        """Every accepted envelope with this id, oldest first (empty when none was accepted)."""
        ...


class SQLiteAlertJournal(SQLiteRepository):
    schema = "SELECT 1;"  # reads the store's own outbox table; nothing to create

    async def versions(self, event_id: str) -> list[Envelope]:
        rows = await self.run(lambda c: c.execute(
            "SELECT payload FROM outbox WHERE event_id = ? ORDER BY seq", (event_id,)).fetchall())
        return [Envelope.from_json(bytes(r[0])) for r in rows]


class PostGISAlertJournal(PostGISRepository):
    schema = "SELECT 1;"

    async def versions(self, event_id: str) -> list[Envelope]:
        pool = await self.pool()
        rows = await pool.fetch("SELECT payload FROM outbox WHERE event_id = $1 ORDER BY seq", event_id)
        return [Envelope.from_json(bytes(r["payload"])) for r in rows]


ALERT_JOURNAL = RepositorySpec[AlertJournal]("alert-journal", sqlite=SQLiteAlertJournal,
                                              postgis=PostGISAlertJournal)
