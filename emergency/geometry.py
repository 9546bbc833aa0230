"""The one geometry vocabulary: validated coordinates, GeoJSON and CAP areas, and shared helpers.

All coordinates are WGS 84 (EPSG:4326) degrees. GeoJSON positions are ``[lon, lat]`` (RFC 7946
order); CAP text is ``lat,lon`` (CAP 1.2 order); circle radii are kilometres. Metric work (circle
polygons) is done geodesically on the WGS 84 ellipsoid (metres). Areas crossing ±180° longitude are
split there into MultiPolygons (RFC 7946 section 3.1.9); an unsplit ring whose edge jumps more than 180°
in longitude is refused.

Every input check in the system goes through this module, so the same input gets the same message
everywhere: ``lat: must be between -90 and 90, got 95``, ``must be a GeoJSON Polygon or MultiPolygon,
got 'Point'``, ``radius_km: must be more than 0 and at most 500 km, got 600``. Pydantic fields use the
annotated types (``Lat``, ``Lon``, ``PointGeometry``, ``LineGeometry``, ``AreaGeometry``,
``CircleArea``); plain code calls the ``check_*`` and ``parse_*`` functions, which raise ``ValueError``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any

import numpy as np
import shapely
import shapely.ops
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict
from pydantic_core import PydanticCustomError
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

GEOMETRY_TYPES = {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}
AREA_TYPES = ("Polygon", "MultiPolygon")
LINE_TYPES = ("LineString", "MultiLineString")
LAT_LIMIT = 90.0  # degrees north and south
LON_LIMIT = 180.0  # degrees east and west
MAX_CIRCLE_RADIUS_KM = 500.0  # the largest circle an alert area or a targeting query may be, kilometres


# --- coordinates ----------------------------------------------------------------------------------

def coordinate_problem(name: str, value: Any) -> str | None:
    """Why ``value`` is not a usable ``lat`` or ``lon`` (WGS 84 degrees), as ``"lat: reason"``; None when fine."""
    limit = LAT_LIMIT if name == "lat" else LON_LIMIT
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return f"{name}: must be a finite number, got {value!r}"
    if not -limit <= value <= limit:
        return f"{name}: must be between -{limit:g} and {limit:g}, got {value:g}"
    return None


def check_lat_lon(lat: float, lon: float) -> tuple[float, float]:
    """``(lat, lon)`` in WGS 84 degrees as floats; ``ValueError`` naming the field when not finite or out of range."""
    for name, value in (("lat", lat), ("lon", lon)):
        problem = coordinate_problem(name, value)
        if problem:
            raise ValueError(problem)
    return float(lat), float(lon)


def coordinate_from_text(raw: str | None, name: str) -> float:
    """A ``lat`` or ``lon`` (WGS 84 degrees) from text such as a query parameter; ``ValueError`` naming ``name``."""
    if raw is None:
        raise ValueError(f"{name}: is required")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}: {raw!r} is not a number") from None
    problem = coordinate_problem(name, value)
    if problem:
        raise ValueError(problem)
    return value


def check_radius_km(radius_km: Any) -> float:
    """A circle radius in kilometres, more than 0 and at most ``MAX_CIRCLE_RADIUS_KM``; ``ValueError`` otherwise."""
    if isinstance(radius_km, bool) or not isinstance(radius_km, int | float) or not math.isfinite(radius_km):
        raise ValueError(f"radius_km: must be a finite number, got {radius_km!r}")
    if not 0 < radius_km <= MAX_CIRCLE_RADIUS_KM:
        raise ValueError(f"radius_km: must be more than 0 and at most {MAX_CIRCLE_RADIUS_KM:g} km, got {radius_km:g}")
    return float(radius_km)


def check_bbox(bbox: Any, *, empty_ok: bool = True) -> tuple[float, float, float, float]:
    """A ``(min lon, min lat, max lon, max lat)`` box in WGS 84 degrees (``empty_ok=False``: with area, so
    min < max); ``ValueError`` naming ``bbox`` otherwise. Boxes crossing ±180° are not supported."""
    try:
        minx, miny, maxx, maxy = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise ValueError("bbox: expected four numbers minlon,minlat,maxlon,maxlat") from None
    lt = "<=" if empty_ok else "<"
    inside = (minx <= maxx and miny <= maxy) if empty_ok else (minx < maxx and miny < maxy)
    if not (inside and -LON_LIMIT <= minx and maxx <= LON_LIMIT and -LAT_LIMIT <= miny and maxy <= LAT_LIMIT):
        raise ValueError(f"bbox: needs -180 <= minlon {lt} maxlon <= 180 and -90 <= minlat {lt} maxlat <= 90")
    return (minx, miny, maxx, maxy)


def _pydantic(check, strip: str | None = None):
    """An ``AfterValidator`` running ``check`` and reporting its ``ValueError`` text as the field's message
    (without pydantic's "Value error," prefix; ``strip`` drops a leading ``"name: "`` the field already names)."""

    def run(value: Any) -> Any:
        try:
            return check(value)
        except ValueError as exc:
            text = str(exc)
            if strip and text.startswith(f"{strip}: "):
                text = text[len(strip) + 2:]
            raise PydanticCustomError("geometry", text) from None

    return AfterValidator(run)


# A JSON number as a request field: an integer or a float, never a boolean (``true`` is not 1) nor a string
# (``"45.5"``, or full-width digits such as ``"４５"``, which Python's float() would read).
Number = Annotated[float, Strict()]

# Latitude and longitude fields, WGS 84 degrees (finite; -90..90 and -180..180).
Lat = Annotated[Number, _pydantic(lambda v: check_lat_lon(v, 0)[0], strip="lat"),
                Field(description="latitude, WGS 84 degrees, -90..90")]
Lon = Annotated[Number, _pydantic(lambda v: check_lat_lon(0, v)[1], strip="lon"),
                Field(description="longitude, WGS 84 degrees, -180..180")]
# A bounding box with area, (min lon, min lat, max lon, max lat), WGS 84 degrees.
AreaBBox = Annotated[tuple[Number, Number, Number, Number],
                     _pydantic(lambda v: check_bbox(v, empty_ok=False), strip="bbox"),
                     Field(description="min lon, min lat, max lon, max lat; WGS 84 degrees; min < max")]
RadiusKm = Annotated[Number, _pydantic(check_radius_km, strip="radius_km"),
                     Field(description=f"kilometres, more than 0 and at most {MAX_CIRCLE_RADIUS_KM:g}")]


def validate_geojson(geom: dict[str, Any]) -> dict[str, Any]:
    """Check a GeoJSON geometry: known type, finite lon in [-180, 180], lat in [-90, 90].

    Raises ``ValueError`` naming what is wrong. Returns the geometry unchanged.
    """
    gtype = geom.get("type")
    if gtype not in GEOMETRY_TYPES:
        raise ValueError(f"geometry type must be one of {sorted(GEOMETRY_TYPES)}, got {gtype!r}")
    if gtype == "Point":  # the common case, without building a shapely object
        _check_position(geom.get("coordinates"))
        return geom
    _check_numbers(geom.get("coordinates"))
    try:
        g = shape(geom)
    except Exception as exc:  # shapely raises several types for bad coordinates
        raise ValueError(f"geometry coordinates are malformed: {exc}") from None
    if g.is_empty:
        raise ValueError("geometry is empty")
    minx, miny, maxx, maxy = g.bounds
    for name, value in (("lon", minx), ("lon", maxx), ("lat", miny), ("lat", maxy)):
        problem = coordinate_problem(name, value)
        if problem:
            raise ValueError(problem)
    if gtype in ("Polygon", "MultiPolygon") and not g.is_valid:
        raise ValueError(f"polygon is invalid: {shapely.is_valid_reason(g)}")
    return geom


def _check_numbers(coords: Any) -> None:
    """Every leaf of GeoJSON ``coordinates`` is a finite JSON number (not a boolean, not a string)."""
    stack = [coords]
    while stack:
        item = stack.pop()
        if isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
            raise ValueError(f"geometry coordinates are malformed: positions must be finite numbers, got {item!r}"[:160])


def _check_position(pos: Any) -> None:
    if not isinstance(pos, list | tuple) or len(pos) not in (2, 3):
        raise ValueError("geometry coordinates are malformed: a position is [lon, lat] or [lon, lat, alt]")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in pos):
        raise ValueError("geometry coordinates are malformed: positions must be finite numbers")
    check_lat_lon(pos[1], pos[0])


