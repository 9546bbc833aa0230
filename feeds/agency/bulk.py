"""Bulk upload: a file of agency inputs of one kind, read with geopandas/pyogrio, reprojected to WGS 84
(EPSG:4326), each row validated and prepared like a single submission, answered row by row.

Formats are recognised by content, never by name: GeoJSON (``{``), KML (``<kml``), GeoPackage (an
SQLite file), a zipped Shapefile (a ZIP holding a ``.shp``), else CSV (UTF-8 text with ``lat``/``lon``
— or ``latitude``/``longitude`` — columns, or a ``wkt`` column; WGS 84 unless ``crs`` says otherwise).
Row numbers count the file's features or data rows from 1 (a CSV's row 1 is the line after the
header). Columns are the kind's field names; a column holding a nested field (a damage report's
``counts``) is JSON text; empty cells are left out.
"""

from __future__ import annotations

import io
import json
import math
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pydantic import BaseModel, ValidationError
from pyproj import CRS
from pyproj.exceptions import CRSError
from shapely.geometry import mapping

from emergency.errors import ValidationFailed
from emergency.http import describe_errors

WGS84 = CRS.from_epsg(4326)
FORMATS = ("geojson", "csv", "shapefile", "geopackage", "kml")


@dataclass(frozen=True)
class RowError:
    """Why row ``row`` was refused: ``field`` and ``message``."""

    row: int
    field: str
    message: str


