"""GeoJSON helpers shared by the core: validation, bounds, point-in-area.

All coordinates are WGS 84 (EPSG:4326) longitude/latitude in degrees, RFC 7946 order.
Metric work (circle radii) is done by local azimuthal-equidistant projection.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import shapely
import shapely.ops
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

GEOMETRY_TYPES = {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}


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
    try:
        g = shape(geom)
    except Exception as exc:  # shapely raises several types for bad coordinates
        raise ValueError(f"geometry coordinates are malformed: {exc}") from None
    if g.is_empty:
        raise ValueError("geometry is empty")
    minx, miny, maxx, maxy = g.bounds
    if not (-180 <= minx <= maxx <= 180):
        raise ValueError("longitude must be between -180 and 180")
    if not (-90 <= miny <= maxy <= 90):
        raise ValueError("latitude must be between -90 and 90")
    if gtype in ("Polygon", "MultiPolygon") and not g.is_valid:
        raise ValueError(f"polygon is invalid: {shapely.is_valid_reason(g)}")
    return geom


def _check_position(pos: Any) -> None:
    if not isinstance(pos, list | tuple) or len(pos) not in (2, 3):
        raise ValueError("geometry coordinates are malformed: a position is [lon, lat] or [lon, lat, alt]")
    lon, lat = pos[0], pos[1]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in pos):
        raise ValueError("geometry coordinates are malformed: positions must be finite numbers")
    if not -180 <= lon <= 180:
        raise ValueError("longitude must be between -180 and 180")
    if not -90 <= lat <= 90:
        raise ValueError("latitude must be between -90 and 90")


def bounds(geom: dict[str, Any]) -> tuple[float, float, float, float]:
    """(min lon, min lat, max lon, max lat) of a GeoJSON geometry, degrees WGS 84."""
    if geom["type"] == "Point":
        lon, lat = geom["coordinates"][0], geom["coordinates"][1]
        return (lon, lat, lon, lat)
    return shape(geom).bounds


def to_shape(geom: dict[str, Any]) -> BaseGeometry:
    """Shapely geometry for a GeoJSON dict (WGS 84 degrees)."""
    return shape(geom)


@lru_cache(maxsize=256)
def _aeqd(lat: float, lon: float):
    from pyproj import CRS, Transformer

    crs = CRS.from_proj4(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m")
    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True)


def circle_polygon(lat: float, lon: float, radius_km: float, segments: int = 64) -> dict[str, Any]:
    """A GeoJSON Polygon (WGS 84) approximating a circle of ``radius_km`` kilometres.

    Built in a local azimuthal-equidistant projection (metres) centred on the point,
    so the radius is true in every direction.
    """
    to_wgs = _aeqd(round(lat, 6), round(lon, 6))
    r = radius_km * 1000.0
    ring = []
    for i in range(segments):
        a = 2 * math.pi * i / segments
        x, y = to_wgs.transform(r * math.cos(a), r * math.sin(a))
        ring.append([round(x, 7), round(y, 7)])
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


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