def check_area_geometry(geom: Any) -> dict[str, Any]:
    """A GeoJSON Polygon or MultiPolygon (WGS 84 lon/lat degrees): every ring closed with at least 4
    positions, coordinates in range, and a valid polygon. Raises ``ValueError`` naming the problem;
    returns the geometry unchanged."""
    gtype = geom.get("type") if isinstance(geom, dict) else None
    if gtype not in AREA_TYPES:
        raise ValueError(f"must be a GeoJSON Polygon or MultiPolygon, got {gtype!r}")
    polys = [geom.get("coordinates")] if gtype == "Polygon" else geom.get("coordinates")
    if not isinstance(polys, list) or not polys or polys == [None]:
        raise ValueError("coordinates are missing")
    for p, rings in enumerate(polys):
        if not isinstance(rings, list) or not rings:
            raise ValueError(f"polygon {p} has no rings")
        for r, ring in enumerate(rings):
            if not isinstance(ring, list) or len(ring) < 4:
                raise ValueError(f"ring {r} of polygon {p} needs at least 4 positions")
            if ring[0] != ring[-1]:
                raise ValueError(f"ring {r} of polygon {p} is not closed (first and last positions differ)")
            for pos in ring:
                if not isinstance(pos, list | tuple) or len(pos) < 2:
                    raise ValueError(f"ring {r} of polygon {p} has a malformed position")
                check_lat_lon(pos[1], pos[0])
            _check_no_antimeridian_jump(ring, f"ring {r} of polygon {p}")
    return validate_geojson(geom)


