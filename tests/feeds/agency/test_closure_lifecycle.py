"""Road closures' status (planned / active / reopened: reopened ends it), lanes affected, the optional
detour (snapped like the closure when asked, jurisdiction-checked) and ``DELETE`` (reopen)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from emergency.auth.tokens import Role, create_token
from tests.feeds.agency.test_closures_api import body, max_distance_to_road_m

URL = "/api/v1/agency/road-closures"
LINE = {"type": "LineString", "coordinates": [[-122.6530, 45.5121], [-122.6460, 45.5121]]}
ROUGH_DETOUR = {"type": "LineString", "coordinates": [[-122.6532, 45.51232], [-122.6500, 45.51208],
                                                      [-122.6470, 45.51230], [-122.6455, 45.51205]]}


async def closures(system) -> dict[str, dict]:
    assert await system.runtime.wait_applied(timeout_s=30)
    return {f["id"]: f for f in (await system.http.get("/api/v1/road-closures")).json()["features"]}


async def test_status_lanes_and_a_snapped_detour(system):
    r = await system.http.post(URL, json=body("L1", geometry=LINE, lanes_affected=1, detour=ROUGH_DETOUR,
                                              detour_snap=True), headers=system.auth("agency"))
    assert r.status_code == 202, r.text
    assert r.json()["closure_status"] == "active"
    props = (await closures(system))[r.json()["id"]]["properties"]
    assert props["status"] == "active" and props["lanes_affected"] == 1
    assert max_distance_to_road_m(props["detour"], "Southeast Hawthorne Boulevard") <= 1.0
    # planned: start ahead, shown with its status until it starts
    start = datetime.now(UTC) + timedelta(days=2)
    planned = {**body("L2", geometry=LINE), "start": start.isoformat(), "end": (start + timedelta(hours=3)).isoformat()}
    r = await system.http.post(URL, json=planned, headers=system.auth("agency"))
    assert r.status_code == 202 and r.json()["closure_status"] == "planned"
    assert (await closures(system))[r.json()["id"]]["properties"]["status"] == "planned"
    for payload, reason in ((body("L3", geometry=LINE, lanes_affected=0), "lanes_affected"),
                            (body("L3", geometry=LINE, status="closed"), "status"),
                            (body("L3", geometry=LINE, detour_snap=True), "detour_snap: needs a detour"),
                            (body("L3", geometry=LINE, detour={"type": "Point", "coordinates": [-122.65, 45.51]}),
                             "detour")):
        r = await system.http.post(URL, json=payload, headers=system.auth("agency"))
        assert r.status_code == 422 and reason in r.json()["detail"], r.text
    river = {"type": "LineString", "coordinates": [[-122.6690, 45.5080], [-122.6700, 45.5000]]}
    r = await system.http.post(URL, json=body("L3", geometry=LINE, detour=river, detour_snap=True),
                               headers=system.auth("agency"))
    assert r.status_code == 422 and r.json()["detail"].startswith("detour: ")


async def test_reopened_and_delete_end_the_closure(system):
    head = (await system.http.get("/api/v1/changes")).json()["seq"]
    ids = []
    for ref in ("E1", "E2"):
        r = await system.http.post(URL, json=body(ref, geometry=LINE), headers=system.auth("agency"))
        assert r.status_code == 202
        ids.append(r.json()["id"])
    assert set(ids) <= set(await closures(system))
    assert ids[0] == "agency:city-of-portland:E1"  # the closures' id scheme is unchanged
    r = await system.http.post(URL, json=body("E1", geometry=LINE, status="reopened"), headers=system.auth("agency"))
    assert r.status_code == 202 and r.json()["closure_status"] == "reopened"
    r = await system.http.delete(f"{URL}/E2", headers=system.auth("agency"))
    assert r.status_code == 200 and r.json()["item_status"] == "reopened"
    assert not set(ids) & set(await closures(system))
    changes = (await system.http.get(f"/api/v1/changes?after={head}")).json()["changes"]
    assert {c["id"] for c in changes if c["type"] == "remove"} == set(ids)
    # resubmitting the reference closes the road again
    r = await system.http.post(URL, json=body("E2", geometry=LINE), headers=system.auth("agency"))
    assert r.status_code == 202 and ids[1] in await closures(system)


async def test_a_detour_outside_the_jurisdiction_is_403_naming_it(system):
    west = {"type": "Polygon", "coordinates": [[[-122.75, 45.48], [-122.64, 45.48], [-122.64, 45.56],
                                                [-122.75, 45.56], [-122.75, 45.48]]]}
    token, _ = await create_token(system.runtime.store, name="West Side Works", roles=[Role.agency],
                                  agency="West Side Works", jurisdiction=west)
    far = {"type": "LineString", "coordinates": [[-122.6530, 45.5121], [-122.60, 45.5121]]}
    r = await system.http.post(URL, json=body("W1", geometry=LINE, detour=far),
                               headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403 and r.json()["detail"] == "detour: lies outside the jurisdiction of West Side Works"
