"""The reporter-updates repository on SQLite and PostGIS: one row per report, compare-and-set, due rows, opt-outs."""

from __future__ import annotations

from datetime import timedelta

from emergency.events import utcnow
from emergency.store import open_store
from feeds.citizen.updates.models import Snapshot, Updates
from feeds.citizen.updates.repository import UPDATES, contact_hash


async def test_rows_compare_and_set_due_and_opt_outs(store_url):
    store = await open_store(store_url)
    try:
        repo = store.repository(UPDATES)
        now = utcnow()
        assert await repo.add(Updates(report_id="citizen:a", code="123456", created_at=now))
        assert not await repo.add(Updates(report_id="citizen:a", confirmed=True, created_at=now))  # kept once
        a = await repo.get("citizen:a")
        assert (a.rev, a.confirmed, a.code) == (0, False, "123456")
        moved = a.model_copy(update={"version": 1, "status": Snapshot(status="verified"), "due_at": now})
        assert await repo.save(moved)
        assert not await repo.save(moved)  # the same revision twice: the second lost the race
        assert (await repo.get("citizen:a")).rev == 1
        await repo.add(Updates(report_id="citizen:b", due_at=now + timedelta(hours=1), created_at=now))
        assert [u.report_id for u in await repo.due(now)] == ["citizen:a"]
        assert set(await repo.known(["citizen:a", "citizen:b", "citizen:none"])) == {"citizen:a", "citizen:b"}
        assert await repo.known([]) == {}
        key = contact_hash("sms", "+15035550143")
        assert not await repo.opted_out(key)
        await repo.set_opt_out(key, True, now)
        await repo.set_opt_out(key, True, now)
        assert await repo.opted_out(key) and not await repo.opted_out(contact_hash("email", "+15035550143"))
        await repo.set_opt_out(key, False, now)
        assert not await repo.opted_out(key)
    finally:
        await store.close()
