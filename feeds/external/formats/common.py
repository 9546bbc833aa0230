"""Helpers the format parsers share: times to UTC, geometries to what the picture accepts, slugs.

Geometries are GeoJSON, WGS 84 longitude/latitude degrees.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import shapely
from shapely.geometry import mapping, shape

from emergency.geometry import validate_geojson
from emergency.timebounds import to_utc
from feeds.social.adapters.mastodon import html_to_text

_SLUG = re.compile(r"[^a-z0-9]+")
MAX_TEXT = 2000


def slug(text: Any, default: str = "incident") -> str:
    """``"Tree Down"`` -> ``tree_down`` (at most 64 characters); ``default`` when nothing is left."""
    out = _SLUG.sub("_", str(text or "").lower()).strip("_")[:64]
    return out or default


def plain(text: Any, limit: int = MAX_TEXT) -> str | None:
    """Text without HTML tags, entities decoded, runs of space as one; at most ``limit`` characters; None
    when empty."""
    if text is None:
        return None
    out = " ".join(html_to_text(str(text)).split())
    return out[:limit] or None


def when(value: Any) -> datetime | None:
    """An ISO 8601 or RFC 822 time, or milliseconds since the epoch, as UTC; None when it is neither or
    carries no zone (a local time without a zone cannot be placed)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    if parsed is None or parsed.tzinfo is None:
        return None
    try:
        return to_utc(parsed)
    except ValueError:
        return None


def iso(value: Any) -> str | None:
    """``when(value)`` as an ISO 8601 string, or None."""
    found = when(value)
    return found.isoformat() if found else None


def clean_geometry(geom: Any) -> dict[str, Any] | None:
    """A geometry the picture accepts, or None: 2-D coordinates; a GeometryCollection becomes the union of
    its polygons (else its points); an invalid polygon is repaired (``make_valid``, polygonal part)."""
    if not isinstance(geom, dict) or not geom.get("type"):
        return None
    try:
        return _clean(shape(geom))
    except Exception:  # shapely/GEOS raise several types for bad coordinates and broken topology
        return None


def _valid(g: Any) -> Any:
    """The polygonal part of a repaired polygon (itself when valid)."""
    if g.is_valid:
        return g
    g = shapely.make_valid(g)
    if g.geom_type == "GeometryCollection":
        g = shapely.union_all([p for p in g.geoms if p.geom_type in ("Polygon", "MultiPolygon")])
    return g


def _clean(g: Any) -> dict[str, Any] | None:
    if g.is_empty:
        return None
    g = shapely.force_2d(g)
    if g.geom_type == "GeometryCollection":
        polys = [_valid(p) for p in g.geoms if p.geom_type in ("Polygon", "MultiPolygon")]
        points = [p for p in g.geoms if p.geom_type in ("Point", "MultiPoint")]
        lines = [p for p in g.geoms if p.geom_type in ("LineString", "MultiLineString")]
        g = shapely.union_all(polys) if polys else shapely.union_all(points or lines) if (points or lines) else None
        if g is None or g.is_empty:
            return None
    if g.geom_type in ("Polygon", "MultiPolygon"):
        g = _valid(g)
        if g.is_empty or g.geom_type not in ("Polygon", "MultiPolygon"):
            return None
    out = mapping(g)
    out = {"type": out["type"], "coordinates": _lists(out["coordinates"])}
    try:
        return validate_geojson(out)
    except ValueError:
        return None


def _lists(coords: Any) -> Any:
    if isinstance(coords, tuple | list):
        if coords and isinstance(coords[0], int | float):
            return [float(c) for c in coords]
        return [_lists(c) for c in coords]
    return coords


def point(lat: Any, lon: Any) -> dict[str, Any] | None:
    """A GeoJSON Point from latitude and longitude (WGS 84 degrees, numbers or numeric text), or None."""
    try:
        return clean_geometry({"type": "Point", "coordinates": [float(lon), float(lat)]})
    except (TypeError, ValueError):
        return None
