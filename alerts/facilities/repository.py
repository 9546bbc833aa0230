"""Where critical facilities and their notifications live (tables ``facilities``, ``facility_notifications``), on
SQLite or PostGIS; the only place an operator's contact exists. ``store.repository(FACILITIES)``.

It is also the channel workers' owner of ``facility:<id>:<n>`` people (``alerts.delivery.notices``). The
escalation timer is a row: each notification keeps its ``due_at``; ``due(now)`` is what the worker's loop reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from alerts.delivery.models import Contact, DeliveryJob, Rendered
from alerts.facilities.models import Facility, Notification
from alerts.facilities.service import PERSON_PREFIX, contact_of, notification_message
from emergency.store.base import ts
from emergency.store.repository import PostGISRepository, RepositorySpec, SQLiteRepository


class FacilityRepository(Protocol):
    public_url: str  # EMERGENCY_PUBLIC_URL, for acknowledgement links (set by the runtime)

    async def put(self, f: Facility) -> None:
        """Insert or replace."""
        ...

    async def get(self, facility_id: str) -> Facility | None: ...

    async def all(self) -> list[Facility]: ...

    async def delete(self, facility_id: str) -> bool: ...

    async def add_notification(self, n: Notification) -> bool:
        """Insert unless one exists for the facility and cause; True when inserted."""
        ...

    async def notification(self, notification_id: str) -> Notification | None: ...

    async def save_notification(self, n: Notification) -> None: ...

    async def notifications(self, *, limit: int) -> list[Notification]:
        """Newest first."""
        ...

    async def open_notifications(self, facility_id: str) -> list[Notification]:
        """The facility's notifications still waiting for an acknowledgement."""
        ...

    async def due(self, now: datetime, limit: int = 100) -> list[Notification]:
        """Notifications still waiting for an acknowledgement whose ``due_at`` has passed."""
        ...

    async def contact(self, subscription_id: str, channel_id: str, *, pending: bool = False) -> Contact | None: ...

    async def notice(self, job: DeliveryJob) -> Rendered | None: ...


class _Owner:
    public_url = "http://127.0.0.1:8000"

    async def get(self, facility_id: str) -> Facility | None:
        raise NotImplementedError

    async def notification(self, notification_id: str) -> Notification | None:
        raise NotImplementedError

    async def contact(self, subscription_id: str, channel_id: str, *, pending: bool = False) -> Contact | None:
        prefix, _, rest = subscription_id.partition(":")
        fid, _, index = rest.rpartition(":")
        if prefix != PERSON_PREFIX or pending or not index.isdigit():
            return None
        f = await self.get(fid)
        return None if f is None else contact_of(facility=f, index=int(index), channel_id=channel_id)

    async def notice(self, job: DeliveryJob) -> Rendered | None:
        _, nid, index = job.alert_version.split(":", 2) if job.alert_version.count(":") == 2 else ("", "", "")
        n = await self.notification(nid) if index.isdigit() else None
        f = await self.get(n.facility_id) if n is not None else None
        if n is None or f is None or n.state == "acknowledged":
            return None
        return notification_message(facility=f, n=n, delivery_id=job.delivery_id, base=self.public_url)


class SQLiteFacilities(_Owner, SQLiteRepository):
    schema = """
CREATE TABLE IF NOT EXISTS facilities (id TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS facility_notifications (
    id TEXT PRIMARY KEY, facility_id TEXT NOT NULL, cause_id TEXT NOT NULL, state TEXT NOT NULL, due_at TEXT NOT NULL,
    created_at TEXT NOT NULL, record TEXT NOT NULL, UNIQUE (facility_id, cause_id));
CREATE INDEX IF NOT EXISTS facility_notifications_due ON facility_notifications (state, due_at);
"""

    async def put(self, f: Facility) -> None:
        await self.run(lambda c: c.execute("INSERT INTO facilities(id, record) VALUES (?, ?) ON CONFLICT (id) DO "
                                           "UPDATE SET record = excluded.record", (f.id, f.model_dump_json())))

    async def get(self, facility_id: str) -> Facility | None:
        row = await self.run(lambda c: c.execute("SELECT record FROM facilities WHERE id = ?",
                                                 (facility_id,)).fetchone())
        return Facility.model_validate_json(row[0]) if row else None

    async def all(self) -> list[Facility]:
        rows = await self.run(lambda c: c.execute("SELECT record FROM facilities ORDER BY id").fetchall())
        return [Facility.model_validate_json(r[0]) for r in rows]

    async def delete(self, facility_id: str) -> bool:
        return await self.run(lambda c: c.execute("DELETE FROM facilities WHERE id = ?", (facility_id,)).rowcount == 1)

    async def add_notification(self, n: Notification) -> bool:
        return await self.run(lambda c: c.execute(
            "INSERT OR IGNORE INTO facility_notifications(id, facility_id, cause_id, state, due_at, created_at, record) "
            "VALUES (?,?,?,?,?,?,?)", (n.id, n.facility_id, n.cause_id, n.state, ts(n.due_at), ts(n.created_at),
                                       n.model_dump_json())).rowcount == 1)

    async def notification(self, notification_id: str) -> Notification | None:
        row = await self.run(lambda c: c.execute("SELECT record FROM facility_notifications WHERE id = ?",
                                                 (notification_id,)).fetchone())
        return Notification.model_validate_json(row[0]) if row else None

    async def save_notification(self, n: Notification) -> None:
        await self.run(lambda c: c.execute("UPDATE facility_notifications SET state = ?, due_at = ?, record = ? "
                                           "WHERE id = ?", (n.state, ts(n.due_at), n.model_dump_json(), n.id)))

    async def notifications(self, *, limit: int) -> list[Notification]:
        rows = await self.run(lambda c: c.execute("SELECT record FROM facility_notifications ORDER BY created_at DESC, "
                                                  "id LIMIT ?", (limit,)).fetchall())
        return [Notification.model_validate_json(r[0]) for r in rows]

    async def open_notifications(self, facility_id: str) -> list[Notification]:
        rows = await self.run(lambda c: c.execute("SELECT record FROM facility_notifications WHERE facility_id = ? AND "
                                                  "state = 'notified' ORDER BY id", (facility_id,)).fetchall())
        return [Notification.model_validate_json(r[0]) for r in rows]

    async def due(self, now: datetime, limit: int = 100) -> list[Notification]:
        rows = await self.run(lambda c: c.execute(
            "SELECT record FROM facility_notifications WHERE state = 'notified' AND due_at <= ? ORDER BY due_at LIMIT ?",
            (ts(now), limit)).fetchall())
        return [Notification.model_validate_json(r[0]) for r in rows]


