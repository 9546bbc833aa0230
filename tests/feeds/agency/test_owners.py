"""Agency identity and closure ownership (issue 10, P1): one agency can no longer overwrite another's
closure. Ids are built from the agency's stable ``agency_id`` (stored with its tokens), every
resubmission is checked against the closure's owner, and an agency name differing from an existing
one only in case, accents, punctuation or spacing gets no token. Real app, broker, SQLite and PostGIS."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from emergency.auth.tokens import hash_token
from tests.conftest import ADMIN_TOKEN, REGION, System, make_settings, start_system

URL = "/api/v1/agency/road-closures"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# the old tokens table, as stores written before agency ids have it
OLD_SQLITE = """CREATE TABLE tokens (token_hash TEXT PRIMARY KEY, name TEXT NOT NULL, roles TEXT NOT NULL,
    agency TEXT, jurisdiction TEXT, created_at TEXT NOT NULL, revoked_at TEXT)"""
OLD_POSTGIS = """CREATE TABLE tokens (token_hash TEXT PRIMARY KEY, name TEXT NOT NULL, roles JSONB NOT NULL,
    agency TEXT, jurisdiction JSONB, created_at TIMESTAMPTZ NOT NULL, revoked_at TIMESTAMPTZ)"""


def closure(ref: str, reason: str = "Tree and power lines down") -> dict:
    start = datetime.now(UTC) - timedelta(minutes=5)
    return {"reference": ref, "reason": reason, "road": "SE Hawthorne Blvd", "from": "SE 12th Ave",
            "to": "SE 20th Ave", "start": start.isoformat(), "end": (start + timedelta(hours=4)).isoformat()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def new_agency_token(system: System, agency: str):
    """POST /api/v1/admin/tokens for an agency covering the whole region (the road included)."""
    return await system.http.post("/api/v1/admin/tokens", headers=ADMIN, json={
        "name": f"{agency} operator", "roles": ["agency"], "agency": agency, "jurisdiction": REGION["jurisdiction"]})


async def closures(system: System) -> dict[str, dict]:
    assert await system.runtime.wait_applied(timeout_s=30)
    return {f["id"]: f["properties"] for f in (await system.http.get("/api/v1/road-closures")).json()["features"]}


@pytest.fixture
async def running(broker, store_url, tmp_path) -> AsyncIterator:
    """Start the system on each backend; ``await running(before=fn)`` runs ``fn(store_url)`` first."""
    started = []

    async def start(before=None) -> System:
        if before is not None:
            await before(store_url)
        system, task, server = await start_system(make_settings(broker, store_url, tmp_path), broker)
        started.append((system, task, server))
        return system

    yield start
    for system, task, server in started:
        await system.http.aclose()
        server.should_exit = True
        await task
        await system.runtime.stop()


async def test_a_look_alike_agency_name_gets_no_token_and_the_exact_name_shares_the_agency_id(running):
    """The probe created "City-of-Portland" beside "City of Portland" (201) and it overwrote R-100."""
    system = await running()
    for alike in ("City-of-Portland", "city of portland", "City of  Portland", "CITY OF PORTLAND.", "Cíty of Portland"):
        r = await new_agency_token(system, alike)
        assert r.status_code == 422, (alike, r.text)
        assert r.json()["detail"].startswith(f'agency: "{alike}" differs from the existing agency "City of Portland" '
                                             "only in case, accents, punctuation or spacing")
        assert r.json()["candidates"] == ["City of Portland"]
    r = await new_agency_token(system, "City of Portland")  # another token of the same agency
    assert r.status_code == 201, r.text
    assert r.json()["agency"] == "City of Portland" and r.json()["agency_id"] == "city-of-portland"
    r = await new_agency_token(system, "Multnomah County")  # a different agency
    assert r.status_code == 201 and r.json()["agency_id"] == "multnomah-county"


async def test_ids_come_from_the_agency_id_so_agencies_whose_names_slug_alike_stay_apart(running):
    """"Ørsted Roads" and "Rsted Roads" are different names; both slugged to "rsted-roads", so the
    second agency's R-100 replaced the first's. Now the second agency gets its own id."""
    system = await running()
    first = (await new_agency_token(system, "Ørsted Roads")).json()
    second = (await new_agency_token(system, "Rsted Roads")).json()
    r1 = await system.http.post(URL, json=closure("R-100", "first agency's closure"), headers=bearer(first["token"]))
    r2 = await system.http.post(URL, json=closure("R-100", "second agency's closure"), headers=bearer(second["token"]))
    assert (r1.status_code, r2.status_code) == (202, 202), (r1.text, r2.text)
    stored = await closures(system)
    assert stored["agency:rsted-roads:R-100"]["reason"] == "first agency's closure"
    assert (r1.json()["id"], r2.json()["id"]) == ("agency:rsted-roads:R-100", "agency:rsted-roads-2:R-100")
    assert (first["agency_id"], second["agency_id"]) == ("rsted-roads", "rsted-roads-2")
    assert stored["agency:rsted-roads:R-100"]["agency_id"] == "rsted-roads"
    assert stored["agency:rsted-roads-2:R-100"]["agency"] == "Rsted Roads"


async def test_the_same_agency_updates_its_closure_with_another_token(running):
    system = await running()
    r = await system.http.post(URL, json=closure("R-100"), headers=system.auth("agency"))
    assert r.status_code == 202 and r.json()["id"] == "agency:city-of-portland:R-100", r.text
    await closures(system)
    second = (await new_agency_token(system, "City of Portland")).json()["token"]
    r = await system.http.post(URL, json=closure("R-100", "Reopened one lane"), headers=bearer(second))
    assert r.status_code == 202 and r.json() == {**r.json(), "id": "agency:city-of-portland:R-100", "duplicate": False}
    props = (await closures(system))["agency:city-of-portland:R-100"]
    assert props["reason"] == "Reopened one lane" and props["agency_id"] == "city-of-portland"


async def _old_tokens(store_url: str) -> None:
    """A tokens table written before agency ids, holding the probe's two look-alike agencies."""
    rows = [(hash_token(token), agency, agency, i) for i, (token, agency) in
            enumerate([("old-portland", "City of Portland"), ("old-look-alike", "City-of-Portland")])]
    jurisdiction = json.dumps(REGION["jurisdiction"])
    if store_url.startswith("sqlite"):
        conn = sqlite3.connect(store_url.removeprefix("sqlite:///"))
        conn.execute(OLD_SQLITE)
        conn.executemany("INSERT INTO tokens VALUES (?,?,?,?,?,?,NULL)", [
            (h, name, '["agency"]', agency, jurisdiction, f"2026-01-0{i + 1}T00:00:00+00:00") for h, name, agency, i in rows])
        conn.commit()
        conn.close()
        return
    import asyncpg

    conn = await asyncpg.connect(store_url)
    try:
        await conn.execute("DROP TABLE IF EXISTS tokens")
        await conn.execute(OLD_POSTGIS)
        for h, name, agency, i in rows:
            await conn.execute("INSERT INTO tokens VALUES ($1,$2,'[\"agency\"]'::jsonb,$3,$4::jsonb,$5,NULL)",
                               h, name, agency, jurisdiction, datetime(2026, 1, i + 1, tzinfo=UTC))
    finally:
        await conn.close()


