"""``POST /api/v1/agency/road-closures`` with a road and two cross streets, or a rough line to snap:
stored on the real road, refused with a reason naming the part that failed, jurisdiction on the
snapped geometry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import shapely
from shapely.geometry import shape

from emergency.auth.tokens import Role, create_token
from mapping.regions import load_region

URL = "/api/v1/agency/road-closures"


def body(ref: str, **where) -> dict:
    start = datetime.now(UTC) - timedelta(minutes=5)
    return {"reference": ref, "reason": "Tree and power lines down", "start": start.isoformat(),
            "end": (start + timedelta(hours=4)).isoformat(), **where}


def max_distance_to_road_m(geometry: dict, road_name: str) -> float:
    region = load_region("portland")
    pts = shapely.points(shapely.get_coordinates(region.project(shape(geometry))))
    return float(shapely.distance(region.roads[road_name].line_m, pts).max())


async def stored_closure(system, event_id: str) -> dict:
    assert await system.runtime.wait_applied(timeout_s=30)
    found = [f for f in (await system.http.get("/api/v1/road-closures")).json()["features"] if f["id"] == event_id]
    assert len(found) == 1
    return found[0]


async def test_road_between_cross_streets_is_stored_on_the_road(system):
    r = await system.http.post(URL, json=body("PBOT-G1", road="SE Hawthorne Blvd", **{"from": "SE 12th Ave"},
                                              to="SE 20th Ave"), headers=system.auth("agency"))
    assert r.status_code == 202, r.text
    closure = await stored_closure(system, r.json()["id"])
    assert closure["geometry"]["type"] == "LineString"
    assert max_distance_to_road_m(closure["geometry"], "Southeast Hawthorne Boulevard") <= 1.0
    assert closure["properties"]["road_name"] == "SE Hawthorne Blvd"
    length = load_region("portland").project(shape(closure["geometry"])).length
    assert 600 < length < 720  # eight short blocks


async def test_a_rough_line_is_snapped_when_asked(system):
    rough = {"type": "LineString", "coordinates": [[-122.6532, 45.51232], [-122.6500, 45.51208],
                                                   [-122.6470, 45.51230], [-122.6455, 45.51205]]}
    r = await system.http.post(URL, json=body("PBOT-G2", geometry=rough, snap=True), headers=system.auth("agency"))
    assert r.status_code == 202, r.text
    closure = await stored_closure(system, r.json()["id"])
    assert max_distance_to_road_m(closure["geometry"], "Southeast Hawthorne Boulevard") <= 1.0
    assert closure["properties"]["road_name"] == "SE Hawthorne Blvd"
    # without "snap" the line is kept as drawn
    r = await system.http.post(URL, json=body("PBOT-G3", geometry=rough), headers=system.auth("agency"))
    closure = await stored_closure(system, r.json()["id"])
    assert closure["geometry"]["coordinates"] == rough["coordinates"]


async def test_unknown_road_is_422_with_close_matches(system):
    r = await system.http.post(URL, json=body("PBOT-G4", road="SE Foster Rd", **{"from": "SE 82nd Ave"},
                                              to="SE 92nd Ave"), headers=system.auth("agency"))
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail.startswith('road: no road "SE Foster Rd" in region portland; did you mean ')
    assert r.json()["candidates"]


async def test_cross_street_that_does_not_cross_is_422_naming_it(system):
    r = await system.http.post(URL, json=body("PBOT-G5", road="SE Hawthorne Blvd", **{"from": "SE Division St"},
                                              to="SE 20th Ave"), headers=system.auth("agency"))
    assert r.status_code == 422
    assert r.json()["detail"].startswith('from: "SE Division St" does not cross "SE Hawthorne Blvd"')
    r = await system.http.post(URL, json=body("PBOT-G6", road="SE Hawthorne Blvd", **{"from": "SE 12th Ave"},
                                              to="SE Nowhere Ave"), headers=system.auth("agency"))
    assert r.status_code == 422 and r.json()["detail"].startswith('to: no road "SE Nowhere Ave"')


async def test_a_line_that_follows_no_road_is_422(system):
    river = {"type": "LineString", "coordinates": [[-122.6690, 45.5080], [-122.6700, 45.5000]]}
    r = await system.http.post(URL, json=body("PBOT-G7", geometry=river, snap=True), headers=system.auth("agency"))
    assert r.status_code == 422 and r.json()["detail"].startswith("geometry: only ")


async def test_exactly_one_of_geometry_or_road(system):
    line = {"type": "LineString", "coordinates": [[-122.6530, 45.5121], [-122.6460, 45.5121]]}
    cases = [
        (body("PBOT-G8", geometry=line, road="SE Hawthorne Blvd", **{"from": "SE 12th Ave"}, to="SE 20th Ave"),
         "geometry: give exactly one of geometry or road"),
        (body("PBOT-G9"), "geometry: give exactly one of geometry or road"),
        (body("PBOT-G10", road="SE Hawthorne Blvd", **{"from": "SE 12th Ave"}), "to: is required with road"),
        (body("PBOT-G11", road="SE Hawthorne Blvd", **{"from": "SE 12th Ave"}, to="SE 20th Ave", snap=True),
         "snap: applies to a geometry only"),
    ]
    for payload, reason in cases:
        r = await system.http.post(URL, json=payload, headers=system.auth("agency"))
        assert r.status_code == 422 and reason in r.json()["detail"], (payload, r.text)
    assert (await system.runtime.store.journal_counts()).total == 0


async def test_jurisdiction_is_checked_on_the_snapped_geometry(system):
    # an agency whose area is the west bank only: a closure named on the east side is refused
    west = {"type": "Polygon", "coordinates": [[[-122.75, 45.48], [-122.668, 45.48], [-122.668, 45.56],
                                                [-122.75, 45.56], [-122.75, 45.48]]]}
    token, _ = await create_token(system.runtime.store, name="West Side Works", roles=[Role.agency],
                                  agency="West Side Works", jurisdiction=west)
    headers = {"Authorization": f"Bearer {token}"}
    r = await system.http.post(URL, json=body("WSW-1", road="SE Hawthorne Blvd", **{"from": "SE 12th Ave"},
                                              to="SE 20th Ave"), headers=headers)
    assert r.status_code == 403
    assert r.json()["detail"] == "geometry: lies outside the jurisdiction of West Side Works"
    r = await system.http.post(URL, json=body("WSW-2", road="SW Jefferson St", **{"from": "SW 4th Ave"},
                                              to="SW 6th Ave"), headers=headers)
    assert r.status_code == 202, r.text


async def test_a_cross_street_the_region_lacks_is_refused_not_renumbered(system):
    """SE 39th and SE 99th are not in the region: both were read as SE 9th Ave and 1.7 km of
    Hawthorne between 9th and 30th was closed. Now: 422 naming the field, candidates by number."""
    for missing in ("SE 39th Ave", "SE 99th Ave"):
        r = await system.http.post(URL, json=body("PBOT-N1", road="SE Hawthorne Blvd", **{"from": "SE 30th Ave"},
                                                  to=missing), headers=system.auth("agency"))
        assert r.status_code == 422, r.text
        detail, candidates = r.json()["detail"], r.json()["candidates"]
        assert detail.startswith(f'to: no road "{missing}" in region portland; did you mean "SE 33rd Ave", ')
        assert candidates[:2] == ["SE 33rd Ave", "SE 32nd Ave"]
        assert "SE 9th Ave" not in candidates
    assert (await system.runtime.store.journal_counts()).total == 0


@pytest.mark.parametrize("field,written,candidate", [
    ("road", "Hawthorn Blvd", "SE Hawthorne Blvd"),      # a misspelling
    ("road", "Hawthorne Blvd", "SE Hawthorne Blvd"),     # the direction the sender did not write
    ("from", "12th", "SE 12th Ave"),                     # a core that could be SE, SW, NE or NW 12th
    ("to", "SE 20th Street", "SE 20th Ave"),             # another street type
])
async def test_a_name_that_is_not_exact_is_refused_with_candidates_and_a_candidate_is_accepted(
        system, field, written, candidate):
    where = {"road": "SE Hawthorne Blvd", "from": "SE 12th Ave", "to": "SE 20th Ave"}
    r = await system.http.post(URL, json=body("PBOT-N2", **{**where, field: written}), headers=system.auth("agency"))
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(f'{field}: ')
    assert f'"{written}"' in r.json()["detail"] and f'did you mean "{candidate}"' in r.json()["detail"]
    assert r.json()["candidates"][0] == candidate
    assert (await system.runtime.store.journal_counts()).total == 0
    # resubmitting with the candidate's exact name is exact
    r = await system.http.post(URL, json=body("PBOT-N2", **{**where, field: candidate}), headers=system.auth("agency"))
    assert r.status_code == 202, r.text
    assert r.json()[field] == candidate


async def test_exact_names_with_abbreviations_are_accepted_and_echoed_in_metres(system):
    r = await system.http.post(URL, json=body("PBOT-N3", road="Southeast Hawthorne Boulevard",
                                              **{"from": "se 12th avenue"}, to="S.E. 20th Ave."),
                               headers=system.auth("agency"))
    assert r.status_code == 202, r.text
    answer = r.json()
    assert answer["id"] == "agency:city-of-portland:PBOT-N3" and answer["duplicate"] is False
    assert (answer["road"], answer["from"], answer["to"]) == ("SE Hawthorne Blvd", "SE 12th Ave", "SE 20th Ave")
    closure = await stored_closure(system, answer["id"])
    measured = load_region("portland").project(shape(closure["geometry"])).length
    assert 600 < answer["length_m"] < 720 and answer["length_m"] == pytest.approx(measured, abs=1.0)
    props = closure["properties"]
    assert (props["road"], props["from"], props["to"], props["length_m"]) == (
        "SE Hawthorne Blvd", "SE 12th Ave", "SE 20th Ave", answer["length_m"])


async def test_a_drawn_closure_echoes_its_road_name_and_length(system):
    line = {"type": "LineString", "coordinates": [[-122.6530, 45.5121], [-122.6460, 45.5121]]}  # ~545 m
    r = await system.http.post(URL, json=body("PBOT-N4", geometry=line, road_name="SE Hawthorne Blvd"),
                               headers=system.auth("agency"))
    assert r.status_code == 202, r.text
    answer = r.json()
    assert (answer["road"], answer["from"], answer["to"]) == ("SE Hawthorne Blvd", None, None)
    assert 530 < answer["length_m"] < 560
    rough = {"type": "LineString", "coordinates": [[-122.6532, 45.51232], [-122.6500, 45.51208],
                                                   [-122.6470, 45.51230], [-122.6455, 45.51205]]}
    r = await system.http.post(URL, json=body("PBOT-N5", geometry=rough, snap=True), headers=system.auth("agency"))
    assert r.status_code == 202, r.text
    assert r.json()["road"] == "SE Hawthorne Blvd" and r.json()["from"] is None and 500 < r.json()["length_m"] < 700
    props = (await stored_closure(system, r.json()["id"]))["properties"]
    assert props["road"] == "SE Hawthorne Blvd" and props["length_m"] == r.json()["length_m"]


async def test_the_demo_replay_submits_closures_through_the_agency_flow(system):
    """The scenario's closures take the API's path: jurisdiction, measured length, echo attributes."""
    from emergency.config import PROJECT_ROOT
    from feeds.scenario import load_scenario, replay

    items = [i for i in load_scenario(PROJECT_ROOT / "sample_data/scenarios/portland_demo.jsonl")
             if i["type"] == "road_closure"]
    n = await replay(system.runtime, items, speed=1000.0, agency="City of Portland", alerter=None)  # type: ignore[arg-type]  (no alert items)
    assert n == len(items) == 8
    assert await system.runtime.wait_applied(timeout_s=30)
    features = (await system.http.get("/api/v1/road-closures")).json()["features"]
    assert len(features) == 8
    for f in features:
        p = f["properties"]
        assert f["id"].startswith("agency:city-of-portland:PBOT-2026-00") and p["agency"] == "City of Portland"
        assert p["road"] == p["road_name"] and p["from"] is None and p["to"] is None
        measured = load_region("portland").project(shape(f["geometry"])).length
        assert p["length_m"] == pytest.approx(measured, abs=1.0) and 50 < p["length_m"] < 3000
