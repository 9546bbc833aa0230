"""The registry's API against the real system: the access matrix (every role × every registry endpoint, with
real entries behind them), every read audited, and registration refusing bad input with the field named
(needs, contacts, consent, an ambiguous address with its candidate) while echoing what it understood."""

from __future__ import annotations

import pytest

from alerts.delivery.ledger import DELIVERIES, delivery_id
from alerts.registry.repository import REGISTRY
from alerts.registry.service import caregiver_confirm_key, caregiver_token, checkin_token
from emergency.assembly.app import create_app
from emergency.auth.tokens import Role, create_token
from tests.alerts.delivery.peers import INSIDE
from tests.alerts.registry.conftest import register, registrant_body
from tests.conftest import eventually
from tests.emergency.assembly.test_authz_matrix import route_table
from tests.emergency.assembly.test_durability import alert_body

OFFICER_ONLY = {"POST /api/v1/registry/registrants", "GET /api/v1/registry/registrants",
                "GET /api/v1/registry/registrants/{registrant_id}", "DELETE /api/v1/registry/registrants/{registrant_id}",
                "PATCH /api/v1/registry/registrants/{registrant_id}",
                "GET /api/v1/registry/alerts/{alert_id}/tasking", "GET /api/v1/registry/alerts/{alert_id}/tasking.csv",
                "POST /api/v1/registry/registrants/{registrant_id}/review"}
OFFICER_OR_ADMIN = {"GET /api/v1/registry/audit"}
PUBLIC = {"GET /registry/alerts/{alert_id}/tasking", "GET /api/v1/registry/checkins/{token}",
          "POST /api/v1/registry/checkins/{token}", "GET /api/v1/registry/caregivers/{token}",
          "POST /api/v1/registry/caregivers/{token}"}
# the public self-registration and its token-held routes: their matrix is in test_selfservice_api.py and the app's
SELF_SERVICE = {"POST /api/v1/registry/registrations", "GET /api/v1/registry/registrations/{registration_id}",
                "PATCH /api/v1/registry/registrations/{registration_id}",
                "DELETE /api/v1/registry/registrations/{registration_id}",
                "POST /api/v1/registry/registrations/{registration_id}/confirm", "GET /registry"}
READS = {"GET /api/v1/registry/registrants": "registrants.list",
         "GET /api/v1/registry/registrants/{registrant_id}": "registrants.read",
         "GET /api/v1/registry/alerts/{alert_id}/tasking": "tasking.read",
         "GET /api/v1/registry/alerts/{alert_id}/tasking.csv": "tasking.csv"}


@pytest.fixture
async def officer(system):
    system.tokens["registry_officer"], _ = await create_token(system.runtime.store, name="Register Ready desk",
                                                              roles=[Role.registry_officer])
    return system


async def every_role(system) -> dict[str, dict[str, str]]:
    """Headers of no token, a wrong token, and one token of every role."""
    store = system.runtime.store
    for role in Role:  # every role the system knows, however many later features add
        if role.value not in system.tokens:
            system.tokens[role.value], _ = await create_token(store, name=role.value, roles=[role])
    assert set(system.tokens) == {r.value for r in Role}
    return {"no token": {}, "wrong token": {"Authorization": "Bearer nope-" + "x" * 30},
            **{role: system.auth(role) for role in system.tokens}}