def _check_no_antimeridian_jump(ring: list, name: str) -> None:
    """Refuse a ring (WGS 84 ``[lon, lat]`` degrees) with an edge spanning more than 180° of longitude: it is
    a polygon crossing ±180° given unsplit, which RFC 7946 (3.1.9) requires to be split. Edges along ±180°
    itself or along a pole (a global band, a polar cap) are fine."""
    for (lon1, lat1, *_), (lon2, lat2, *_) in zip(ring, ring[1:]):
        if abs(lon2 - lon1) <= 180.0:
            continue
        if abs(lon1) == abs(lon2) == LON_LIMIT or (lat1 == lat2 and abs(lat1) == LAT_LIMIT):
            continue
        raise ValueError(f"{name} has an edge from lon {lon1:g} to lon {lon2:g}, more than 180° of longitude: "
                         "a polygon crossing the antimeridian (±180°) must be split there into a MultiPolygon "
                         "(RFC 7946 section 3.1.9)")


def check_line_geometry(geom: Any) -> dict[str, Any]:
    """A GeoJSON LineString or MultiLineString (WGS 84 lon/lat degrees); ``ValueError`` naming the problem."""
    gtype = geom.get("type") if isinstance(geom, dict) else None
    if gtype not in LINE_TYPES:
        raise ValueError(f"must be a GeoJSON LineString or MultiLineString, got {gtype!r}")
    return validate_geojson(geom)


def check_point_geometry(geom: Any) -> dict[str, Any]:
    """A GeoJSON Point (WGS 84 ``[lon, lat]`` degrees); ``ValueError`` naming the problem."""
    gtype = geom.get("type") if isinstance(geom, dict) else None
    if gtype != "Point":
        raise ValueError(f"must be a GeoJSON Point, got {gtype!r}")
    return validate_geojson(geom)


