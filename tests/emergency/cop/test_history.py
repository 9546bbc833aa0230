"""The picture at a past time (``GET /api/v1/cop?at=``), rebuilt from the journal without touching the live one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tests.conftest import report_body
from tests.emergency.assembly.test_durability import closure_body
from tests.emergency.cop.test_incidents import HAWTHORNE, act, incident_of, post_report, settled


async def cop_at(system, at: datetime) -> dict:
    r = await system.http.get("/api/v1/cop", params={"at": at.isoformat()})
    assert r.status_code == 200, r.text
    return r.json()


def ids(answer: dict, layer: str) -> list[str]:
    return [f["id"] for f in answer["layers"][layer]["features"]]


async def test_picture_at_a_time_is_rebuilt_from_the_journal(system):
    a = await post_report(system, category="smoke", text="Smoke over Hawthorne", contact="jane@example.org",
                          **HAWTHORNE)
    await settled(system)
    fire = await incident_of(system, a)
    await asyncio.sleep(0.05)
    first = datetime.now(UTC)
    await asyncio.sleep(0.05)
    b = await post_report(system, category="spot_fire", text="Flames behind the school", lat=45.5130, lon=-122.6500)
    closure = await system.http.post("/api/v1/agency/road-closures", json=closure_body("R-HIST"),
                                     headers=system.auth("agency"))
    assert closure.status_code == 202, closure.text
    await settled(system)
    assert await incident_of(system, b) == fire
    r = await act(system, fire, "verify", reason="seen from the tower")
    assert r.status_code == 202, r.text
    await settled(system)
    live_before = (await system.http.get("/api/v1/incidents")).json()["features"]

    then = await cop_at(system, first)
    assert then["rebuilt_from_journal"] is True and then["at"] == first.isoformat()
    assert then["journal_rows_read"] == 1
    assert ids(then, "reports") == [a] and ids(then, "incidents") == [fire] and ids(then, "road_closures") == []
    [inc] = then["layers"]["incidents"]["features"]
    assert inc["properties"]["status"] == "unverified" and inc["properties"]["report_ids"] == [a]
    assert then["layers"]["reports"]["features"][0]["properties"]["incident_id"] == fire
    assert "jane@" not in str(then) and "private" not in str(then)

    now = await cop_at(system, datetime.now(UTC))
    assert now["journal_rows_read"] == 4 and sorted(ids(now, "reports")) == sorted([a, b])
    assert len(ids(now, "incidents")) == 2  # the fire and the closure's own incident
    [inc] = [f for f in now["layers"]["incidents"]["features"] if f["id"] == fire]
    assert inc["properties"]["status"] == "verified" and inc["properties"]["report_count"] == 2
    assert len(ids(now, "road_closures")) == 1
    live = {f["id"]: f["properties"] for f in live_before}
    assert {k: v for k, v in inc["properties"].items() if k != "seq"} == \
        {k: v for k, v in live[fire].items() if k != "seq"}  # the same logic as the stream

    later = await cop_at(system, datetime.now(UTC) + timedelta(hours=5))  # the closure has ended by then
    assert ids(later, "road_closures") == [] and fire in ids(later, "incidents")
    assert (await system.http.get("/api/v1/incidents")).json()["features"] == live_before  # live untouched


async def test_at_is_required_and_checked(system):
    for params in ({}, {"at": "yesterday"}, {"at": "2026-01-01T00:00:00"}):
        r = await system.http.get("/api/v1/cop", params=params)
        assert r.status_code == 422 and r.json()["detail"].startswith("at:"), (params, r.text)
    assert report_body()  # the shared body helper is importable here (used by the bench)


async def test_every_layer_exports_as_files_with_its_public_fields(system):
    await post_report(system, category="flooding", text="Water over the road", contact="jane@example.org",
                      **HAWTHORNE)
    await post_report(system, category="damage", text="Fence down", lat=45.53, lon=-122.65)
    closure = await system.http.post("/api/v1/agency/road-closures", json=closure_body("R-EXPORT"),
                                     headers=system.auth("agency"))
    assert closure.status_code == 202, closure.text
    await settled(system)
    csv = await system.http.get("/api/v1/reports.csv", params={"limit": 1})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.headers["x-total-count"] == "2" and csv.headers["x-truncated"] == "true"
    lines = csv.text.strip().splitlines()
    assert lines[0].startswith("WKT,") and len(lines) == 2 and "Fence down" in csv.text  # newest first
    geo = await system.http.get("/api/v1/road-closures.geojson")
    assert geo.status_code == 200 and geo.headers["x-truncated"] == "false" and geo.headers["x-total-count"] == "1"
    [feature] = geo.json()["features"]
    assert feature["geometry"]["type"] == "LineString" and feature["properties"]["road_name"] == "SE Hawthorne Blvd"
    kml = await system.http.get("/api/v1/reports.kml")
    assert kml.status_code == 200 and "<kml" in kml.text and kml.headers["x-total-count"] == "2"
    empty = await system.http.get("/api/v1/shelters.csv")
    assert empty.status_code == 200 and empty.headers["x-total-count"] == "0"
    for body in (csv.text, geo.text, kml.text):
        assert "jane@" not in body and "private" not in body
    assert (await system.http.get("/api/v1/alerts.atom")).status_code == 200  # not shadowed by the alert files
    bad = await system.http.get("/api/v1/reports.kml", params={"bbox": "1,2,3"})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("bbox:")
