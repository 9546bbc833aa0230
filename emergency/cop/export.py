"""Any layer of the registry as a file: GeoJSON, CSV (geometry as WKT) and KML, written by geopandas/pyogrio
(GDAL drivers). ``GET <layer path>.csv|.geojson|.kml`` (``emergency/cop/views.py``) uses this for every layer.

Only public properties leave (the layer's features, as on the read route); nested values (report ids, counts by
source, the hull) are written as JSON text in CSV and KML, whose fields are flat. Geometry WGS 84 (EPSG:4326).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio
from shapely.geometry import shape

from emergency.cop.features import stored_feature
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


@dataclass(frozen=True)
class Export:
    """One layer's file: its bytes, how many items it holds, how many matched in all, and whether more matched."""

    body: bytes
    returned: int
    total: int
    truncated: bool


async def export_layer(*, store: Store, layer: str, fmt: ExportFormat, query: EventQuery) -> Export:
    """Items of ``layer`` matching ``query`` (newest first, ``query.limit`` at most) as a file of format ``fmt``."""
    page = await store.read_events(replace(query, layers=(layer,)))
    features = [stored_feature(item) for item in page.items]
    body = await asyncio.to_thread(export_features, features=features, fmt=fmt, layer=layer)
    return Export(body=body, returned=len(features), total=page.total, truncated=page.more)