class PostGISFacilities(_Owner, PostGISRepository):
    schema = """
CREATE TABLE IF NOT EXISTS facilities (id text PRIMARY KEY, record text NOT NULL);
CREATE TABLE IF NOT EXISTS facility_notifications (
    id text PRIMARY KEY, facility_id text NOT NULL, cause_id text NOT NULL, state text NOT NULL, due_at text NOT NULL,
    created_at text NOT NULL, record text NOT NULL, UNIQUE (facility_id, cause_id));
CREATE INDEX IF NOT EXISTS facility_notifications_due ON facility_notifications (state, due_at);
"""

    async def put(self, f: Facility) -> None:
        await (await self.pool()).execute("INSERT INTO facilities(id, record) VALUES ($1, $2) ON CONFLICT (id) DO "
                                          "UPDATE SET record = excluded.record", f.id, f.model_dump_json())

    async def get(self, facility_id: str) -> Facility | None:
        record = await (await self.pool()).fetchval("SELECT record FROM facilities WHERE id = $1", facility_id)
        return Facility.model_validate_json(record) if record else None

    async def all(self) -> list[Facility]:
        rows = await (await self.pool()).fetch("SELECT record FROM facilities ORDER BY id")
        return [Facility.model_validate_json(r[0]) for r in rows]

    async def delete(self, facility_id: str) -> bool:
        return (await (await self.pool()).execute("DELETE FROM facilities WHERE id = $1", facility_id)).endswith(" 1")

    async def add_notification(self, n: Notification) -> bool:
        got = await (await self.pool()).fetchval(
            "INSERT INTO facility_notifications(id, facility_id, cause_id, state, due_at, created_at, record) VALUES "
            "($1,$2,$3,$4,$5,$6,$7) ON CONFLICT DO NOTHING RETURNING id", n.id, n.facility_id, n.cause_id, n.state,
            ts(n.due_at), ts(n.created_at), n.model_dump_json())
        return got is not None

    async def notification(self, notification_id: str) -> Notification | None:
        record = await (await self.pool()).fetchval("SELECT record FROM facility_notifications WHERE id = $1",
                                                    notification_id)
        return Notification.model_validate_json(record) if record else None

    async def save_notification(self, n: Notification) -> None:
        await (await self.pool()).execute("UPDATE facility_notifications SET state = $1, due_at = $2, record = $3 "
                                          "WHERE id = $4", n.state, ts(n.due_at), n.model_dump_json(), n.id)

    async def notifications(self, *, limit: int) -> list[Notification]:
        rows = await (await self.pool()).fetch("SELECT record FROM facility_notifications ORDER BY created_at DESC, "
                                               "id LIMIT $1", limit)
        return [Notification.model_validate_json(r[0]) for r in rows]

    async def open_notifications(self, facility_id: str) -> list[Notification]:
        rows = await (await self.pool()).fetch("SELECT record FROM facility_notifications WHERE facility_id = $1 AND "
                                               "state = 'notified' ORDER BY id", facility_id)
        return [Notification.model_validate_json(r[0]) for r in rows]

    async def due(self, now: datetime, limit: int = 100) -> list[Notification]:
        rows = await (await self.pool()).fetch(
            "SELECT record FROM facility_notifications WHERE state = 'notified' AND due_at <= $1 ORDER BY due_at "
            "LIMIT $2", ts(now), limit)
        return [Notification.model_validate_json(r[0]) for r in rows]


FACILITIES = RepositorySpec[FacilityRepository]("facilities", sqlite=SQLiteFacilities, postgis=PostGISFacilities)
