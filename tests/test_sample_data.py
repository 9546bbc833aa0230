"""Checks for the shipped Portland demo region, scenario and social posts.

Plain file checks: no services, no network.  Geometry checks project to
EPSG:32610 (WGS 84 / UTM zone 10N, metres) with pyproj and use shapely.
"""
from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pyproj import Transformer
from shapely import STRtree
from shapely import transform as shp_transform
from shapely.geometry import LineString, Point, Polygon, shape
from shapely.ops import unary_union

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
REGION = SAMPLE / "regions" / "portland"
SCENARIO = SAMPLE / "scenarios" / "portland_demo.jsonl"
SOCIAL = SAMPLE / "social" / "demo_posts.jsonl"

EVENT_TYPES = {"citizen_report", "road_closure", "alert", "social_post"}
CATEGORIES = {"blocked_road", "spot_fire", "smoke", "flooding", "damage", "needs_help", "other"}
TIERS = {"imminent_threat_extreme", "imminent_threat_severe", "public_safety", "test"}
CRISIS_KEYWORDS = ("fire", "smoke", "flood", "tree", "closed", "evacuat", "power", "wires",
                   "help", "wind", "storm", "outage", "emergency", "sparks", "mudslide", "911")
SCENARIO_EPOCH = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)

_fwd = Transformer.from_crs("EPSG:4326", "EPSG:32610", always_xy=True)


def utm(geom):
    def f(xy):
        import numpy as np

        x, y = _fwd.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shp_transform(geom, f)


def is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def events() -> list[dict]:
    out = []
    with SCENARIO.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            assert line.strip(), f"blank line {n}"
            out.append(json.loads(line))
    return out


def of_type(events, t):
    return [e["body"] for e in events if e["type"] == t]