def sniff(data: bytes) -> str:
    """The file's format from its first bytes (one of ``FORMATS``); ValidationFailed naming ``file``."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if data.startswith(b"PK\x03\x04"):
        try:
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        except zipfile.BadZipFile:
            raise ValidationFailed("file", "is a damaged ZIP file") from None
        if not any(n.lower().endswith(".shp") for n in names):
            raise ValidationFailed("file", "is a ZIP file without a .shp: zip the Shapefile's .shp, .shx, .dbf "
                                           "and .prj together")
        return "shapefile"
    if data.startswith(b"SQLite format 3\x00"):
        return "geopackage"
    if head.startswith(b"{"):
        return "geojson"
    if head.startswith(b"<"):
        if b"<kml" in data[:4096]:
            return "kml"
        raise ValidationFailed("file", "is XML but not KML")
    if b"\x00" in data[:4096]:
        raise ValidationFailed("file", "is not GeoJSON, CSV, a zipped Shapefile, GeoPackage or KML")
    return "csv"


def read_table(data: bytes, *, crs: str | None = None) -> tuple[str, gpd.GeoDataFrame]:
    """The file's rows in WGS 84 and its format; ValidationFailed naming ``file`` (or ``crs``) when it
    cannot be read, has no CRS where one is needed, or holds no rows."""
    fmt = sniff(data)
    if fmt == "csv":
        frame = _read_csv(data, crs=crs)
    else:
        if crs is not None:
            raise ValidationFailed("crs", f"applies to CSV only: a {fmt} file carries its own CRS")
        suffix = {"geojson": ".geojson", "kml": ".kml", "geopackage": ".gpkg", "shapefile": ".zip"}[fmt]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"upload{suffix}"
            path.write_bytes(data)
            try:
                frame = gpd.read_file(f"/vsizip/{path}" if fmt == "shapefile" else path, engine="pyogrio")
            except Exception as exc:  # pyogrio/GDAL raise their own error types for unreadable files
                raise ValidationFailed("file", f"cannot be read as {fmt}: {str(exc)[:300]}") from None
        if frame.crs is None:
            raise ValidationFailed("file", f"the {fmt} file names no CRS (a Shapefile needs its .prj)")
    if len(frame) == 0:
        raise ValidationFailed("file", "holds no rows")
    if frame.crs is not None and CRS(frame.crs) != WGS84:
        frame = frame.to_crs(WGS84)
    return fmt, frame


def _read_csv(data: bytes, *, crs: str | None) -> gpd.GeoDataFrame:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed("file", f"a CSV file must be UTF-8; byte {exc.start} is not") from None
    try:
        table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValidationFailed("file", f"cannot be read as CSV: {str(exc)[:300]}") from None
    columns = {c.lower().strip(): c for c in table.columns}
    try:
        source_crs = CRS.from_user_input(crs) if crs else WGS84
    except CRSError:
        raise ValidationFailed("crs", f"{crs!r} is not a CRS (e.g. EPSG:32610)") from None
    if "wkt" in columns:
        geoms = [_wkt(v) for v in table.pop(columns["wkt"])]
    else:
        lat = next((columns[c] for c in ("lat", "latitude", "y") if c in columns), None)
        lon = next((columns[c] for c in ("lon", "lng", "longitude", "x") if c in columns), None)
        if lat is None or lon is None:
            raise ValidationFailed("file", "a CSV file needs lat and lon columns (or latitude/longitude), or a wkt "
                                           "column")
        geoms = [_point(la, lo) for la, lo in zip(table.pop(lat), table.pop(lon), strict=True)]
    return gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(geoms), crs=source_crs)


def _wkt(text: str) -> Any:
    try:
        return shapely.from_wkt(text) if text.strip() else None
    except shapely.errors.GEOSException:
        return None  # refused per row: "geometry: is missing or unreadable"


def _point(lat: str, lon: str) -> Any:
    try:
        return shapely.Point(float(lon), float(lat))
    except ValueError:
        return None


def rows(frame: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """Each row as a request body: its columns (empty cells left out, JSON text for nested fields kept
    as text here) and ``geometry`` as GeoJSON (WGS 84); a missing geometry stays None."""
    out: list[dict[str, Any]] = []
    columns = [c for c in frame.columns if c != frame.geometry.name]
    for values, geom in zip(frame[columns].itertuples(index=False, name=None), frame.geometry, strict=True):
        body = {c: _plain(v) for c, v in zip(columns, values, strict=True)}
        body = {c: v for c, v in body.items() if v is not None}
        body["geometry"] = mapping(geom) if geom is not None and not geom.is_empty else None
        out.append(body)
    return out


def _plain(value: Any) -> Any:
    """A cell as JSON-like Python: numpy scalars unwrapped, NaN/empty as None, times as ISO text."""
    if value is None or value is pd.NaT or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def parse_row(*, model: type[BaseModel], body: dict[str, Any], row: int) -> BaseModel | RowError:
    """The row as the kind's model, or the first reason it is refused (naming the row and the field)."""
    known = known_columns(model)
    lower = {k.lower(): k for k in known}
    body = {(k if k in known else lower.get(k.lower(), k)): v for k, v in body.items()}  # KML's "Name" is name
    if body.get("geometry") is None:
        return RowError(row, "geometry", "is missing or unreadable")
    for name, field in model.model_fields.items():
        key = field.alias or name
        value = body.get(key)
        if isinstance(value, str) and value.strip()[:1] in ("{", "[") and field.annotation not in (str, str | None):
            try:
                body[key] = json.loads(value)
            except json.JSONDecodeError:
                return RowError(row, key, "is not JSON")
    body = {k: v for k, v in body.items() if k in known}  # the answer lists the others
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = exc.errors(include_input=False)
        first = describe_errors(errors[:1])
        field, _, message = first.partition(": ")
        inner = message.removeprefix("Value error, ")
        if field == "body" and ": " in inner:  # a check across fields names its field first
            field, _, message = inner.partition(": ")
        return RowError(row, field, message)


def known_columns(model: type[BaseModel]) -> set[str]:
    """The columns a kind reads: its fields' names (aliases where they have one)."""
    return {f.alias or n for n, f in model.model_fields.items()}


def ignored_columns(frame: gpd.GeoDataFrame, model: type[BaseModel], fmt: str) -> list[str]:
    """The file's columns the kind does not read (a KML reader's own styling columns aside)."""
    known = {k.lower() for k in known_columns(model)}
    own = KML_COLUMNS if fmt == "kml" else frozenset()
    return sorted(str(c) for c in frame.columns if c != frame.geometry.name and str(c).lower() not in known
                  and c not in own)


# the columns GDAL's KML readers add to every Placemark
KML_COLUMNS = frozenset({"id", "description", "timestamp", "begin", "end", "altitudeMode", "tessellate", "extrude",
                         "visibility", "drawOrder", "icon"})
