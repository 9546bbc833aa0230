"""``/api/v1/admin/agencies``: register (GeoJSON or the region's zone codes), list with contacts
masked, read in full, change the jurisdiction (the agency's tokens follow), the look-alike rule shared
with tokens, tokens named by agency (API and CLI), and the audit log of every agency action."""

from __future__ import annotations

import logging

from tests.conftest import REGION
from tests.emergency.assembly.test_durability import run_cli
from tests.feeds.agency.test_inputs_api import shelter, square

URL = "/api/v1/admin/agencies"
ADMIN = "initial admin"  # the name of the configured admin token
CONTACT = {"name": "Dana Smith", "role": "duty officer", "phone": "(503) 555-0123", "email": "Dana@Example.org"}


async def test_register_list_patch_and_audit(system, caplog):
    caplog.set_level(logging.DEBUG, logger="emergency")
    caplog.set_level(logging.DEBUG, logger="feeds")
    admin = system.auth("admin")
    # City of Portland already has a token: registering it adopts its agency_id
    r = await system.http.post(URL, json={"name": "City of Portland", "jurisdiction": REGION["jurisdiction"],
                                          "contacts": [CONTACT]}, headers=admin)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["agency_id"], body["tokens_updated"]) == ("city-of-portland", 1)
    assert body["contacts"] == [{"name": "Dana Smith", "role": "duty officer", "phone": "+15035550123",
                                 "email": "Dana@example.org"}]
    # a name that only looks like it, or the same name again, is refused
    r = await system.http.post(URL, json={"name": "City-of-Portland", "jurisdiction": REGION["jurisdiction"]},
                               headers=admin)
    assert r.status_code == 422 and r.json()["detail"].startswith("name: ") and \
        r.json()["candidates"] == ["City of Portland"]
    r = await system.http.post(URL, json={"name": "City of Portland", "jurisdiction": REGION["jurisdiction"]},
                               headers=admin)
    assert r.status_code == 409 and r.json()["detail"].startswith("name: ")
    # by the region's county codes (SAME 041051 is Multnomah County); bad codes and contacts named
    r = await system.http.post(URL, json={"name": "Multnomah County EM", "jurisdiction_codes": "041051",
                                          "contacts": [{"name": "Lee", "email": "lee@example.org"}]}, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["jurisdiction_codes"] == ["ORC051"] and r.json()["jurisdiction"]["type"] in ("Polygon",
                                                                                                 "MultiPolygon")
    for payload, reason in (({"name": "X", "jurisdiction_codes": "ORC999"}, "jurisdiction_codes: ORC999 is not"),
                            ({"name": "X", "jurisdiction": REGION["jurisdiction"], "jurisdiction_codes": "ORC051"},
                             "jurisdiction: give exactly one"),
                            ({"name": "X", "jurisdiction_codes": "ORC051",
                              "contacts": [{"name": "A", "phone": "12"}]}, "contacts.0.phone"),
                            ({"name": "X", "jurisdiction_codes": "ORC051",
                              "contacts": [{"name": "A", "email": "not-an-address"}]}, "contacts.0.email")):
        r = await system.http.post(URL, json=payload, headers=admin)
        assert r.status_code == 422 and reason in r.json()["detail"], (payload, r.text)
    # lists mask contacts; one agency in full
    listed = {a["agency_id"]: a for a in (await system.http.get(URL, headers=admin)).json()}
    assert set(listed) == {"city-of-portland", "multnomah-county-em"}
    assert listed["city-of-portland"]["contacts"] == [{"name": "D. S.", "role": "duty officer", "phone": "…23",
                                                       "email": "D…@example.org"}]
    full = (await system.http.get(f"{URL}/city-of-portland", headers=admin)).json()
    assert full["contacts"][0]["phone"] == "+15035550123"
    assert (await system.http.get(f"{URL}/nobody", headers=admin)).status_code == 404

    # the agency works, then its jurisdiction shrinks: its existing token follows
    r = await system.http.post("/api/v1/agency/shelters", json=shelter(), headers=system.auth("agency"))
    assert r.status_code == 202
    west = square(-122.75, 45.48, 0.05)
    r = await system.http.patch(f"{URL}/city-of-portland", json={"jurisdiction": west}, headers=admin)
    assert r.status_code == 200 and r.json()["tokens_updated"] == 1
    r = await system.http.post("/api/v1/agency/shelters", json=shelter("S2"), headers=system.auth("agency"))
    assert r.status_code == 403 and r.json()["detail"].startswith("geometry: lies outside")
    r = await system.http.patch(f"{URL}/city-of-portland", json={"name": "Portland"}, headers=admin)
    assert r.status_code == 422 and "name: an agency keeps its name" in r.json()["detail"]
    r = await system.http.patch(f"{URL}/city-of-portland", json={"jurisdiction": REGION["jurisdiction"]},
                                headers=admin)
    assert r.status_code == 200

    # a token for a registered agency needs no jurisdiction: it takes the registered one
    r = await system.http.post("/api/v1/admin/tokens", json={"name": "County desk", "roles": ["agency"],
                                                            "agency": "Multnomah County EM"}, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["agency_id"] == "multnomah-county-em"
    county = {"Authorization": f"Bearer {r.json()['token']}"}
    r = await system.http.post("/api/v1/agency/shelters", json=shelter("C1"), headers=county)
    assert r.status_code == 202, r.text

    # the command line names an agency too
    env = {"EMERGENCY_STORE_URL": system.settings.store_url, "EMERGENCY_DATA_DIR": str(system.settings.data_dir)}
    done = run_cli("token", "--agency", "Multnomah County EM", "--role", "agency", env=env)
    assert done.returncode == 0, done.stderr
    done = run_cli("token", "--agency", "Multnomah  County EM", "--role", "agency", env=env)
    assert done.returncode == 2 and "agency: " in done.stderr

    # every agency action, who and what
    audit = (await system.http.get(f"{URL}/city-of-portland/audit", headers=admin)).json()
    assert [(e["action"], e["actor"]) for e in audit] == [
        ("agency.update", ADMIN), ("agency.update", ADMIN), ("shelters.submit", "City of Portland"),
        ("agency.create", ADMIN)]
    assert audit[2]["target"] == "agency:city-of-portland:shelter:S1" and audit[2]["actor_token"]
    county_audit = (await system.http.get(f"{URL}/multnomah-county-em/audit", headers=admin)).json()
    assert [(e["action"], e["actor"]) for e in county_audit] == [
        ("token.create", "cli"), ("shelters.submit", "County desk"), ("token.create", ADMIN),
        ("agency.create", ADMIN)]
    assert (await system.http.get(f"{URL}/nobody/audit", headers=admin)).status_code == 404
    # contacts are personal data: in no answer but the admin's own, in no log line
    text = str(audit) + str(county_audit) + caplog.text
    for public in ("/api/v1/shelters", "/api/v1/changes", "/openapi.json"):
        text += (await system.http.get(public)).text
    assert "555-0123" not in text and "5035550123" not in text and "Dana" not in text
