"""Alert areas across ±180° and at the poles reach exactly the people inside them.

The probe: a circle at (0, 179.99) of 50 km became a polygon spanning the whole equator (subscribers at
(0, 0) and (0.2, -90) got it, one at (0, 179.9) inside it did not), and circles at a pole gave 500.
"""

from __future__ import annotations

import asyncio
import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import shapely
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod

from alerts.cap.validate import validate_document
from alerts.cap.xml import read_alert
from alerts.models import AlertIn
from alerts.push import delivery_area
from alerts.service import alert_event
from emergency.auth.tokens import Role, create_token
from emergency.geometry import check_area_geometry, circle_polygon
from mapping.targeting import Circle, TargetIndex
from tests.conftest import eventually

GEOD = Geod(ellps="WGS84")
EDGE_M = 200.0  # points within this distance of a circle's edge are not judged (floating-point honesty)


def body(area: dict) -> dict:
    return {"tier": "imminent_threat_severe", "headline": "Tsunami warning: move to high ground",
            "area": area, "expires": (datetime.now(UTC) + timedelta(hours=2)).isoformat()}


async def national(system) -> dict[str, str]:
    token, _ = await create_token(system.runtime.store, name="National Warning Centre",
                                  roles=[Role.national_authority], agency="National Warning Centre")
    return {"Authorization": f"Bearer {token}"}


async def received(ws, timeout: float) -> bool:
    try:
        return json.loads(await asyncio.wait_for(ws.recv(), timeout))["type"] == "alert"
    except asyncio.TimeoutError:
        return False


async def deliveries(system, area: dict, points: dict[str, tuple[float, float]]) -> tuple[dict[str, bool], dict]:
    """Subscribe at each point, issue an alert to ``area``, and say who received it (and the 202 body)."""
    await eventually(lambda: system.runtime.tail.ready.is_set())
    sockets = {name: await websockets.connect(f"{system.ws_url}/ws/alerts?lat={lat}&lon={lon}")
               for name, (lat, lon) in points.items()}
    try:
        await eventually(lambda: len(system.runtime.alert_push.hub) == len(points))
        r = await system.http.post("/api/v1/alerts", json=body(area), headers=await national(system))
        assert r.status_code == 202, r.text
        got = dict(zip(sockets, await asyncio.gather(*(received(ws, 8) for ws in sockets.values()))))
        return got, r.json()
    finally:
        for ws in sockets.values():
            await ws.close()


async def test_a_circle_across_the_antimeridian_reaches_exactly_the_people_inside(system):
    points = {"inside west": (0.0, 179.9), "inside east": (0.0, -179.9), "centre": (0.0, 179.99),
              "equator 0": (0.0, 0.0), "equator -90": (0.2, -90.0), "outside east": (0.0, -179.0)}
    got, answer = await deliveries(system, {"circle": {"lat": 0, "lon": 179.99, "radius_km": 50}}, points)
    assert got == {"inside west": True, "inside east": True, "centre": True,
                   "equator 0": False, "equator -90": False, "outside east": False}
    assert await system.runtime.wait_applied(timeout_s=30)
    xml = (await system.http.get(f"/api/v1/alerts/{answer['id']}.xml")).content
    assert validate_document(xml, ("schema", "core", "ipaws", "wea"))[1] == []
    cap = read_alert(xml)
    assert cap.info[0].area[0].circle == ["0.000000,179.990000 50"] and cap.info[0].area[0].polygon == []
    feature = (await system.http.get(f"/api/v1/events/{answer['id']}")).json()
    assert feature["geometry"]["type"] == "MultiPolygon"  # the map's geometry is split at 180° (RFC 7946)


async def test_a_circle_at_a_pole_is_a_cap_not_a_500(system):
    points = {"pole": (90.0, 0.0), "other side": (89.8, 180.0), "inside": (89.7, -45.0), "outside": (89.0, 10.0)}
    got, answer = await deliveries(system, {"circle": {"lat": 89.8, "lon": 0, "radius_km": 50}}, points)
    assert got == {"pole": True, "other side": True, "inside": True, "outside": False}
    assert await system.runtime.wait_applied(timeout_s=30)
    xml = (await system.http.get(f"/api/v1/alerts/{answer['id']}.xml")).content
    assert validate_document(xml, ("schema", "core", "ipaws", "wea"))[1] == []