async def test_every_role_on_every_registry_endpoint(officer):
    system = officer
    routes = sorted(k for k in route_table(create_app(runtime=system.runtime)) if "registry" in k)
    assert set(routes) == OFFICER_ONLY | OFFICER_OR_ADMIN | PUBLIC | SELF_SERVICE  # a new route must be added here
    routes = [k for k in routes if k not in SELF_SERVICE]
    reg = await register(system, registrant_body("Ada Lovelace", *INSIDE, needs=["oxygen"]))
    issued = await system.http.post("/api/v1/alerts", json=alert_body(), headers=system.auth("alert_originator"))
    alert_id = issued.json()["id"]
    repo = system.runtime.store.repository(REGISTRY)
    [outreach] = await eventually(lambda: repo.for_alert(alert_id))
    token = checkin_token(key=await repo.key(), outreach=outreach.id, answer="safe")
    cg_token = caregiver_token(key=await repo.key(), registrant_id=reg["id"], phone=reg["caregiver"]["phone"])
    who = await every_role(system)
    officer_reads = 0
    wrong = []
    for key in sorted(routes, key=lambda k: k.startswith("DELETE")):  # the erase last
        method, path = key.split(" ", 1)
        url = path.replace("{registrant_id}", reg["id"]).replace("{alert_id}", alert_id).replace(
            "{token}", cg_token if "caregivers" in path else token)
        for name, headers in who.items():
            body = registrant_body("Bo Other", *INSIDE) if method == "POST" and "registrants" in path else \
                {"needs": ["oxygen"]} if method == "PATCH" else None
            if method == "DELETE" and name == "registry_officer":
                continue  # asked once, after every other principal
            r = await system.http.request(method, url, headers=headers, json=body)
            if key in PUBLIC:
                want = {200}
            elif name in ("no token", "wrong token"):
                want = {401}
            elif name == "registry_officer" or (key in OFFICER_OR_ADMIN and name == "admin"):
                want = {200, 201}
            else:
                want = {403}
            if r.status_code not in want:
                wrong.append(f"{key} as {name}: {r.status_code}, expected {sorted(want)}")
            if r.status_code in (401, 403) or key in PUBLIC:
                assert "Ada" not in r.text and "oxygen" not in r.text, (key, name)
            officer_reads += name == "registry_officer" and key in READS
        if method == "DELETE":
            r = await system.http.request(method, url, headers=who["registry_officer"])
            assert r.status_code == 200, r.text
    assert not wrong, "\n".join(wrong)

    # every officer read is in the audit, with the entries it returned; nobody else's attempt got any
    audit = (await system.http.get("/api/v1/registry/audit", headers=system.auth("registry_officer"))).json()["items"]
    reads = [a for a in audit if a["action"] in READS.values()]
    assert len(reads) == officer_reads == len(READS)
    assert all(a["actor"] == "Register Ready desk" and reg["id"] in a["entries"] for a in reads)
    assert {a["action"] for a in audit} >= {"registrants.create", "registrants.delete", *READS.values()}
    assert await repo.get(reg["id"]) is None  # erased


@pytest.mark.parametrize(("change", "field"), [
    ({"needs": ["oxygen", "wheelchair"]}, "needs[1]"),
    ({"needs": []}, "needs"),
    ({"channels": [{"type": "email", "address": "not an address"}]}, "channels[0].address"),
    ({"channels": [{"type": "sms", "number": "5035550100"}]}, "channels[0].number"),
    ({"channels": [{"type": "webhook", "url": "https://example.org/x"}]}, "channels[0].type"),
    ({"consent": {"given": False, "at": "2026-11-30T10:00:00Z"}}, "consent.given"),
    ({"consent": {"given": True, "at": "2099-01-01T00:00:00Z"}}, "consent.at"),
    ({"caregiver": {"name": "Sam", "phone": "12"}}, "caregiver.phone"),
    ({"needs": ["language"]}, "language"),
    ({"lat": None, "lon": None, "address": "SE Hawthorne Blvd"}, "address"),
    ({"lat": None, "lon": None, "address": "Portland"}, "address"),
    ({"lat": None, "lon": None, "address": "Nowhere Lane & Imaginary Ave"}, "address"),
    ({"lat": 95.0}, "lat"),
])
async def test_registration_refuses_bad_input_naming_the_field(officer, change, field):
    body = {**registrant_body("Ada Lovelace", *INSIDE), **change}
    r = await officer.http.post("/api/v1/registry/registrants", json=body, headers=officer.auth("registry_officer"))
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(f"{field}:") or field in str(r.json()["detail"]), r.text
    if field == "address" and "Hawthorne" in body["address"]:
        assert r.json().get("candidates") == ["SE Hawthorne Blvd, Portland"]
    assert "Ada" not in r.text


async def test_consent_is_required(officer):
    body = registrant_body("Ada Lovelace", *INSIDE)
    del body["consent"]
    r = await officer.http.post("/api/v1/registry/registrants", json=body, headers=officer.auth("registry_officer"))
    assert r.status_code == 422 and "consent" in str(r.json()["detail"]), r.text


