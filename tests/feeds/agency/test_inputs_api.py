"""Every agency input kind through the API to its map layer and back out: POST (echo, idempotent by
reference), the layer's read route, DELETE or an end state (a ``remove`` on the change feed),
jurisdiction refusals (403 naming ``geometry``), bad input (422 naming the field), ownership."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from emergency.auth.tokens import Role, create_token

AGENCY = "/api/v1/agency"
SEATTLE = {"type": "Polygon", "coordinates": [[[-122.45, 47.5], [-122.2, 47.5], [-122.2, 47.75], [-122.45, 47.75],
                                               [-122.45, 47.5]]]}
POINT = {"type": "Point", "coordinates": [-122.6587, 45.5122]}
SEATTLE_POINT = {"type": "Point", "coordinates": [-122.33, 47.6]}


def square(lon: float, lat: float, d: float) -> dict:
    return {"type": "Polygon", "coordinates": [[[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d],
                                                [lon, lat]]]}


def now(**delta) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def shelter(ref: str = "S1", **over) -> dict:
    return {"reference": ref, "name": "Cleveland High gym", "geometry": POINT, "capacity": 200, "occupancy": 40,
            "accessible": True, "pets": False, **over}


def damage(ref: str = "D1", **over) -> dict:
    return {"reference": ref, "geometry": POINT, "place": "1200 SE Hawthorne Blvd", "kind": "residential",
            "level": "major", "counts": {"structures": 3, "households": 5}, **over}


def resource(ref: str = "R1", **over) -> dict:
    return {"reference": ref, "geometry": POINT, "what": "drinking water", "quantity": 1000, "unit": "litres",
            "priority": "high", "needed_by": now(hours=6), "deliver_to": "Cleveland High gym", **over}


def zone(ref: str = "Z1", **over) -> dict:
    return {"reference": ref, "name": "Hawthorne east", "geometry": square(-122.66, 45.50, 0.01), "level": "order",
            "instruction": "Leave now by SE Division St.", **over}


def perimeter(ref: str = "P1", **over) -> dict:
    return {"reference": ref, "name": "Tabor fire", "geometry": square(-122.60, 45.50, 0.01), "hazard": "fire",
            "observed": now(minutes=-30), "source": "infrared flight", **over}


BODIES = {"shelters": shelter, "damage-reports": damage, "resource-requests": resource, "evacuation-zones": zone,
          "hazard-perimeters": perimeter}
LAYERS = {"shelters": "/api/v1/shelters", "damage-reports": "/api/v1/damage-reports",
          "resource-requests": "/api/v1/resource-requests", "evacuation-zones": "/api/v1/evacuation-zones",
          "hazard-perimeters": "/api/v1/hazard-perimeters"}
SLUGS = {"shelters": "shelter", "damage-reports": "damage", "resource-requests": "resource",
         "evacuation-zones": "evacuation", "hazard-perimeters": "perimeter"}


async def features(system, path: str) -> dict[str, dict]:
    assert await system.runtime.wait_applied(timeout_s=30)
    r = await system.http.get(path)
    assert r.status_code == 200, r.text
    return {f["id"]: f for f in r.json()["features"]}


async def test_every_kind_reaches_its_layer_and_a_delete_removes_it(system):
    head = (await system.http.get("/api/v1/changes")).json()["seq"]
    ids = {}
    for path, make in BODIES.items():
        r = await system.http.post(f"{AGENCY}/{path}", json=make(), headers=system.auth("agency"))
        assert r.status_code == 202, (path, r.text)
        answer = r.json()
        assert answer["id"] == f"agency:city-of-portland:{SLUGS[path]}:{make()['reference']}"
        assert answer["understood"], path
        ids[path] = answer["id"]
        found = await features(system, LAYERS[path])
        assert ids[path] in found, path
        props = found[ids[path]]["properties"]
        assert props["agency"] == "City of Portland" and props["reference"] == make()["reference"]
    # the read routes carry each kind's public fields
    assert (await features(system, LAYERS["shelters"]))[ids["shelters"]]["properties"]["available"] == 160
    assert (await features(system, LAYERS["damage-reports"]))[ids["damage-reports"]]["properties"]["level"] == "major"
    zone_props = (await features(system, LAYERS["evacuation-zones"]))[ids["evacuation-zones"]]["properties"]
    assert zone_props["ready_set_go"] == "Go"
    # the same reference again updates, never duplicates
    r = await system.http.post(f"{AGENCY}/shelters", json=shelter(occupancy=50), headers=system.auth("agency"))
    assert r.status_code == 202 and r.json()["id"] == ids["shelters"]
    assert (await features(system, LAYERS["shelters"]))[ids["shelters"]]["properties"]["occupancy"] == 50
    assert len(await features(system, LAYERS["shelters"])) == 1
    # DELETE ends each: gone from the layer, a remove on the change feed
    for path, make in BODIES.items():
        r = await system.http.delete(f"{AGENCY}/{path}/{make()['reference']}", headers=system.auth("agency"))
        assert r.status_code == 200, (path, r.text)
        assert ids[path] not in await features(system, LAYERS[path]), path
    changes = (await system.http.get(f"/api/v1/changes?after={head}")).json()["changes"]
    removed = {c["id"] for c in changes if c["type"] == "remove"}
    assert removed == set(ids.values())
    # a second DELETE changes nothing; an unknown reference is 404 naming it
    r = await system.http.delete(f"{AGENCY}/shelters/S1", headers=system.auth("agency"))
    assert r.status_code == 200 and r.json()["duplicate"] is True
    r = await system.http.delete(f"{AGENCY}/shelters/NOPE", headers=system.auth("agency"))
    assert r.status_code == 404 and r.json()["detail"].startswith("reference: no shelter NOPE")


async def test_jurisdiction_bad_input_and_ownership(system):
    seattle, _ = await create_token(system.runtime.store, name="Seattle EM", roles=[Role.agency],
                                    agency="City of Seattle", jurisdiction=SEATTLE)
    other = {"Authorization": f"Bearer {seattle}"}
    for path, make in BODIES.items():  # Portland's places are outside Seattle's jurisdiction
        r = await system.http.post(f"{AGENCY}/{path}", json=make(), headers=other)
        assert r.status_code == 403, (path, r.text)
        assert r.json()["detail"] == "geometry: lies outside the jurisdiction of City of Seattle"
    bad = [("shelters", shelter(occupancy=201), "occupancy: 201 is more than the capacity 200"),
           ("shelters", shelter(geometry=square(-122.66, 45.5, 0.01)), "geometry"),
           ("damage-reports", damage(level="severe"), "level"),
           ("resource-requests", resource(quantity=0), "quantity"),
           ("evacuation-zones", zone(level="go"), "level"),
           ("evacuation-zones", zone(zones="ORZ006"), "geometry: give exactly one of geometry or zones"),
           ("evacuation-zones", zone(geometry=None, zones="ORZ999"), "zones: ORZ999 is not a zone of"),
           ("hazard-perimeters", perimeter(geometry=POINT), "geometry"),
           ("hazard-perimeters", perimeter(hazard="lava"), "hazard"),
           ("shelters", {k: v for k, v in shelter().items() if k != "reference"}, "reference")]
    for path, payload, reason in bad:
        r = await system.http.post(f"{AGENCY}/{path}", json=payload, headers=system.auth("agency"))
        assert r.status_code == 422 and reason in r.json()["detail"], (path, payload, r.text)
    assert (await system.runtime.store.journal_counts()).total == 0
    # a Seattle shelter is Seattle's: Portland's DELETE of that reference finds none of its own
    r = await system.http.post(f"{AGENCY}/shelters", json=shelter("SEA-1", geometry=SEATTLE_POINT), headers=other)
    assert r.status_code == 202, r.text
    r = await system.http.delete(f"{AGENCY}/shelters/SEA-1", headers=system.auth("agency"))
    assert r.status_code == 404


async def test_shelter_occupancy_patch_is_checked_against_capacity(system):
    r = await system.http.post(f"{AGENCY}/shelters", json=shelter(), headers=system.auth("agency"))
    assert r.status_code == 202
    sid = r.json()["id"]
    assert await system.runtime.wait_applied(timeout_s=30)
    r = await system.http.patch(f"{AGENCY}/shelters/S1", json={"occupancy": 200, "status": "full"},
                                headers=system.auth("agency"))
    assert r.status_code == 200, r.text
    assert r.json()["understood"] == {"name": "Cleveland High gym", "status": "full", "capacity": 200,
                                      "occupancy": 200, "available": 0}
    props = (await features(system, LAYERS["shelters"]))[sid]["properties"]
    assert (props["occupancy"], props["status"], props["pets"]) == (200, "full", False)
    r = await system.http.patch(f"{AGENCY}/shelters/S1", json={"occupancy": 250}, headers=system.auth("agency"))
    assert r.status_code == 422 and r.json()["detail"] == "occupancy: 250 is more than the capacity 200"
    r = await system.http.patch(f"{AGENCY}/shelters/S9", json={"occupancy": 1}, headers=system.auth("agency"))
    assert r.status_code == 404


async def test_resource_request_fulfilments_by_other_agencies(system):
    county, _ = await create_token(system.runtime.store, name="Multnomah County", roles=[Role.agency],
                                   agency="Multnomah County", jurisdiction=SEATTLE)
    helper = {"Authorization": f"Bearer {county}"}
    rid = (await system.http.post(f"{AGENCY}/resource-requests", json=resource(),
                                  headers=system.auth("agency"))).json()["id"]
    assert await system.runtime.wait_applied(timeout_s=30)
    url = f"{AGENCY}/resource-requests/{rid}/fulfilments"
    r = await system.http.post(url, json={"quantity": 400}, headers=helper)
    assert r.status_code == 202, r.text
    assert r.json()["item_status"] == "partially_fulfilled"
    assert r.json()["understood"]["remaining_quantity"] == 600
    assert await system.runtime.wait_applied(timeout_s=30)
    r = await system.http.post(url, json={"quantity": 700}, headers=helper)
    assert r.status_code == 422 and r.json()["detail"].startswith("quantity: 700 is more than the 600 litres")
    r = await system.http.post(url, json={"quantity": 10}, headers=system.auth("agency"))
    assert r.status_code == 403  # not one's own
    props = (await features(system, LAYERS["resource-requests"]))[rid]["properties"]
    assert props["status"] == "partially_fulfilled"
    assert [(f["agency"], f["quantity"], f["kind"]) for f in props["fulfilments"]] == [("Multnomah County", 400, "partial")]
    # the owner updates the request: its fulfilments stay
    r = await system.http.post(f"{AGENCY}/resource-requests", json=resource(priority="critical"),
                               headers=system.auth("agency"))
    assert r.status_code == 202 and r.json()["understood"]["fulfilled_quantity"] == 400
    assert await system.runtime.wait_applied(timeout_s=30)
    r = await system.http.post(url, json={"complete": True}, headers=helper)
    assert r.status_code == 202 and r.json()["item_status"] == "fulfilled"
    assert rid not in await features(system, LAYERS["resource-requests"])  # fulfilled: off the map
    r = await system.http.post(url, json={"quantity": 1}, headers=helper)
    assert r.status_code == 409 and r.json()["detail"].startswith("request_id: the request is fulfilled")
    r = await system.http.post(f"{AGENCY}/resource-requests/agency:x:resource:none/fulfilments", json={"quantity": 1},
                               headers=helper)
    assert r.status_code == 404


async def test_fulfilments_at_once_or_right_after_the_request_all_count(system):
    """Each change builds on the version accepted last, one writer at a time: nothing waits for the map, and no
    fulfilment overwrites another (before: 404 until the request was on the map, and the later of two at once
    replaced the earlier)."""
    helpers = []
    for name in ("Multnomah County", "Clackamas County"):
        token, _ = await create_token(system.runtime.store, name=name, roles=[Role.agency], agency=name,
                                      jurisdiction=SEATTLE)
        helpers.append({"Authorization": f"Bearer {token}"})
    r = await system.http.post(f"{AGENCY}/resource-requests", json=resource("R5"), headers=system.auth("agency"))
    assert r.status_code == 202, r.text
    rid = r.json()["id"]
    url = f"{AGENCY}/resource-requests/{rid}/fulfilments"
    answers = await asyncio.gather(*(system.http.post(url, json={"quantity": 100}, headers=helpers[i % 2])
                                     for i in range(6)),  # at once, and before the request reached the map
                                   system.http.post(f"{AGENCY}/resource-requests", headers=system.auth("agency"),
                                                    json=resource("R5", priority="critical")))
    assert [a.status_code for a in answers] == [202] * 7, [a.text for a in answers]
    assert sorted(a.json()["understood"]["fulfilled_quantity"] for a in answers[:6]) == [100, 200, 300, 400, 500,
                                                                                          600]
    props = (await features(system, LAYERS["resource-requests"]))[rid]["properties"]
    assert props["priority"] == "critical"  # the owner's resubmission meanwhile is kept too
    assert props["fulfilled_quantity"] == 600 and props["remaining_quantity"] == 400
    assert sorted(f["agency"] for f in props["fulfilments"]) == ["Clackamas County"] * 3 + ["Multnomah County"] * 3

    # an item ended right after it was submitted: ended (not 404), and never left open on the map
    r = await system.http.post(f"{AGENCY}/shelters", json=shelter("S7"), headers=system.auth("agency"))
    assert r.status_code == 202, r.text
    gone = await system.http.delete(f"{AGENCY}/shelters/S7", headers=system.auth("agency"))
    assert gone.status_code == 200 and gone.json()["item_status"] == "closed", gone.text
    assert r.json()["id"] not in await features(system, LAYERS["shelters"])


async def test_evacuation_order_by_zone_codes_suggests_an_alert(system):
    r = await system.http.post(f"{AGENCY}/evacuation-zones", json=zone("Z0", geometry=None, zones="041051"),
                               headers=system.auth("agency"))  # SAME code of Multnomah County
    assert r.status_code == 202, r.text
    assert r.json()["understood"]["zones"] == ["ORC051"] and r.json()["understood"]["zone_names"] == ["Multnomah"]
    assert r.json()["suggested_alert"]["area"]["polygon"]["type"] in ("Polygon", "MultiPolygon")
    assert "agency:city-of-portland:evacuation:Z0" in await features(system, LAYERS["evacuation-zones"])
    r = await system.http.post(f"{AGENCY}/evacuation-zones", json=zone("Z9", geometry=None, zones="ORC005"),
                               headers=system.auth("agency"))  # Clackamas County: outside the city's jurisdiction
    assert r.status_code == 403 and r.json()["detail"].startswith("geometry: lies outside")
    r = await system.http.post(f"{AGENCY}/evacuation-zones", json=zone(), headers=system.auth("agency"))
    assert r.status_code == 202, r.text
    alert = r.json()["suggested_alert"]
    assert alert["area"]["polygon"] == zone()["geometry"] and alert["same_code"] == "EVI"
    issued = await system.http.post("/api/v1/alerts", json=alert, headers=system.auth("alert_originator"))
    assert issued.status_code == 202, issued.text
    # a warning offers no alert; lifting the order ends it
    r = await system.http.post(f"{AGENCY}/evacuation-zones", json=zone("Z2", level="warning"),
                               headers=system.auth("agency"))
    assert r.status_code == 202 and r.json()["suggested_alert"] is None
    r = await system.http.post(f"{AGENCY}/evacuation-zones", json=zone(status="lifted"), headers=system.auth("agency"))
    assert r.status_code == 202 and r.json()["item_status"] == "lifted"
    found = await features(system, LAYERS["evacuation-zones"])
    assert r.json()["id"] not in found and "agency:city-of-portland:evacuation:Z2" in found


async def test_a_newer_perimeter_replaces_the_old_and_keeps_its_area(system):
    first = perimeter(observed=now(hours=-3))
    r = await system.http.post(f"{AGENCY}/hazard-perimeters", json=first, headers=system.auth("agency"))
    assert r.status_code == 202
    small = r.json()["understood"]["area_km2"]
    assert 0.5 < small < 1.5  # 0.01° × 0.01° at 45.5° N ≈ 0.87 km²
    assert await system.runtime.wait_applied(timeout_s=30)
    grown = perimeter(geometry=square(-122.60, 45.50, 0.02), observed=now(hours=-1))
    r = await system.http.post(f"{AGENCY}/hazard-perimeters", json=grown, headers=system.auth("agency"))
    assert r.status_code == 202
    assert r.json()["understood"]["area_km2_before"] == small
    found = await features(system, LAYERS["hazard-perimeters"])
    assert len(found) == 1
    props = found[r.json()["id"]]["properties"]
    assert props["area_km2"] > 3 * small and props["area_km2_before"] == small
    assert [h["area_km2"] for h in props["history"]] == [small]
    r = await system.http.post(f"{AGENCY}/hazard-perimeters", json=first, headers=system.auth("agency"))
    assert r.status_code == 409 and r.json()["detail"].startswith("observed: is older than the current perimeter")