@pytest.fixture(scope="module")
def region() -> dict:
    return json.loads((REGION / "region.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def roads() -> dict:
    return json.loads((REGION / "roads.geojson").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def roads_utm(roads):
    """name -> union of that street's ways, and an STRtree of all named ways (UTM)."""
    by_name: dict[str, list] = {}
    named = []
    for f in roads["features"]:
        name = f["properties"]["name"]
        if not name:
            continue
        g = utm(LineString(f["geometry"]["coordinates"]))
        by_name.setdefault(name, []).append(g)
        named.append(g)
    unions = {k: unary_union(v) for k, v in by_name.items()}
    return unions, STRtree(named), named


@pytest.fixture(scope="module")
def jurisdiction(region):
    return shape(region["jurisdiction"])


@pytest.fixture(scope="module")
def social_rows() -> list[dict]:
    with SOCIAL.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


# ---------------------------------------------------------------- scenario structure

def test_every_line_parses_with_required_fields(events):
    assert events, "scenario is empty"
    for e in events:
        assert set(e) == {"at", "type", "body"}, e
        assert isinstance(e["at"], float), e
        assert e["type"] in EVENT_TYPES, e
        assert isinstance(e["body"], dict), e


def test_at_is_non_decreasing_and_spans_about_90s(events):
    ats = [e["at"] for e in events]
    assert all(b >= a for a, b in zip(ats, ats[1:]))
    assert ats[0] == 0.0
    assert 80.0 <= ats[-1] <= 100.0


def test_event_counts(events):
    counts = {t: len(of_type(events, t)) for t in EVENT_TYPES}
    assert 40 <= counts["citizen_report"] <= 60, counts
    assert 6 <= counts["road_closure"] <= 8, counts
    assert 3 <= counts["alert"] <= 5, counts
    assert 12 <= counts["social_post"] <= 20, counts


def test_citizen_report_bodies(events):
    reports = of_type(events, "citizen_report")
    for b in reports:
        assert set(b) == {"category", "lat", "lon", "text"}, b
        assert b["category"] in CATEGORIES
        assert isinstance(b["lat"], float) and isinstance(b["lon"], float)
        assert isinstance(b["text"], str) and 0 < len(b["text"]) <= 300
    assert {b["category"] for b in reports} == CATEGORIES


def test_road_closure_bodies(events):
    closures = of_type(events, "road_closure")
    refs = [b["reference"] for b in closures]
    assert len(refs) == len(set(refs)), "references must be unique"
    for b in closures:
        assert set(b) == {"reference", "reason", "geometry", "start_offset_minutes",
                          "end_offset_minutes", "road_name"}, b
        assert isinstance(b["reference"], str) and b["reference"].startswith("PBOT-")
        assert isinstance(b["reason"], str) and b["reason"]
        assert isinstance(b["road_name"], str) and b["road_name"]
        assert isinstance(b["start_offset_minutes"], int)
        assert isinstance(b["end_offset_minutes"], int)
        assert b["end_offset_minutes"] > b["start_offset_minutes"] >= 0
        g = b["geometry"]
        assert g["type"] == "LineString"
        assert len(g["coordinates"]) >= 2
        assert all(len(c) == 2 and all(is_num(v) for v in c) for c in g["coordinates"])
    assert any(b["road_name"].endswith("Bridge") for b in closures), "need a bridge closure"


def test_alert_bodies(events):
    alerts = of_type(events, "alert")
    for b in alerts:
        required = {"tier", "headline", "description", "instruction", "event", "area", "expires_in_minutes"}
        assert required <= set(b) <= required | {"wea_text", "wea_long_text"}, b
        assert len(b.get("wea_text", b["headline"])) <= 90  # WEA CMAMtext
        assert b["tier"] in TIERS
        for k in ("headline", "description", "instruction", "event"):
            assert isinstance(b[k], str) and b[k]
        assert len(b["headline"]) <= 140
        assert isinstance(b["expires_in_minutes"], int) and b["expires_in_minutes"] > 0
    tiers = {b["tier"] for b in alerts}
    assert {"public_safety", "imminent_threat_severe", "test"} <= tiers


def test_alert_areas_are_valid(events):
    for b in of_type(events, "alert"):
        area = b["area"]
        if "circle" in area:
            assert set(area) == {"circle"}
            c = area["circle"]
            assert set(c) == {"lat", "lon", "radius_km"}
            assert is_num(c["lat"]) and is_num(c["lon"])
            assert is_num(c["radius_km"]) and 0 < c["radius_km"] <= 50
        else:
            assert area["type"] == "Polygon"
            rings = area["coordinates"]
            assert rings
            for ring in rings:
                assert len(ring) >= 4
                assert ring[0] == ring[-1], "ring must be closed"
                assert all(len(p) == 2 and all(is_num(v) for v in p) for p in ring)
                assert all(-180 <= p[0] <= 180 and -90 <= p[1] <= 90 for p in ring)
            poly = Polygon(rings[0], rings[1:])
            assert poly.is_valid and poly.area > 0


def test_social_post_bodies(events):
    posts = of_type(events, "social_post")
    ids = [p["id"] for p in posts]
    assert len(ids) == len(set(ids))
    for e in events:
        if e["type"] != "social_post":
            continue
        p = e["body"]
        assert set(p) == {"id", "text", "created_at_offset_s", "lat", "lon", "author", "lang"}
        assert p["id"].startswith("demo-post-") and p["author"].startswith("demo_user_")
        assert isinstance(p["text"], str) and p["text"]
        assert isinstance(p["created_at_offset_s"], float)
        assert p["created_at_offset_s"] == e["at"]
        assert (p["lat"] is None) == (p["lon"] is None)
        assert p["lat"] is None or (isinstance(p["lat"], float) and isinstance(p["lon"], float))
        assert p["lang"] == "en"
    with_kw = [p for p in posts if any(k in p["text"].lower() for k in CRISIS_KEYWORDS)]
    assert len(with_kw) > len(posts) / 2
    assert len(with_kw) < len(posts), "some posts should be noise"
    assert any(p["lat"] is not None for p in posts)
    assert any(p["lat"] is None for p in posts)


# ---------------------------------------------------------------- geometry

def _points(events):
    for e in events:
        b = e["body"]
        if e["type"] in ("citizen_report", "social_post") and b.get("lat") is not None:
            yield e["type"], b["lon"], b["lat"]
        elif e["type"] == "alert" and "circle" in b["area"]:
            c = b["area"]["circle"]
            yield "alert", c["lon"], c["lat"]


def test_points_and_closures_inside_region_bbox(events, region):
    minx, miny, maxx, maxy = region["bbox"]
    for kind, lon, lat in _points(events):
        assert minx <= lon <= maxx and miny <= lat <= maxy, (kind, lon, lat)
    for b in of_type(events, "road_closure"):
        for lon, lat in b["geometry"]["coordinates"]:
            assert minx <= lon <= maxx and miny <= lat <= maxy, b["reference"]


def test_closures_follow_a_road_with_that_name(events, roads_utm):
    unions, _, _ = roads_utm
    for b in of_type(events, "road_closure"):
        assert b["road_name"] in unions, f"unknown road {b['road_name']!r}"
        line = utm(shape(b["geometry"]))
        assert 200 <= line.length <= 1500, (b["reference"], line.length)
        corridor = unions[b["road_name"]].buffer(30)
        assert corridor.contains(line), b["reference"]


def test_citizen_reports_are_on_named_roads(events, roads_utm):
    _, tree, named = roads_utm
    for b in of_type(events, "citizen_report"):
        p = utm(Point(b["lon"], b["lat"]))
        i = tree.nearest(p)
        assert named[i].distance(p) <= 50, b


def test_geotagged_social_posts_are_on_named_roads(events, roads_utm):
    _, tree, named = roads_utm
    for b in of_type(events, "social_post"):
        if b["lat"] is None:
            continue
        p = utm(Point(b["lon"], b["lat"]))
        assert named[tree.nearest(p)].distance(p) <= 50, b


def test_closures_inside_jurisdiction(events, jurisdiction):
    for b in of_type(events, "road_closure"):
        assert jurisdiction.contains(shape(b["geometry"])), b["reference"]


# ---------------------------------------------------------------- region files

def test_region_json(region, roads):
    assert region["name"] == "Portland, Oregon"
    lat, lon = region["center"]
    minx, miny, maxx, maxy = region["bbox"]
    assert minx < maxx and miny < maxy
    assert minx <= lon <= maxx and miny <= lat <= maxy
    assert isinstance(region["zoom"], int)
    xs = [c[0] for f in roads["features"] for c in f["geometry"]["coordinates"]]
    ys = [c[1] for f in roads["features"] for c in f["geometry"]["coordinates"]]
    assert region["bbox"] == [min(xs), min(ys), max(xs), max(ys)]
    j = region["jurisdiction"]
    assert j["type"] == "Polygon" and j["coordinates"][0][0] == j["coordinates"][0][-1]
    assert shape(j).is_valid
    assert region["jurisdiction_source"]["ugc"] == "ORC051"
    assert shape(j).contains(Point(lon, lat))


def test_jurisdiction_matches_zone_polygon(region):
    zones = json.loads((REGION / "zones.geojson").read_text(encoding="utf-8"))
    by_ugc = {f["properties"]["UGC"]: f for f in zones["features"]}
    assert "ORC051" in by_ugc and "ORZ111" in by_ugc
    assert by_ugc["ORC051"]["geometry"]["coordinates"] == region["jurisdiction"]["coordinates"]
    for f in zones["features"]:
        assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_roads_geojson(roads):
    assert roads["type"] == "FeatureCollection"
    feats = roads["features"]
    assert len(feats) > 3000
    for f in feats:
        assert f["geometry"]["type"] == "LineString"
        assert set(f["properties"]) == {"name", "ref", "highway"}
        coords = f["geometry"]["coordinates"]
        assert len(coords) >= 2
        for x, y in coords:
            assert round(x, 6) == x and round(y, 6) == y
    names = {f["properties"]["name"] for f in feats}
    assert "Hawthorne Bridge" in names and "Southeast Hawthorne Boulevard" in names


def test_places_json():
    places = json.loads((REGION / "places.json").read_text(encoding="utf-8"))
    assert len(places) > 100
    for p in places:
        assert {"geonameid", "name", "lat", "lon", "population", "admin1code"} <= set(p)
        assert set(p) <= {"geonameid", "name", "lat", "lon", "population", "admin1code",
                          "alternatenames"}
        assert p["admin1code"] == "OR"
        assert 41.9 <= p["lat"] <= 46.3 and -124.7 <= p["lon"] <= -116.4
    assert any(p["name"] == "Portland" for p in places)


def test_licence_file():
    lic = REGION / "LICENSE.md"
    assert lic.exists()
    text = lic.read_text(encoding="utf-8")
    assert "ODbL" in text
    assert "© OpenStreetMap contributors" in text
    assert "GeoNames" in text and "CC BY 4.0" in text
    assert "National Weather Service" in text


def test_total_size_small():
    total = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert total < 2 * 1024 * 1024, total


# ---------------------------------------------------------------- social file

def _parse_iso(s: str) -> datetime:
    assert s.endswith("Z"), s
    return datetime.fromisoformat(s[:-1] + "+00:00")


def test_social_file_format(social_rows):
    assert len(social_rows) >= 20
    ids = [r["id"] for r in social_rows]
    assert len(ids) == len(set(ids))
    times = []
    for r in social_rows:
        assert set(r) == {"id", "text", "created_at", "lat", "lon", "author", "lang"}, r
        assert isinstance(r["text"], str) and r["text"]
        times.append(_parse_iso(r["created_at"]))
        assert (r["lat"] is None) == (r["lon"] is None)
        assert r["lang"] == "en"
    assert times == sorted(times)
    noise = [r for r in social_rows if not any(k in r["text"].lower() for k in CRISIS_KEYWORDS)]
    assert len(noise) >= 10


def test_social_file_matches_scenario_posts(events, social_rows):
    rows = {r["id"]: r for r in social_rows}
    for p in of_type(events, "social_post"):
        r = rows[p["id"]]
        assert r["text"] == p["text"]
        assert (r["lat"], r["lon"], r["author"]) == (p["lat"], p["lon"], p["author"])
        expected = SCENARIO_EPOCH + timedelta(seconds=p["created_at_offset_s"])
        assert _parse_iso(r["created_at"]) == expected


def test_every_scenario_item_passes_intake_validation_including_cap():
    """The demo goes through the same checks as the API: models, and for alerts the CAP validator."""
    from datetime import UTC, datetime

    from emergency.auth.models import TokenRecord
    from emergency.config import Settings
    from feeds.agency.flows import prepare_road_closure
    from feeds.scenario import demo_agency, load_scenario, scenario_closure, scenario_event

    items = load_scenario(SCENARIO)
    start = datetime.now(UTC)
    settings = Settings()
    agency = demo_agency(agency="City of Portland", settings=settings)
    alerter = TokenRecord(token_hash="t", name="Demo EM", roles=["alert_originator", "amber"], agency="Demo EM",
                          jurisdiction=json.loads((REGION / "region.json").read_text())["jurisdiction"])
    made = [scenario_event(item, n=n, run="t", start=start, alerter=alerter)
            for n, item in enumerate(items) if item["type"] != "road_closure"]
    kinds = {m[0].kind.value for m in made if m is not None}
    assert kinds == {"citizen_report", "alert", "social_post"}
    # closures take the API's flow: inside the demo agency's jurisdiction, measured in metres
    closures = [prepare_road_closure(closure=scenario_closure(item, n=n, run="t", start=start), principal=agency,
                                     settings=settings)
                for n, item in enumerate(items) if item["type"] == "road_closure"]
    assert len(closures) == 8
    for c in closures:
        assert c.event.kind.value == "agency_report" and c.event.id.startswith("agency:city-of-portland:PBOT-2026-")
        assert c.understood.road and 50 < c.understood.length_m < 3000, c.understood