# GeoJSON geometry fields (RFC 7946, WGS 84 lon/lat degrees), validated as above.
PointGeometry = Annotated[dict[str, Any], _pydantic(check_point_geometry),
                          Field(description="GeoJSON Point, WGS 84 [lon, lat] degrees")]
LineGeometry = Annotated[dict[str, Any], _pydantic(check_line_geometry),
                         Field(description="GeoJSON LineString or MultiLineString, WGS 84 degrees")]
AreaGeometry = Annotated[dict[str, Any], _pydantic(check_area_geometry),
                         Field(description="GeoJSON Polygon or MultiPolygon, WGS 84 degrees")]


class CircleArea(BaseModel):
    """A circular area as an input: centre in WGS 84 degrees, radius in kilometres (at most 500)."""

    model_config = ConfigDict(extra="forbid")
    lat: Lat
    lon: Lon
    radius_km: RadiusKm


# --- CAP area text (CAP 1.2: "lat,lon" pairs; circle "lat,lon radius" with the radius in km) ---------

_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_CAP_POINT = re.compile(rf"^({_NUMBER}),({_NUMBER})$")
_CAP_CIRCLE = re.compile(rf"^({_NUMBER}),({_NUMBER})\s+({_NUMBER})$")


@dataclass(frozen=True)
class Circle:
    """A CAP circle: centre ``lat``, ``lon`` in WGS 84 degrees, ``radius_km`` in kilometres (0 = the point)."""

    lat: float
    lon: float
    radius_km: float


def parse_cap_point(text: str) -> tuple[float, float]:
    """``(lat, lon)`` WGS 84 degrees of one CAP ``lat,lon`` pair; ``ValueError`` naming the problem."""
    m = _CAP_POINT.match(text)
    if not m:
        raise ValueError(f"point {text!r} is not 'lat,lon'")
    problem = coordinate_problem("lat", float(m[1])) or coordinate_problem("lon", float(m[2]))
    if problem:
        raise ValueError(f"point {text!r}: {problem}")
    return float(m[1]), float(m[2])


def parse_cap_polygon(text: str) -> list[tuple[float, float]]:
    """The ``(lat, lon)`` points (WGS 84 degrees) of a CAP ``<polygon>`` in order; ``ValueError`` for a
    malformed or out-of-range point. Ring rules (4 points, closed, simple) are the caller's to check."""
    return [parse_cap_point(item) for item in text.split()]


def parse_cap_circle(text: str) -> Circle:
    """A CAP ``<circle>`` (``"lat,lon radius"``, WGS 84 degrees, radius in km) as a :class:`Circle`;
    ``ValueError`` naming the problem. CAP sets no upper radius; a radius of 0 is the centre point."""
    m = _CAP_CIRCLE.match((text or "").strip())
    if not m:
        raise ValueError(f"circle {text[:60]!r} is not 'lat,lon radius' (radius in km)")
    lat, lon, radius = float(m[1]), float(m[2]), float(m[3])
    problem = coordinate_problem("lat", lat) or coordinate_problem("lon", lon)
    if problem:
        raise ValueError(f"circle centre: {problem}")
    if radius < 0:
        raise ValueError(f"circle radius: must not be negative, got {radius:g} km")
    return Circle(lat, lon, radius)


def format_cap_circle(lat: float, lon: float, radius_km: float) -> str:
    """CAP ``<circle>`` text for a centre (WGS 84 degrees) and a radius in kilometres."""
    return f"{lat:.6f},{lon:.6f} {radius_km:g}"


def bounds(geom: dict[str, Any]) -> tuple[float, float, float, float]:
    """(min lon, min lat, max lon, max lat) of a GeoJSON geometry, degrees WGS 84."""
    if geom["type"] == "Point":
        lon, lat = geom["coordinates"][0], geom["coordinates"][1]
        return (lon, lat, lon, lat)
    return shape(geom).bounds


def to_shape(geom: dict[str, Any]) -> BaseGeometry:
    """Shapely geometry for a GeoJSON dict (WGS 84 degrees)."""
    return shape(geom)


