"""Idempotency keys belong to their sender: one sender's key never answers, claims or suppresses
another's; a key reused for a different request is refused (422 ``Idempotency-Key``), never a silent
duplicate. Real app, real broker, both stores."""

from __future__ import annotations

import asyncio
import json

from emergency.auth.tokens import Role, create_token
from tests.alerts.test_threads import any_system  # noqa: F401  (the fixture: the system on each store)
from tests.conftest import REGION, report_body
from tests.emergency.assembly.test_durability import alert_body

REUSED = "Idempotency-Key: this key was already used for a different request"


async def other_originator(system, name: str) -> dict[str, str]:
    token, _ = await create_token(system.runtime.store, name=name, roles=[Role.alert_originator], agency=name,
                                  jurisdiction=REGION["jurisdiction"])
    return {"Authorization": f"Bearer {token}"}


async def test_one_originators_key_does_not_suppress_anothers_alert(any_system):
    system = any_system
    multnomah = system.auth("alert_originator")
    seattle = await other_originator(system, "Seattle OEM")
    key = {"Idempotency-Key": "evac-2024-001"}
    body = alert_body()
    first = await system.http.post("/api/v1/alerts", json=body, headers={**multnomah, **key})
    assert first.status_code == 202 and first.json()["duplicate"] is False
    evacuate = {**body, "headline": "Evacuate now: chemical leak on SE Division St"}
    theirs = await system.http.post("/api/v1/alerts", json=evacuate, headers={**seattle, **key})
    assert theirs.status_code == 202, theirs.text
    assert theirs.json()["duplicate"] is False and theirs.json()["id"] != first.json()["id"]  # was Multnomah's id
    assert await system.runtime.wait_applied(timeout_s=30)
    served = await system.http.get(f"/api/v1/alerts/{theirs.json()['id']}.xml")
    assert served.status_code == 200 and b"chemical leak" in served.content  # it was issued
    # each sender's retry is still answered with its own original
    again = await system.http.post("/api/v1/alerts", json=evacuate, headers={**seattle, **key})
    assert again.json() == {**theirs.json(), "duplicate": True}
    again = await system.http.post("/api/v1/alerts", json=body, headers={**multnomah, **key})
    assert again.json() == {**first.json(), "duplicate": True}


async def test_a_key_reused_for_a_different_alert_is_refused_naming_the_header(any_system):
    system = any_system
    headers = {**system.auth("alert_originator"), "Idempotency-Key": "evac-2024-002"}
    body = alert_body()
    first = await system.http.post("/api/v1/alerts", json=body, headers=headers)
    assert first.status_code == 202
    # the same request, spelled differently (key order, 0.5 as 5e-1, an explicit null), is the same payload
    respelled = json.dumps({"description": None, **dict(reversed(list(body.items())))}).replace("0.5", "5e-1")
    same = await system.http.post("/api/v1/alerts", content=respelled,
                                  headers={**headers, "Content-Type": "application/json"})
    assert same.status_code == 202 and same.json() == {**first.json(), "duplicate": True}
    other = await system.http.post("/api/v1/alerts", json={**body, "headline": "Shelter in place"}, headers=headers)
    assert other.status_code == 422 and other.json()["detail"].startswith(REUSED), other.text
    # two different requests racing under one key: one is issued, the other refused, none silently dropped
    racing = await asyncio.gather(*(system.http.post("/api/v1/alerts", headers={**headers, "Idempotency-Key": "race-1"},
                                                     json={**body, "headline": f"Evacuate now: zone {z}"})
                                    for z in "AB"))
    assert sorted(r.status_code for r in racing) == [202, 422], [r.text for r in racing]


async def test_a_citizen_key_cannot_be_claimed_by_someone_else(any_system):
    system = any_system
    key = {"Idempotency-Key": "my-phone-report-1"}
    squatter = await system.http.post("/api/v1/reports", json=report_body(text="nothing here"), headers=key)
    assert squatter.status_code == 202
    mine = await system.http.post("/api/v1/reports", json=report_body(text="Flooding at the underpass"), headers=key)
    assert mine.status_code == 202 and mine.json()["duplicate"] is False  # was: the squatter's id, dropped
    assert mine.json()["id"] != squatter.json()["id"]
    retry = await system.http.post("/api/v1/reports", json=report_body(text="Flooding at the underpass"), headers=key)
    assert retry.json() == {**mine.json(), "duplicate": True}
    assert await system.runtime.wait_applied(timeout_s=30)
    texts = {f["properties"]["text"] for f in (await system.http.get("/api/v1/reports")).json()["features"]}
    assert texts == {"nothing here", "Flooding at the underpass"}