async def test_a_look_alike_agency_from_older_data_cannot_overwrite_a_closure(running):
    """Stores written before agency ids may hold both look-alike tokens (the probe's pair). Both keep
    their old id namespace (the slug), and the owner check refuses the other agency's reference with
    403, although its jurisdiction covers the road; the owner's tokens, old and new, still update it."""
    system = await running(before=_old_tokens)
    r = await system.http.post(URL, json=closure("R-100"), headers=bearer("old-portland"))
    assert r.status_code == 202 and r.json()["id"] == "agency:city-of-portland:R-100", r.text
    await closures(system)
    r = await system.http.post(URL, json=closure("R-100", "Road open, closure lifted"), headers=bearer("old-look-alike"))
    assert r.status_code == 403, r.text
    assert r.json()["detail"] == ("reference: R-100 is a closure of another agency (City of Portland); "
                                  "only the agency that submitted it may update it")
    assert (await closures(system))["agency:city-of-portland:R-100"]["reason"] == "Tree and power lines down"
    # the owner's new token (same exact name: it shares the agency id the old tokens were given) updates it
    r = await system.http.post(URL, json=closure("R-100", "Reopened one lane"), headers=system.auth("agency"))
    assert r.status_code == 202 and r.json()["id"] == "agency:city-of-portland:R-100", r.text
    assert (await closures(system))["agency:city-of-portland:R-100"]["reason"] == "Reopened one lane"
    # a new look-alike is refused a token even when the look-alike already exists
    r = await new_agency_token(system, "City of Portland!")
    assert r.status_code == 422 and r.json()["candidates"] == ["City of Portland", "City-of-Portland"]
