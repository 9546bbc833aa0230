"""The facilities' management API: create, list, read, replace, delete (contacts masked in every answer), and
bad input refused naming the field."""

from __future__ import annotations

import pytest

from tests.alerts.delivery.peers import INSIDE
from tests.alerts.facilities.test_facilities_end_to_end import facility_body


async def test_create_read_replace_delete_with_contacts_masked(system):
    auth = system.auth("alert_originator")
    made = await system.http.post("/api/v1/facilities", json=facility_body("Pump", *INSIDE, "ana", "ben"), headers=auth)
    assert made.status_code == 201, made.text
    fid = made.json()["id"]
    assert [c["name"] for c in made.json()["contacts"]] == ["Ana", "Ben"]
    replaced = await system.http.put(f"/api/v1/facilities/{fid}", json=facility_body("Pump 2", *INSIDE, "ben", "ana",
                                                                                       radius_m=250), headers=auth)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["created_at"] == made.json()["created_at"] and replaced.json()["radius_m"] == 250
    read = await system.http.get(f"/api/v1/facilities/{fid}", headers=system.auth("admin"))
    assert [c["name"] for c in read.json()["contacts"]] == ["Ben", "Ana"]
    listed = await system.http.get("/api/v1/facilities", headers=auth)
    assert [f["id"] for f in listed.json()["items"]] == [fid]
    for text in (made.text, replaced.text, read.text, listed.text):
        assert "ana@utility.example" not in text and "a***@utility.example" in text
    assert (await system.http.delete(f"/api/v1/facilities/{fid}", headers=auth)).status_code == 200
    assert (await system.http.get(f"/api/v1/facilities/{fid}", headers=auth)).status_code == 404


@pytest.mark.parametrize(("change", "field"), [
    ({"type": "bakery"}, "type"),
    ({"radius_m": 0}, "radius_m"),
    ({"radius_m": 60_000}, "radius_m"),
    ({"lat": 91}, "lat"),
    ({"contacts": []}, "contacts"),
    ({"contacts": [{"name": "Ana", "channels": [{"type": "email", "address": "nope"}]}]}, "contacts[0].channels[0].address"),
    ({"contacts": [{"name": "Ana", "channels": [{"type": "mqtt"}]}]}, "contacts[0].channels[0].type"),
])
async def test_bad_facilities_are_refused_naming_the_field(system, change, field):
    body = {**facility_body("Pump", *INSIDE, "ana"), **change}
    r = await system.http.post("/api/v1/facilities", json=body, headers=system.auth("admin"))
    assert r.status_code == 422, r.text
    assert field in r.json()["detail"], r.text
