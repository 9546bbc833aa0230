"""The picture at a past time (``GET /api/v1/cop?at=``), rebuilt from the journal without touching the live one."""

from __future__ import annotations

import asyncio
import math
import random
from datetime import UTC, datetime, timedelta

import h3

from emergency.cop.history import picture_answer, replay
from emergency.cop.incidents.correlate import EDGE_M, Correlator, _cells
from emergency.cop.incidents.models import DEFAULT_RADIUS_M, RADIUS_M, incident_id_for
from emergency.events import Envelope, GeoPrecision, Kind, Source
from emergency.store.base import OutboxRow
from emergency.stream.topics import COP_ACTIONS, RAW_AGENCY, RAW_CITIZEN, RAW_FEEDS
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


class ScanCorrelator(Correlator):
    """The candidate lookup as it was before the reference-point index: every incident with a cell in the report's
    ``grid_disk`` at the index resolution, whatever its category (the reference the fast lookup must equal)."""

    def near(self, member, family):
        k = math.ceil(RADIUS_M.get(family, DEFAULT_RADIUS_M) / EDGE_M) + 1
        found: set[str] = set()
        for cell in _cells(member.geometry):
            for c in h3.grid_disk(cell, k):
                found.update(self._index.get(c, ()))
        return found


def dense_journal(n: int, seed: int) -> list[OutboxRow]:
    """``n`` raw inputs over 4 km x 3 km of Portland, a few seconds apart: citizen reports of every family (some
    with road names), agency road closures (lines) and feed items (areas and points), and coordinators' merges,
    splits and verifications."""
    rng = random.Random(seed)
    t0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    rows: list[OutboxRow] = []
    roads = ("SE Hawthorne Blvd", "SE Division St", "SE Belmont St", None)
    made: list[tuple[str, str]] = []  # (first report id, its incident id if it opened one)
    for i in range(n):
        at = t0 + timedelta(seconds=7 * i)
        lon, lat = rng.uniform(-122.68, -122.63), rng.uniform(45.50, 45.527)
        point = {"type": "Point", "coordinates": [round(lon, 5), round(lat, 5)]}
        roll = rng.random()
        if roll < 0.04:
            rid, topic = f"agency:closure-{i}", RAW_AGENCY
            line = {"type": "LineString", "coordinates": [[lon - 0.004, lat], [lon, lat + 0.001], [lon + 0.004, lat]]}
            event = Envelope(id=rid, kind=Kind.agency_report, category="road_closure", text="Road closed",
                             geometry=line, geo_precision=GeoPrecision.exact, observed_at=at, received_at=at,
                             source=Source(type="agency_api", ref=rid),
                             attributes={"road_name": rng.choice(roads[:3]), "agency_id": "pbot"})
        elif roll < 0.07:
            rid, topic = f"feed:item-{i}", RAW_FEEDS
            geom = point if rng.random() < 0.5 else {"type": "Polygon", "coordinates": [[
                [lon, lat], [lon + 0.004, lat], [lon + 0.004, lat + 0.003], [lon, lat + 0.003], [lon, lat]]]}
            event = Envelope(id=rid, kind=Kind.feed_item, category=rng.choice(("flooding", "fire", "damage")),
                             text="Reported by the county", geometry=geom, geo_precision=GeoPrecision.exact,
                             observed_at=at, received_at=at, source=Source(type="feed", ref=rid))
        elif roll < 0.10 and made:
            first, _ = rng.choice(made)
            action = rng.choice(("verify", "merge", "split"))
            other, _ = rng.choice(made)
            attrs = {"action": action, "action_id": f"action-{i}", "by": "ECC", "by_roles": ["coordinator"]}
            if action == "merge":
                attrs["target"] = incident_id_for(other)
            if action == "split":
                attrs["reports"] = [other]
            event = Envelope(id=incident_id_for(first), kind=Kind.incident, source=Source(type="coordinator"),
                             observed_at=at, received_at=at, attributes=attrs)
            rows.append(OutboxRow(len(rows) + 1, event.id, COP_ACTIONS, event.id, event.to_json()))
            continue
        else:
            rid, topic = f"citizen:dense-{i}", RAW_CITIZEN
            cat = rng.choice(("smoke", "spot_fire", "flooding", "damage", "blocked_road", "needs_help", "other"))
            event = Envelope(id=rid, kind=Kind.citizen_report, category=cat, geometry=point,
                             text=f"{cat.replace('_', ' ')} near block {rng.randint(1, 40)}",
                             location_text=rng.choice(roads) if cat == "blocked_road" else None,
                             geo_precision=GeoPrecision.exact, confidence=0.8, observed_at=at, received_at=at,
                             source=Source(type="citizen_web"),
                             attributes={"private": {"contact": f"p{rng.randint(1, 30)}@example.org"}})
        made.append((rid, incident_id_for(rid)))
        rows.append(OutboxRow(len(rows) + 1, event.id, topic, event.id, event.to_json()))
    return rows


def picture_of(rows: list[OutboxRow], at: datetime, correlator: Correlator) -> dict:
    upto = [r for r in rows if Envelope.from_json(r.payload).received_at <= at]
    return picture_answer(replay(rows=upto, at=at, correlator=correlator))


def test_the_indexed_lookup_gives_the_same_picture_as_a_scan_of_every_nearby_incident():
    rows = dense_journal(800, seed=7)
    times = [Envelope.from_json(r.payload).received_at for r in rows]
    probes = [times[0] - timedelta(seconds=1), times[0], times[300] + timedelta(seconds=3),
              times[-1], times[-1] + timedelta(hours=1)]
    seen = set()
    for at in probes:
        fast, scan = picture_of(rows, at, Correlator()), picture_of(rows, at, ScanCorrelator())
        assert fast == scan, at
        seen.add(fast["layers"]["incidents"]["returned"])
    assert 0 in seen and max(seen) > 200  # before the first row, and a dense picture at the end
    last = picture_of(rows, probes[-1], Correlator())["layers"]["incidents"]["features"]
    statuses = {f["properties"]["status"] for f in last}
    assert {"duplicate", "verified", "corroborated"} <= statuses  # the actions took effect
    assert any(f["properties"]["report_count"] > 5 for f in last)  # reports did join incidents
