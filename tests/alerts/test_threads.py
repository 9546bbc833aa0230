"""Quick changes to one alert: each Update/Cancel is numbered from the journal at intake, not from the
projection (which lags), so back-to-back updates are all accepted with distinct CAP identifiers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from alerts.cap.build import envelope_to_cap
from alerts.journal import ALERT_JOURNAL
from tests.conftest import System, make_settings, start_system
from tests.emergency.assembly.test_durability import alert_body


@pytest.fixture
async def any_system(broker, store_url, tmp_path) -> AsyncIterator[System]:
    """The whole system on each store (SQLite and PostGIS)."""
    system, task, server = await start_system(make_settings(broker, store_url, tmp_path), broker)
    yield system
    await system.http.aclose()
    server.should_exit = True
    await task
    await system.runtime.stop()


def moved(n: int) -> dict:
    return {**alert_body(), "headline": f"Evacuate now: fire moving east ({n})",
            "area": {"circle": {"lat": 45.5047, "lon": -122.6400 + n / 1000, "radius_km": 0.5}}}


async def test_back_to_back_updates_are_all_accepted_with_distinct_identifiers(any_system):
    system = any_system
    auth = system.auth("alert_originator")
    r = await system.http.post("/api/v1/alerts", json=alert_body(), headers=auth)
    assert r.status_code == 202
    alert_id = r.json()["id"]
    assert await system.runtime.wait_applied(timeout_s=30)
    # two updates back to back, no waiting for the picture (the second was refused as lifecycle.duplicate)
    for n in (1, 2):
        r = await system.http.post(f"/api/v1/alerts/{alert_id}/update", json=moved(n), headers=auth)
        assert r.status_code == 202, r.text
    # and two at the same instant: serialised per alert, each gets its own number
    both = await asyncio.gather(*(system.http.post(f"/api/v1/alerts/{alert_id}/update", json=moved(n), headers=auth)
                                  for n in (3, 4)))
    assert [b.status_code for b in both] == [202, 202], [b.text for b in both]
    r = await system.http.post(f"/api/v1/alerts/{alert_id}/cancel", json={"note": "Fire is out."}, headers=auth)
    assert r.status_code == 202, r.text

    versions = await system.runtime.store.repository(ALERT_JOURNAL).versions(alert_id)
    caps = [envelope_to_cap(v) for v in versions]
    assert [c.identifier for c in caps] == [alert_id] + [f"{alert_id}:{n}" for n in (1, 2, 3, 4, 5)]
    assert [c.msg_type for c in caps] == ["Alert"] + ["Update"] * 4 + ["Cancel"]
    for n, cap in enumerate(caps[1:], start=1):  # each references every message before it (none expired)
        assert cap.references == " ".join(c.reference_key() for c in caps[:n])
    assert [v.received_at for v in versions] == sorted(set(v.received_at for v in versions))

    assert await system.runtime.wait_applied(timeout_s=30)
    served = envelope_to_cap(await system.runtime.store.get_event(alert_id))
    assert (served.identifier, served.msg_type) == (f"{alert_id}:5", "Cancel")  # the picture holds the last one


async def test_an_alert_can_be_updated_before_it_reaches_the_picture(any_system):
    system = any_system
    auth = system.auth("alert_originator")
    alert_id = (await system.http.post("/api/v1/alerts", json=alert_body(), headers=auth)).json()["id"]
    r = await system.http.post(f"/api/v1/alerts/{alert_id}/update", json=moved(1), headers=auth)
    assert r.status_code == 202, r.text  # was 404: the thread was read from the projection
    versions = await system.runtime.store.repository(ALERT_JOURNAL).versions(alert_id)
    assert [envelope_to_cap(v).identifier for v in versions] == [alert_id, f"{alert_id}:1"]
