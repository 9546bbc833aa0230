"""``GET /api/v1/road-closures/wzdx.geojson``: the active and planned closures as a WZDx v4.2
WorkZoneFeed, validated with ``jsonschema`` against the vendored CC0 schemas (and the GeoJSON schemas
they reference), resolved offline from tests/data/wzdx."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from referencing import Registry, Resource

from tests.feeds.agency.test_closure_lifecycle import LINE, ROUGH_DETOUR
from tests.feeds.agency.test_closures_api import body

SCHEMAS = Path(__file__).resolve().parents[2] / "data" / "wzdx"
URL = "/api/v1/road-closures/wzdx.geojson"


def validator() -> jsonschema.Draft7Validator:
    """A WorkZoneFeed validator whose every ``$ref`` resolves from the vendored files (no network)."""
    resources = []
    for path in SCHEMAS.glob("*.json"):
        doc = json.loads(path.read_text(encoding="utf-8"))
        resources.append((doc["$id"], Resource.from_contents(doc)))
    registry = Registry().with_resources(resources)
    schema = json.loads((SCHEMAS / "WorkZoneFeed.json").read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema, registry=registry, format_checker=jsonschema.FormatChecker())


def test_the_validator_accepts_the_reference_example_and_refuses_a_broken_feed():
    check = validator()
    example = json.loads((SCHEMAS / "example_scenario4_detour.geojson").read_text(encoding="utf-8"))
    check.validate(example)
    broken = json.loads(json.dumps(example))
    broken["features"][0]["geometry"] = {"type": "Polygon", "coordinates": []}
    with pytest.raises(jsonschema.ValidationError):
        check.validate(broken)
    del example["feed_info"]
    with pytest.raises(jsonschema.ValidationError):
        check.validate(example)


async def test_active_and_planned_closures_as_a_valid_work_zone_feed(system):
    agency = system.auth("agency")
    start = datetime.now(UTC) + timedelta(days=3)
    planned = {**body("WZ-PLANNED", geometry=LINE), "start": start.isoformat(), "end": None}
    multi = {"type": "MultiLineString", "coordinates": [LINE["coordinates"],
                                                        [[-122.6530, 45.5130], [-122.6460, 45.5130]]]}
    for payload in (body("WZ-1", road="SE Hawthorne Blvd", **{"from": "SE 12th Ave"}, to="SE 20th Ave",
                         lanes_affected=1, detour=ROUGH_DETOUR, detour_snap=True),
                    planned, body("WZ-MULTI", geometry=multi), body("WZ-GONE", geometry=LINE)):
        r = await system.http.post("/api/v1/agency/road-closures", json=payload, headers=agency)
        assert r.status_code == 202, r.text
    assert await system.runtime.wait_applied(timeout_s=30)  # a DELETE acts on what the picture holds
    assert (await system.http.delete("/api/v1/agency/road-closures/WZ-GONE", headers=agency)).status_code == 200
    assert await system.runtime.wait_applied(timeout_s=30)
    r = await system.http.get(URL)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    feed = r.json()
    validator().validate(feed)
    by_id = {f["id"]: f for f in feed["features"]}
    base = "agency:city-of-portland:"
    assert set(by_id) == {f"{base}WZ-1", f"{base}WZ-1#detour", f"{base}WZ-PLANNED", f"{base}WZ-MULTI#1",
                          f"{base}WZ-MULTI#2"}  # the reopened one is gone
    zone = by_id[f"{base}WZ-1"]["properties"]
    assert zone["core_details"]["road_names"] == ["SE Hawthorne Blvd"]
    assert (zone["beginning_cross_street"], zone["ending_cross_street"]) == ("SE 12th Ave", "SE 20th Ave")
    assert zone["vehicle_impact"] == "some-lanes-closed"
    assert zone["core_details"]["related_road_events"] == [{"type": "related-detour", "id": f"{base}WZ-1#detour"}]
    assert by_id[f"{base}WZ-1#detour"]["properties"]["core_details"]["event_type"] == "detour"
    later = by_id[f"{base}WZ-PLANNED"]["properties"]
    assert later["start_date"] == start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert later["is_end_date_verified"] is False and later["vehicle_impact"] == "all-lanes-closed"
    assert feed["feed_info"]["data_sources"] == [{"data_source_id": "city-of-portland",
                                                  "organization_name": "City of Portland"}]
    # an empty picture is a valid feed too
    for ref in ("WZ-1", "WZ-PLANNED", "WZ-MULTI"):
        assert (await system.http.delete(f"/api/v1/agency/road-closures/{ref}", headers=agency)).status_code == 200
    assert await system.runtime.wait_applied(timeout_s=30)
    empty = (await system.http.get(URL)).json()
    validator().validate(empty)
    assert empty["features"] == []
