"""Subscriber targeting: which subscribers' locations intersect an alert area.

:class:`TargetIndex` holds many subscribers — points (lon/lat) and user-drawn areas
(polygons) — with incremental add / move / remove, and answers ``query(area)`` for a GeoJSON
Polygon or MultiPolygon (holes respected) or a :class:`Circle` (CAP ``"lat,lon radius-km"``).

Exactness and the WEA 0.1-mile rule
- Polygons: the answer equals ``shapely.intersects`` per subscriber (RFC 7946 semantics:
  straight edges in lon/lat). A grid over the polygon's bbox classifies cells as inside,
  outside or touched by the boundary; only points in boundary cells are tested exactly, so
  nothing is approximated. Overshoot: 0 m for point subscribers.
- Circles: geodesic distance on the WGS 84 ellipsoid (pyproj ``Geod``) <= radius. A spherical
  (haversine) distance settles points clearly inside or outside (the sphere is within 0.6 % of
  the ellipsoid; the margin used is 1 %), and only the thin ring in between is measured on the
  ellipsoid. Overshoot: 0 m. A 64-sided polygon drawn for a circle elsewhere in the system
  lies inside the circle (at most 0.12 % of the radius short, 6 m at 5 km), never outside.
- User-drawn areas are targeted when they intersect the alert area (the subscriber chose them).
- WEA allows a device to be alerted at most 0.1 mile (161 m) outside the area; the index never
  adds a buffer, so the overshoot is 0 m for points, well within the rule.

Antimeridian and poles: polygons crossing ±180° must be split into a MultiPolygon (RFC 7946
section 3.1.9; an unsplit ring with an edge jumping more than 180° of longitude is refused by the
kernel's check); each part is answered on its own, so a split area costs no more than its parts.
Circles are measured geodesically whatever they cross: their candidate boxes wrap around ±180° and
become the whole band of latitudes near a pole. ``tests/test_antimeridian.py`` checks all of this
against the geodesic truth on random circles and polygons worldwide.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from pyproj import Geod
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from emergency.geometry import check_area_geometry, check_lat_lon, check_radius_km, parse_cap_circle

GEOD = Geod(ellps="WGS84")
EARTH_RADIUS_M = 6_371_008.8
SPHERE_MARGIN = 0.01          # haversine vs ellipsoid differ by < 0.6 %; settle only beyond 1 %
GRID_MIN_POINTS = 20_000      # fewer candidates than this: test them all directly
GRID_CELLS = 128              # cells per side of the classification grid
WEA_OVERSHOOT_LIMIT_M = 160.9  # 0.1 statute mile


@dataclass(frozen=True)
class Circle:
    """A geodesic circle: centre in WGS 84 degrees, radius in metres."""

    lat: float
    lon: float
    radius_m: float

    @classmethod
    def from_cap(cls, text: str) -> Circle:
        """A CAP ``<circle>``: ``"lat,lon radius"`` (WGS 84 degrees, radius in kilometres; the kernel's parser)."""
        c = parse_cap_circle(text)
        return cls(c.lat, c.lon, c.radius_km * 1000.0)

    def boxes(self) -> list[tuple[float, float, float, float]]:
        """Lon/lat boxes (degrees, min lon <= max lon) that together certainly contain the circle: one, or
        two when it crosses ±180°, or the whole band of latitudes when it comes near a pole."""
        dlat = math.degrees(self.radius_m * (1 + SPHERE_MARGIN) / EARTH_RADIUS_M) + 1e-9
        south, north = max(-90.0, self.lat - dlat), min(90.0, self.lat + dlat)
        top = min(90.0, abs(self.lat) + dlat)
        dlon = dlat / math.cos(math.radians(top)) if top < 89.999 else 360.0
        if dlon >= 180.0:
            return [(-180.0, south, 180.0, north)]
        west, east = self.lon - dlon, self.lon + dlon
        if west < -180.0:
            return [(west + 360.0, south, 180.0, north), (-180.0, south, east, north)]
        if east > 180.0:
            return [(west, south, 180.0, north), (-180.0, south, east - 360.0, north)]
        return [(west, south, east, north)]


Area = BaseGeometry | Circle


def parse_area(area: Any) -> Area:
    """An alert area from GeoJSON Polygon/MultiPolygon, ``{"polygon": ...}``, ``{"circle": {lat, lon,
    radius_km}}`` (WGS 84 degrees, km, radius at most ``MAX_CIRCLE_RADIUS_KM``), a CAP circle string, or a
    :class:`Circle`. Raises ``ValueError`` naming the problem."""
    if isinstance(area, Circle | BaseGeometry):
        return area
    if isinstance(area, str):
        return Circle.from_cap(area)
    if not isinstance(area, dict):
        raise ValueError("area: must be a GeoJSON polygon or a circle")
    if "circle" in area:
        c = area["circle"]
        if isinstance(c, str):
            return Circle.from_cap(c)
        try:
            lat, lon = check_lat_lon(c["lat"], c["lon"])
            radius = check_radius_km(c["radius_km"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"circle: needs lat, lon and radius_km ({exc})") from None
        return Circle(lat, lon, radius * 1000.0)
    if "polygon" in area:
        area = area["polygon"]
    return polygon_area(area)


def polygon_area(geojson: dict) -> BaseGeometry:
    """A valid shapely (Multi)Polygon from GeoJSON (WGS 84 degrees); ``ValueError`` (``area: …``, the
    kernel's messages) for unclosed rings, self-intersections, bad coordinates or other types."""
    try:
        check_area_geometry(geojson)
    except ValueError as exc:
        raise ValueError(f"area: {exc}") from None
    return shape(geojson)


class TargetIndex:
    """Subscribers (any hashable key) at points or over areas; vectorised ``query``.

    Points live in flat numpy arrays (lon, lat degrees) with free-slot reuse, so add, move and
    remove are O(1); areas live in a list with an STRtree rebuilt lazily after a change.
    """

    def __init__(self, capacity: int = 1024) -> None:
        self._x = np.zeros(capacity)
        self._y = np.zeros(capacity)
        self._alive = np.zeros(capacity, dtype=bool)
        self._keys: list[Hashable | None] = [None] * capacity
        self._slot: dict[Hashable, int] = {}
        self._free: list[int] = []
        self._top = 0
        self._areas: dict[Hashable, BaseGeometry] = {}
        self._tree: tuple[shapely.STRtree, list[Hashable]] | None = None

    def __len__(self) -> int:
        return len(self._slot) + len(self._areas)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._slot or key in self._areas

    # -- changes
    def add_point(self, key: Hashable, lat: float, lon: float) -> None:
        """Add or move a point subscriber (WGS 84 degrees)."""
        lat, lon = check_lat_lon(lat, lon)
        self.remove(key)
        slot = self._free.pop() if self._free else self._next_slot()
        self._x[slot], self._y[slot], self._alive[slot] = lon, lat, True
        self._keys[slot] = key
        self._slot[key] = slot

    def add_points(self, keys: Iterable[Hashable], lats: np.ndarray, lons: np.ndarray) -> None:
        """Bulk add (new keys only), e.g. loading a subscriber table; degrees WGS 84."""
        lats, lons = np.asarray(lats, dtype=float), np.asarray(lons, dtype=float)
        if not (np.all(np.abs(lats) <= 90) and np.all(np.abs(lons) <= 180)):
            raise ValueError("lat/lon: coordinates out of range")
        keys = list(keys)
        if any(k in self for k in keys) or len(set(keys)) != len(keys):
            raise ValueError("keys: must be new and unique for a bulk add")
        n = len(keys)
        self._grow(self._top + n)
        s = slice(self._top, self._top + n)
        self._x[s], self._y[s], self._alive[s] = lons, lats, True
        self._keys[s] = keys
        self._slot.update(zip(keys, range(self._top, self._top + n)))
        self._top += n

    def add_area(self, key: Hashable, geojson: dict) -> None:
        """Add or move a subscriber that watches a polygon (GeoJSON, WGS 84)."""
        geom = polygon_area(geojson)
        self.remove(key)
        self._areas[key] = geom
        self._tree = None

    def remove(self, key: Hashable) -> None:
        """Forget a subscriber (no error when unknown)."""
        slot = self._slot.pop(key, None)
        if slot is not None:
            self._alive[slot] = False
            self._keys[slot] = None
            self._free.append(slot)
        if self._areas.pop(key, None) is not None:
            self._tree = None

    def _next_slot(self) -> int:
        self._grow(self._top + 1)
        self._top += 1
        return self._top - 1

    def _grow(self, need: int) -> None:
        cap = len(self._x)
        if need <= cap:
            return
        new = max(need, cap * 2)
        self._x = np.concatenate([self._x, np.zeros(new - cap)])
        self._y = np.concatenate([self._y, np.zeros(new - cap)])
        self._alive = np.concatenate([self._alive, np.zeros(new - cap, dtype=bool)])
        self._keys.extend([None] * (new - cap))

    # -- queries
    def query(self, area: Any) -> list[Hashable]:
        """Keys of the subscribers intersecting ``area`` (see :func:`parse_area`), points first."""
        parsed = parse_area(area)
        slots = self.point_slots(parsed)
        keys = [self._keys[i] for i in slots.tolist()]
        return keys + self._area_keys(parsed)

    def point_slots(self, area: Area) -> np.ndarray:
        """Slot numbers of the point subscribers inside a parsed area (int array, ascending)."""
        n = self._top
        x, y, alive = self._x[:n], self._y[:n], self._alive[:n]
        if isinstance(area, Circle):
            return _in_circle(area, x, y, alive)
        return _in_polygon(area, x, y, alive)

    def _area_keys(self, area: Area) -> list[Hashable]:
        if not self._areas:
            return []
        if self._tree is None:
            keys = list(self._areas)
            self._tree = (shapely.STRtree([self._areas[k] for k in keys]), keys)
        tree, keys = self._tree
        if isinstance(area, Circle):
            near = set().union(*(tree.query(shapely.box(*b), predicate="intersects").tolist() for b in area.boxes()))
            return [keys[i] for i in sorted(near) if _area_touches_circle(self._areas[keys[i]], area)]
        return [keys[i] for i in sorted(tree.query(area, predicate="intersects"))]


def _bbox_candidates(bounds, x, y, alive) -> np.ndarray:
    minx, miny, maxx, maxy = bounds
    return np.flatnonzero(alive & (x >= minx) & (x <= maxx) & (y >= miny) & (y <= maxy))


def _in_polygon(area: BaseGeometry, x: np.ndarray, y: np.ndarray, alive: np.ndarray) -> np.ndarray:
    """Indices of points intersecting ``area`` (planar lon/lat, WGS 84 degrees), exact; a MultiPolygon part
    by part (the halves of an area split at ±180° have a world-wide bbox together, small ones apart)."""
    parts = shapely.get_parts(area)
    if len(parts) == 1:
        return _in_one_polygon(parts[0], x, y, alive)
    return np.unique(np.concatenate([_in_one_polygon(p, x, y, alive) for p in parts]))


def _in_one_polygon(poly: BaseGeometry, x: np.ndarray, y: np.ndarray, alive: np.ndarray) -> np.ndarray:
    """Indices of points intersecting one polygon (planar lon/lat), exact; grid-accelerated when many."""
    cand = _bbox_candidates(poly.bounds, x, y, alive)
    if len(cand) < GRID_MIN_POINTS:
        return cand[shapely.intersects_xy(poly, x[cand], y[cand])]
    cx, cy = x[cand], y[cand]
    cls, (x0, y0, w, h) = _classify_cells(poly, GRID_CELLS)
    ix = np.minimum(((cx - x0) / w).astype(np.int32), GRID_CELLS - 1)
    iy = np.minimum(((cy - y0) / h).astype(np.int32), GRID_CELLS - 1)
    c = cls[iy * GRID_CELLS + ix]
    edge = np.flatnonzero(c == 2)
    hit = edge[shapely.intersects_xy(poly, cx[edge], cy[edge])]
    keep = np.zeros(len(cand), dtype=bool)
    keep[c == 1] = True
    keep[hit] = True
    return cand[keep]


def _classify_cells(poly: BaseGeometry, g: int) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Per grid cell over ``poly.bounds``: 0 outside, 1 inside, 2 touched by the boundary.

    The boundary is sampled at half a cell and every sampled cell plus its 8 neighbours is
    marked, so a cell left unmarked cannot meet the boundary and is wholly in or out: its
    centre decides.
    """
    minx, miny, maxx, maxy = poly.bounds
    w = max((maxx - minx) / g, 1e-12)
    h = max((maxy - miny) / g, 1e-12)
    pts = shapely.get_coordinates(shapely.segmentize(poly.boundary, min(w, h) / 2))
    bx = np.clip(((pts[:, 0] - minx) / w).astype(np.int64), 0, g - 1)
    by = np.clip(((pts[:, 1] - miny) / h).astype(np.int64), 0, g - 1)
    touched = np.zeros((g + 2, g + 2), dtype=bool)
    for dx in (0, 1, 2):
        for dy in (0, 1, 2):
            touched[by + dy, bx + dx] = True
    touched = touched[1:-1, 1:-1]
    cls = np.zeros((g, g), dtype=np.int8)
    free = np.nonzero(~touched)
    centres_x = minx + (free[1] + 0.5) * w
    centres_y = miny + (free[0] + 0.5) * h
    cls[free] = shapely.contains_xy(poly, centres_x, centres_y).astype(np.int8)
    cls[touched] = 2
    return cls.reshape(-1), (minx, miny, w, h)


def _in_circle(c: Circle, x: np.ndarray, y: np.ndarray, alive: np.ndarray) -> np.ndarray:
    """Indices of points within ``c.radius_m`` metres (geodesic, WGS 84 ellipsoid) of the centre."""
    boxes = c.boxes()
    cand = _bbox_candidates(boxes[0], x, y, alive)
    if len(boxes) > 1:
        cand = np.union1d(cand, _bbox_candidates(boxes[1], x, y, alive))
    if not len(cand):
        return cand
    lon1, lat1 = np.radians(c.lon), np.radians(c.lat)
    lon2, lat2 = np.radians(x[cand]), np.radians(y[cand])
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    d = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(a, 1.0)))
    sure = d < c.radius_m * (1 - SPHERE_MARGIN)
    ring = np.flatnonzero(~sure & (d <= c.radius_m * (1 + SPHERE_MARGIN)))
    if len(ring):
        _, _, dist = GEOD.inv(np.full(len(ring), c.lon), np.full(len(ring), c.lat), x[cand][ring], y[cand][ring])
        sure[ring[np.asarray(dist) <= c.radius_m]] = True
    return cand[sure]


def area_contains(area: Area, lat: float, lon: float) -> bool:
    """True when the point (WGS 84 degrees) lies in a parsed area: within a circle (geodesic, WGS 84
    ellipsoid, metres) or inside or on the boundary of a polygon (planar lon/lat, RFC 7946)."""
    if isinstance(area, Circle):
        return geodesic_distance_m(area.lat, area.lon, lat, lon) <= area.radius_m
    return bool(shapely.intersects_xy(area, lon, lat))


def geodesic_distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance in metres on the WGS 84 ellipsoid."""
    return float(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def _area_touches_circle(geom: BaseGeometry, c: Circle) -> bool:
    """True when a user-drawn area comes within the circle (distance measured in a local
    azimuthal-equidistant projection centred on the circle, metres)."""
    from pyproj import Transformer

    tr = Transformer.from_crs(4326, f"+proj=aeqd +lat_0={c.lat} +lon_0={c.lon} +datum=WGS84 +units=m",
                              always_xy=True)
    local = shapely.transform(geom, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
    return bool(local.distance(shapely.Point(0, 0)) <= c.radius_m)