async def test_registration_echoes_the_address_it_understood(officer):
    body = {**registrant_body("Ada Lovelace", 0, 0, needs=["language", "vision"], language="ES"),
            "lat": None, "lon": None, "address": "SE Division St & SE 12th Ave"}
    made = await register(officer, body)
    assert made["location"]["label"] == "SE Division St & SE 12th Ave, Portland"
    assert made["location"]["geo_precision"] == "street"
    assert 45.4 < made["location"]["lat"] < 45.6 and made["needs"] == ["vision", "language"]
    assert made["language"] == "es" and made["channels"][0]["contact"] == "ada.lovelace@example.org"
    assert made["caregiver"] == {"name": "Sam Carer", "phone": "+15035550142", "relation": "son", "language": None,
                                 "confirmed_at": None, "stopped": False}


async def test_an_officer_corrects_an_entry_without_losing_what_was_confirmed(officer):
    system = officer
    reg = await register(system, registrant_body("Ada Lovelace", *INSIDE, needs=["mobility"]))
    rid, url, repo = reg["id"], f"/api/v1/registry/registrants/{reg['id']}", system.runtime.store.repository(REGISTRY)
    assert reg["version"] == 1
    old_link = caregiver_token(key=await repo.key(), registrant_id=rid, phone="+15035550142")
    assert (await system.http.post(f"/api/v1/registry/caregivers/{old_link}")).status_code == 200  # confirmed

    # a new need and the caregiver's relation: the caregiver stays confirmed
    r = await system.http.patch(url, headers=system.auth("registry_officer"), json={
        "version": 1, "needs": ["oxygen", "mobility"],
        "caregiver": {"name": "Sam Carer", "phone": "+15035550142", "relation": "grandson"}})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2 and r.json()["needs"] == ["oxygen", "mobility"]
    assert r.json()["caregiver"]["relation"] == "grandson" and r.json()["caregiver"]["confirmed_at"]

    # a stale version is refused, naming it: the change made meanwhile is not overwritten unseen
    r = await system.http.patch(url, headers=system.auth("registry_officer"), json={"version": 1, "needs": ["vision"]})
    assert r.status_code == 409 and r.json()["detail"].startswith("version: the entry is at version 2"), r.text
    assert (await repo.get(rid)).needs == ["oxygen", "mobility"]

    # a new caregiver phone: unconfirmed, the old link no longer confirms it, a new request is queued
    r = await system.http.patch(url, headers=system.auth("registry_officer"), json={
        "caregiver": {"name": "Sam Carer", "phone": "+15035550143", "relation": "grandson"}})
    assert r.status_code == 200 and r.json()["caregiver"]["confirmed_at"] is None, r.text
    assert (await system.http.post(f"/api/v1/registry/caregivers/{old_link}")).status_code == 403
    new_link = caregiver_token(key=await repo.key(), registrant_id=rid, phone="+15035550143")
    assert (await system.http.get(f"/api/v1/registry/caregivers/{new_link}")).status_code == 200
    asked = caregiver_confirm_key(registrant_id=rid, version=3)  # its own request, not the first phone's

    async def requested() -> bool:  # queued, or the timer sent it already (the ledger row is written first)
        return rid in await repo.confirmations_due() or await system.runtime.store.repository(DELIVERIES).get(
            delivery_id(asked, f"registrant:{rid}", "caregiver")) is not None

    assert await eventually(requested)

    # bad input names the field; an ambiguous address says what it matched; nothing unknown is created
    for change, field in (({"channels": [{"type": "sms", "number": "5035550100"}]}, "channels[0].number"),
                          ({"needs": ["wings"]}, "needs[0]"), ({"lat": 45.5}, "lon"), ({"colour": "red"}, "colour")):
        r = await system.http.patch(url, headers=system.auth("registry_officer"), json=change)
        assert r.status_code == 422 and field in r.json()["detail"], (change, r.text)
    r = await system.http.patch(url, headers=system.auth("registry_officer"), json={"address": "SE Hawthorne Blvd"})
    assert r.status_code == 422 and r.json()["candidates"] == ["SE Hawthorne Blvd, Portland"], r.text
    r = await system.http.patch(url, headers=system.auth("registry_officer"),
                                json={"address": "SE Division St & SE 12th Ave"})
    assert r.status_code == 200 and r.json()["location"]["label"] == "SE Division St & SE 12th Ave, Portland"
    r = await system.http.patch("/api/v1/registry/registrants/reg-none", headers=system.auth("registry_officer"),
                                json={"needs": ["oxygen"]})
    assert r.status_code == 404
    audit = (await system.http.get("/api/v1/registry/audit", headers=system.auth("registry_officer"))).json()
    assert [a["action"] for a in audit["items"] if a["action"] == "registrants.update"] == ["registrants.update"] * 3
