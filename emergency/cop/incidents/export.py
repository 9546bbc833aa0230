"""Incidents as files: GeoJSON, CSV (geometry as WKT) and KML, written by geopandas/pyogrio (GDAL drivers).

Only public properties leave (the layer's features, as on the read route); nested values (report ids, counts by
source, the hull) are written as JSON text in CSV and KML, whose fields are flat. Geometry WGS 84 (EPSG:4326).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from enum import Enum
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio
from shapely.geometry import shape

from emergency.cop.features import stored_feature
from emergency.errors import ValidationFailed
from emergency.geometry import check_bbox
from emergency.layers import INCIDENTS, REGISTRY
from emergency.store.base import EventQuery, Store


class ExportFormat(str, Enum):
    csv = "csv"
    geojson = "geojson"
    kml = "kml"


MEDIA_TYPES = {ExportFormat.csv: "text/csv; charset=utf-8", ExportFormat.geojson: "application/geo+json",
               ExportFormat.kml: "application/vnd.google-earth.kml+xml"}
DRIVERS = {ExportFormat.csv: ("CSV", {"GEOMETRY": "AS_WKT"}), ExportFormat.geojson: ("GeoJSON", {}),
           ExportFormat.kml: ("KML", {})}


def export_features(*, features: list[dict[str, Any]], fmt: ExportFormat, layer: str) -> bytes:
    """The public ``features`` (GeoJSON, WGS 84) as one file of format ``fmt``; call it off the event loop."""
    rows = []
    for f in features:
        props = {k: (json.dumps(v, ensure_ascii=False, sort_keys=True) if isinstance(v, dict | list) else v)
                 for k, v in f["properties"].items()}
        rows.append({"id": f["id"], **props, "geometry": shape(f["geometry"]) if f.get("geometry") else None})
    columns = sorted({k for r in rows for k in r if k not in ("id", "geometry")})
    frame = gpd.GeoDataFrame(rows, columns=["id", *columns, "geometry"], geometry="geometry", crs="EPSG:4326")
    driver, options = DRIVERS[fmt]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{layer}.{fmt.value}"
        pyogrio.write_dataframe(frame, path, driver=driver, layer=layer, layer_options=options or None)
        return path.read_bytes()


def parse_bbox_text(raw: str | None) -> tuple[float, float, float, float] | None:
    """``minlon,minlat,maxlon,maxlat`` (WGS 84 degrees); ``ValidationFailed`` naming ``bbox`` when wrong."""
    if raw is None:
        return None
    try:
        return check_bbox(raw.split(","))
    except ValueError as exc:
        raise ValidationFailed("bbox", str(exc).removeprefix("bbox: ")) from None


async def export_incidents(*, store: Store, fmt: ExportFormat, query: EventQuery) -> tuple[bytes, int, bool]:
    """Incidents matching ``query`` (newest first, ``query.limit`` at most) as a file; (bytes, how many, truncated)."""
    page = await store.read_events(EventQuery(**{**query.__dict__, "layers": (INCIDENTS,)}))
    features = [stored_feature(item) for item in page.items]
    body = await asyncio.to_thread(export_features, features=features, fmt=fmt, layer=INCIDENTS)
    return body, len(features), page.more


EXPORT_MAX = REGISTRY[INCIDENTS].max_limit
