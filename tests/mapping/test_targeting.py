"""The subscriber targeting index agrees exactly with a brute-force check (shapely per point for
polygons, pyproj geodesic distance per point for circles), including holes, multipolygons,
circles across a UTM zone boundary, incremental changes and bad areas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import Point, shape

from mapping.targeting import GRID_MIN_POINTS, Circle, TargetIndex, parse_area, polygon_area

GEOD = Geod(ellps="WGS84")


def random_points(n: int, box: tuple[float, float, float, float], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(box[1], box[3], n), rng.uniform(box[0], box[2], n)  # lat, lon


def index_of(lats, lons) -> TargetIndex:
    idx = TargetIndex()
    idx.add_points(range(len(lats)), lats, lons)
    return idx


def brute_polygon(geojson: dict, lats, lons) -> list[int]:
    g = shape(geojson)
    return [i for i, (la, lo) in enumerate(zip(lats, lons)) if g.intersects(Point(lo, la))]


def brute_circle(c: Circle, lats, lons) -> list[int]:
    return [i for i, (la, lo) in enumerate(zip(lats, lons)) if GEOD.inv(c.lon, c.lat, lo, la)[2] <= c.radius_m]


def star(cx: float, cy: float, r: float, n: int, wobble: float = 0.35, seed: int = 0) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    a = np.linspace(0, 2 * math.pi, n, endpoint=False)
    rr = r * (1 + wobble * np.sin(5 * a) + 0.05 * rng.uniform(-1, 1, n))
    ring = [[cx + x, cy + y] for x, y in zip(rr * np.cos(a) * 1.4, rr * np.sin(a))]
    return ring + [ring[0]]


PORTLAND_BOX = (-122.9, 45.3, -122.4, 45.7)


@pytest.mark.parametrize("n", [500, GRID_MIN_POINTS * 3])  # the direct path and the grid path
def test_polygon_with_many_vertices_matches_brute_force(n):
    lats, lons = random_points(n, PORTLAND_BOX, seed=n)
    area = {"type": "Polygon", "coordinates": [star(-122.65, 45.5, 0.1, 500)]}
    got = sorted(index_of(lats, lons).query(area))
    if n > 5000:  # brute force on a sample of the grid case, exact check on all with shapely.intersects
        want = np.flatnonzero(shapely.intersects(shape(area), shapely.points(lons, lats))).tolist()
    else:
        want = brute_polygon(area, lats, lons)
    assert got == want and 0 < len(got) < n


@pytest.mark.parametrize("n", [800, GRID_MIN_POINTS * 3])
def test_polygon_with_holes(n):
    lats, lons = random_points(n, PORTLAND_BOX, seed=7)
    outer = star(-122.65, 45.5, 0.15, 200, wobble=0.1)
    hole = [[-122.70, 45.47], [-122.60, 45.47], [-122.60, 45.53], [-122.70, 45.53], [-122.70, 45.47]]
    area = {"type": "Polygon", "coordinates": [outer, hole]}
    got = index_of(lats, lons).query(area)
    want = np.flatnonzero(shapely.intersects(shape(area), shapely.points(lons, lats))).tolist()
    assert sorted(got) == want
    assert not any(-122.70 < lons[i] < -122.60 and 45.47 < lats[i] < 45.53 for i in got)  # nobody in the hole


@pytest.mark.parametrize("n", [600, GRID_MIN_POINTS * 3])
def test_multipolygon(n):
    lats, lons = random_points(n, PORTLAND_BOX, seed=11)
    area = {"type": "MultiPolygon", "coordinates": [[star(-122.8, 45.4, 0.05, 60, seed=1)],
                                                     [star(-122.5, 45.6, 0.07, 80, seed=2)]]}
    got = index_of(lats, lons).query(area)
    assert sorted(got) == np.flatnonzero(shapely.intersects(shape(area), shapely.points(lons, lats))).tolist()
    if n < 5000:
        assert sorted(got) == brute_polygon(area, lats, lons)


def test_points_on_the_boundary_are_inside():
    idx = TargetIndex()
    idx.add_point("corner", 45.0, -122.0)
    idx.add_point("edge", 45.0, -121.5)
    idx.add_point("out", 44.9999, -121.5)
    square = {"type": "Polygon", "coordinates": [[[-122, 45], [-121, 45], [-121, 46], [-122, 46], [-122, 45]]]}
    assert sorted(idx.query(square)) == ["corner", "edge"]


@pytest.mark.parametrize("centre", [(45.5, -122.65), (44.0, -120.0), (40.0, -84.0)])
@pytest.mark.parametrize("radius_km", [0.4, 5.0, 60.0])
def test_geodesic_circles_match_brute_force(centre, radius_km):
    """(44.0, -120.0) sits on the boundary of UTM zones 10 and 11 (and -84 on 16/17): a circle there
    spans two zones, which does not matter because distances are geodesic."""
    lat, lon = centre
    d = radius_km / 111.0 * 1.6
    lats, lons = random_points(3000, (lon - d * 1.4, lat - d, lon + d * 1.4, lat + d), seed=int(radius_km * 10))
    c = Circle(lat, lon, radius_km * 1000)
    got = sorted(index_of(lats, lons).query(c))
    assert got == brute_circle(c, lats, lons)
    assert 0 < len(got) < len(lats)


def test_points_just_inside_and_outside_a_circle():
    c = Circle(45.5, -122.65, 5000.0)
    idx = TargetIndex()
    for k, dist in enumerate((4999.0, 5000.0 - 0.01, 5000.01, 5001.0)):
        for az in (0, 45, 90, 135, 180, 270):
            lon, lat, _ = GEOD.fwd(c.lon, c.lat, az, dist)
            idx.add_point((k, az), lat, lon)
    got = {key[0] for key in idx.query(c)}
    assert got == {0, 1}  # nothing beyond the radius: overshoot 0 m, well inside the WEA 161 m


def test_cap_circle_strings_and_area_objects():
    assert parse_area("45.5,-122.65 5") == Circle(45.5, -122.65, 5000.0)
    assert parse_area({"circle": {"lat": 45.5, "lon": -122.65, "radius_km": 0.5}}).radius_m == 500.0
    assert parse_area({"circle": "45.5,-122.65 2.5"}).radius_m == 2500.0


def test_incremental_add_move_remove():
    idx = TargetIndex(capacity=2)
    area = {"type": "Polygon", "coordinates": [[[-123, 45], [-122, 45], [-122, 46], [-123, 46], [-123, 45]]]}
    idx.add_point("a", 45.5, -122.5)
    idx.add_point("b", 45.5, -121.5)
    idx.add_point("c", 45.6, -122.6)
    assert sorted(idx.query(area)) == ["a", "c"]
    idx.add_point("b", 45.2, -122.2)          # b moves inside
    idx.remove("a")
    idx.remove("nobody")                       # unknown: no error
    assert sorted(idx.query(area)) == ["b", "c"]
    idx.add_point("d", 45.1, -122.9)           # reuses a's slot
    assert sorted(idx.query(area)) == ["b", "c", "d"] and len(idx) == 3


def test_user_drawn_areas_are_targeted_when_they_intersect():
    idx = TargetIndex()
    idx.add_area("school run", {"type": "Polygon", "coordinates": [[[-122.70, 45.50], [-122.68, 45.50],
                                                                      [-122.68, 45.52], [-122.70, 45.52],
                                                                      [-122.70, 45.50]]]})
    idx.add_area("coast", {"type": "Polygon", "coordinates": [[[-124, 45], [-123.9, 45], [-123.9, 45.1],
                                                                [-124, 45.1], [-124, 45]]]})
    idx.add_point("home", 45.51, -122.69)
    alert = {"type": "Polygon", "coordinates": [[[-122.69, 45.49], [-122.6, 45.49], [-122.6, 45.6],
                                                 [-122.69, 45.6], [-122.69, 45.49]]]}
    assert idx.query(alert) == ["home", "school run"]
    assert idx.query(Circle(45.51, -122.67, 1500)) == ["school run"]  # the edge at -122.68 is ~780 m away
    assert idx.query(Circle(45.51, -122.67, 500)) == []
    idx.remove("school run")
    assert idx.query(alert) == ["home"]


@pytest.mark.parametrize("area,reason", [
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}, "polygon is invalid: Self-intersection"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}, "is not closed"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}, "needs at least 4 positions"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 95], [0, 0]]]}, "lat: must be between -90 and 90"),
    ({"type": "Point", "coordinates": [0, 0]}, "must be a GeoJSON Polygon or MultiPolygon"),
    ({"type": "Polygon", "coordinates": []}, "polygon 0 has no rings"),
    ({"type": "MultiPolygon", "coordinates": []}, "coordinates are missing"),
    ({"circle": {"lat": 45, "lon": -122}}, "circle: needs lat, lon and radius_km"),
    ({"circle": {"lat": 45, "lon": -122, "radius_km": -1}}, "radius_km: must be more than 0 and at most 500 km, got -1"),
    ("45.5;-122 5", "circle '45.5;-122 5' is not 'lat,lon radius' \\(radius in km\\)"),
    ("95,0 5", "lat: must be between -90 and 90"),
    (["not", "an", "area"], "area: must be a GeoJSON polygon or a circle"),
])
def test_bad_areas_are_clear_errors(area, reason):
    with pytest.raises(ValueError, match=reason):
        TargetIndex().query(area)


def test_circles_crossing_the_antimeridian_are_answered_across_it():
    idx = TargetIndex()
    idx.add_point("fiji", -17.0, 179.99)
    idx.add_point("across", -17.0, -179.9)   # 8 km east of the centre, across ±180°
    idx.add_point("far", -17.0, -179.5)      # 48 km east: outside
    assert idx.query(Circle(-17.0, 179.95, 20_000)) == ["fiji", "across"]
    # a polygon split at 180° as RFC 7946 asks works
    split = {"type": "MultiPolygon", "coordinates": [
        [[[179.5, -17.5], [180, -17.5], [180, -16.5], [179.5, -16.5], [179.5, -17.5]]],
        [[[-180, -17.5], [-179.5, -17.5], [-179.5, -16.5], [-180, -16.5], [-180, -17.5]]]]}
    assert idx.query(split) == ["fiji", "across", "far"]  # "far" is on its eastern edge


@pytest.mark.parametrize("lat,lon", [(91, 0), (0, -181), (float("nan"), 0), (float("inf"), 0)])
def test_subscribers_out_of_range_are_refused(lat, lon):
    with pytest.raises(ValueError, match="(lat|lon): must"):
        TargetIndex().add_point("x", lat, lon)


def test_polygon_area_accepts_valid_geojson():
    g = polygon_area({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]})
    assert g.area == pytest.approx(0.5)