@lru_cache(maxsize=1)
def _geod():
    from pyproj import Geod

    return Geod(ellps="WGS84")


def area_km2(geom: dict[str, Any]) -> float:
    """Geodesic area of a GeoJSON Polygon/MultiPolygon (WGS 84 degrees) on the WGS 84 ellipsoid, in km²."""
    area, _ = _geod().geometry_area_perimeter(shape(geom))
    return round(abs(area) / 1e6, 4)


_WORLD_COPIES = (-360.0, 0.0, 360.0)  # longitude offsets of the copies a ring unwrapped across ±180° can reach


def circle_polygon(lat: float, lon: float, radius_km: float, segments: int = 64) -> dict[str, Any]:
    """A GeoJSON area (WGS 84 degrees) approximating the geodesic circle of ``radius_km`` kilometres around
    (``lat``, ``lon``): its vertices lie on the circle (WGS 84 ellipsoid, ``segments`` of them).

    A circle crossing ±180° longitude is split there into a MultiPolygon (RFC 7946 section 3.1.9). A circle
    containing a pole becomes a cap: the polygon runs along the circle through every longitude and closes
    along the pole (latitude ±90), split at ±180° like any other.
    """
    n = segments
    az = np.linspace(0.0, 360.0, n, endpoint=False)
    lons, lats, _ = _geod().fwd(np.full(n, float(lon)), np.full(n, float(lat)), az, np.full(n, radius_km * 1000.0))
    lons = np.unwrap(np.asarray(lons), period=360.0)  # continuous, may leave [-180, 180]
    lats = np.asarray(lats)
    closing = (lons[0] - lons[-1] + 180.0) % 360.0 - 180.0
    winding = lons[-1] + closing - lons[0]  # 0 for an ordinary circle, ±360 around a pole
    ring = list(zip(lons.tolist(), lats.tolist()))
    if abs(winding) > 180.0:
        pole = 90.0 if lat > 0 else -90.0
        end = lons[0] + winding
        ring += [(end, float(lats[0])), (end, pole), (float(lons[0]), pole)]
    unwrapped = shapely.make_valid(shapely.Polygon(ring))
    parts = []
    for offset in _WORLD_COPIES:
        piece = unwrapped.intersection(shapely.box(offset - 180.0, -90.0, offset + 180.0, 90.0))
        piece = shapely.transform(piece, lambda xy, o=offset: xy - np.array([o, 0.0]))
        parts += [p for p in shapely.get_parts(piece) if isinstance(p, shapely.Polygon) and p.area > 0]
    parts = list(shapely.get_parts(shapely.set_precision(shapely.union_all(parts), 1e-9)))  # re-join at cuts off ±180°
    area = parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)
    return json.loads(shapely.to_geojson(shapely.set_precision(area, 1e-9)))


def contains_point(area: dict[str, Any], lat: float, lon: float) -> bool:
    """True when the WGS 84 point lies inside or on the boundary of a GeoJSON area."""
    return bool(shapely.intersects_xy(shape(area), lon, lat))


def as_geojson(g: BaseGeometry) -> dict[str, Any]:
    """GeoJSON dict for a shapely geometry."""
    return dict(mapping(g))


def representative_point(geom: dict[str, Any]) -> tuple[float, float]:
    """One (lon, lat) in degrees, WGS 84, standing for a GeoJSON geometry.

    A point is itself; a line gives the point on it nearest its centroid; a polygon a point
    inside it (shapely's point on surface). Computed in degrees, which is close enough at the
    scale of one street or zone for a marker (not for measuring).
    """
    if geom["type"] == "Point":
        return float(geom["coordinates"][0]), float(geom["coordinates"][1])
    g = shape(geom)
    if g.geom_type in ("LineString", "MultiLineString"):
        p = shapely.ops.nearest_points(g, g.centroid)[0]
    else:
        p = g.point_on_surface()
    return round(p.x, 7), round(p.y, 7)