async def test_a_split_polygon_is_targeted_and_written_as_one_cap_polygon_per_part(system):
    split = {"type": "MultiPolygon", "coordinates": [
        [[[179.5, -17.5], [180, -17.5], [180, -16.5], [179.5, -16.5], [179.5, -17.5]]],
        [[[-180, -17.5], [-179.5, -17.5], [-179.5, -16.5], [-180, -16.5], [-180, -17.5]]]]}
    points = {"west": (-17.0, 179.8), "east": (-17.0, -179.8), "equator": (0.0, 0.0), "far": (-17.0, -178.0)}
    got, answer = await deliveries(system, {"polygon": split}, points)
    assert got == {"west": True, "east": True, "equator": False, "far": False}
    assert await system.runtime.wait_applied(timeout_s=30)
    xml = (await system.http.get(f"/api/v1/alerts/{answer['id']}.xml")).content
    assert validate_document(xml, ("schema", "core", "ipaws", "wea"))[1] == []
    assert len(read_alert(xml).info[0].area[0].polygon) == 2


async def test_an_unsplit_polygon_across_the_antimeridian_is_refused(system):
    unsplit = {"type": "Polygon", "coordinates": [
        [[179.5, -17.5], [-179.5, -17.5], [-179.5, -16.5], [179.5, -16.5], [179.5, -17.5]]]}
    r = await system.http.post("/api/v1/alerts", json=body({"polygon": unsplit}), headers=await national(system))
    assert r.status_code == 422
    assert r.json()["detail"].startswith("area.polygon: ring 0 of polygon 0 has an edge from lon 179.5 to lon "
                                         "-179.5, more than 180° of longitude"), r.text
    assert "must be split there into a MultiPolygon (RFC 7946 section 3.1.9)" in r.json()["detail"]


# --- property: targeting equals the geodesic truth, worldwide ---------------------------------------

EDGY_LON = st.one_of(st.floats(-180, 180), st.floats(178, 180), st.floats(-180, -178), st.sampled_from([180.0, -180.0]))
EDGY_LAT = st.one_of(st.floats(-90, 90), st.floats(85, 90), st.floats(-90, -85), st.sampled_from([90.0, -90.0]))


def sample_points(draw, lat: float, lon: float, reach_m: float, n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Points around (lat, lon): at random azimuths and distances up to 2x ``reach_m``, plus a few anywhere."""
    az = np.array(draw(st.lists(st.floats(0, 360), min_size=n, max_size=n)))
    frac = np.array(draw(st.lists(st.floats(0, 2), min_size=n, max_size=n)))
    plon, plat, _ = GEOD.fwd(np.full(n, lon), np.full(n, lat), az, frac * reach_m)
    anywhere = draw(st.lists(st.tuples(st.floats(-90, 90), st.floats(-180, 180)), min_size=5, max_size=5))
    return (np.concatenate([plat, [p[0] for p in anywhere]]), np.concatenate([plon, [p[1] for p in anywhere]]))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), EDGY_LAT, EDGY_LON, st.floats(0.1, 500))
def test_circle_targeting_equals_the_geodesic_distance(data, lat, lon, radius_km):
    """Every point more than 200 m inside a circle is targeted, none more than 200 m outside is (WGS 84
    ellipsoid distances by pyproj.Geod, the truth); the alert's delivery area is that circle."""
    r = radius_km * 1000.0
    lats, lons = sample_points(data.draw, lat, lon, r)
    idx = TargetIndex()
    idx.add_points(range(len(lats)), lats, lons)
    got = set(idx.query(Circle(lat, lon, r)))
    _, _, dist = GEOD.inv(np.full(len(lats), lon), np.full(len(lats), lat), lons, lats)
    dist = np.asarray(dist)
    assert {i for i in range(len(lats)) if dist[i] < r - EDGE_M} <= got
    assert not got & {i for i in range(len(lats)) if dist[i] > r + EDGE_M}
    # the envelope of such an alert is a valid RFC 7946 area (split at ±180°, a cap at a pole) ...
    alert = AlertIn.model_validate(body({"circle": {"lat": lat, "lon": lon, "radius_km": radius_km}}))
    event = alert_event(alert, event_id="alert:x", sender="Test EM", now=datetime.now(UTC))
    check_area_geometry(event.geometry)
    assert shapely.intersects_xy(shapely.geometry.shape(event.geometry), lon, lat)
    # ... and it is delivered to the circle itself, measured geodesically
    assert delivery_area(event) == Circle(lat, lon, r)


def split_at_antimeridian(poly: shapely.Polygon) -> dict:
    """A polygon given in a continuous longitude frame (may pass ±180°) as RFC 7946 GeoJSON, split at 180°."""
    parts = []
    for offset in (-360.0, 0.0, 360.0):
        piece = poly.intersection(shapely.box(offset - 180, -90, offset + 180, 90))
        piece = shapely.transform(piece, lambda xy, o=offset: xy - np.array([o, 0.0]))
        parts += [p for p in shapely.get_parts(piece) if isinstance(p, shapely.Polygon) and p.area > 0]
    return json.loads(shapely.to_geojson(parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.floats(-84, 84), EDGY_LON, st.floats(0.05, 3.0), st.integers(3, 12))
def test_polygon_targeting_equals_the_polygon_on_the_globe(data, lat, lon, size_deg, sides):
    """A random star polygon anywhere (often across ±180°), given split as RFC 7946 asks: every point
    is answered as the one unsplit polygon on the globe answers it, with edges straight in lon/lat
    (RFC 7946). The truth is computed in a longitude frame continuous around the polygon's centre, where
    no split exists; points within 200 m of an edge (measured along both axes in metres) are not judged."""
    radii = data.draw(st.lists(st.floats(0.3, 1.0), min_size=sides, max_size=sides))
    angles = np.linspace(0, 2 * math.pi, sides, endpoint=False)
    ring = [(lon + size_deg * f * math.cos(a) / max(math.cos(math.radians(lat)), 0.1), lat + size_deg * f * math.sin(a))
            for f, a in zip(radii, angles)]
    truth = shapely.Polygon(ring)
    if not truth.is_valid:
        return
    area = split_at_antimeridian(truth)
    check_area_geometry(area)
    lats, lons = sample_points(data.draw, lat, lon, size_deg * 222_000)
    keep = np.abs(lats) < 89.9
    lats, lons = lats[keep], lons[keep]
    idx = TargetIndex()
    idx.add_points(range(len(lats)), lats, lons)
    got = set(idx.query(area))
    # the same points in the polygon's continuous frame (longitude within 180° of the centre)
    flon = lon + ((lons - lon + 180.0) % 360.0 - 180.0)
    inside = shapely.intersects_xy(truth, flon, lats)
    metres_per_deg = 111_000.0 * max(math.cos(math.radians(min(abs(lat) + 2 * size_deg, 89.9))), 1e-3)
    near = shapely.distance(truth.boundary, shapely.points(flon, lats)) * metres_per_deg < EDGE_M
    assert {i for i in range(len(lats)) if inside[i] and not near[i]} <= got
    assert not got & {i for i in range(len(lats)) if not inside[i] and not near[i]}


def test_grid_path_answers_split_areas_exactly():
    """Above GRID_MIN_POINTS the grid classifies cells; a split area is answered part by part, exactly."""
    area = circle_polygon(-17.0, 179.9, 300)
    rng = np.random.default_rng(7)
    lats, lons = rng.uniform(-22, -12, 50_000), rng.uniform(-180, 180, 50_000)
    idx = TargetIndex()
    idx.add_points(range(len(lats)), lats, lons)
    got = set(idx.query(area))
    exact = shapely.intersects_xy(shapely.geometry.shape(area), lons, lats)
    assert got == set(np.flatnonzero(exact).tolist()) and got
