"""Region packs: places, named roads, alerting zones and a boundary, loaded from files.

A region is a directory laid out like ``sample_data/regions/portland`` (format in
``sample_data/README.md``). ``load_region("portland")`` finds it under
``sample_data/regions``; any directory path works as well. Regions are loaded once per
process (cached) and their indexes are built lazily, on first use.

Geometries are kept twice: WGS 84 lon/lat degrees (GeoJSON in and out) and metres in the
region's projected CRS (``region.crs``: the UTM zone of the bbox centre unless
``region.json`` names an EPSG code in ``"crs"``), where distances and lengths are measured.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry

from emergency.config import PROJECT_ROOT
from emergency.errors import ConfigError

REGIONS_DIR = PROJECT_ROOT / "sample_data" / "regions"
# larger roads win ambiguous names ("Hawthorne" is the boulevard, not the terrace)
HIGHWAY_RANK = {"motorway": 9, "trunk": 8, "primary": 7, "secondary": 6, "tertiary": 5, "unclassified": 3,
                "residential": 3, "living_street": 2, "road": 2, "service": 1}


@dataclass(frozen=True, eq=False)
class Road:
    """All ways of one named road. ``line_m`` is in the region's projected CRS (metres)."""

    name: str
    refs: tuple[str, ...]
    rank: int
    line: BaseGeometry          # MultiLineString, WGS 84 degrees
    line_m: BaseGeometry        # MultiLineString, metres (region.crs)
    ways: tuple[np.ndarray, ...]  # each an (n, 2) array of projected vertices, metres

    @property
    def length_m(self) -> float:
        return float(self.line_m.length)


@dataclass(frozen=True)
class Place:
    """A populated place (GeoNames). ``lon``/``lat`` in WGS 84 degrees."""

    name: str
    lat: float
    lon: float
    population: int
    alternatenames: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Zone:
    """An alerting zone (NWS UGC code such as ``ORZ006`` or county ``ORC051``); polygon in WGS 84."""

    code: str
    name: str
    geometry: BaseGeometry
    fips: str = ""  # county zones: 5-digit state+county FIPS, the SAME code without its leading digit


@dataclass
class Region:
    """One loaded region pack. Build with :func:`load_region`."""

    key: str
    directory: Path
    meta: dict[str, Any]
    crs: int
    roads: dict[str, Road]
    places: list[Place]
    zones: dict[str, Zone]
    boundary: BaseGeometry  # WGS 84 polygon: the jurisdiction if given, else the bbox
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return str(self.meta.get("name", self.key))

    @property
    def coverage(self) -> str:
        """What the pack can place, for messages: ``coverage`` of region.json and the roads' bbox (degrees)."""
        said = str(self.meta.get("coverage") or self.name)
        bbox = self.meta.get("bbox")
        if not bbox:
            return said
        return f"{said} (streets within lon {bbox[0]:.3f}..{bbox[2]:.3f}, lat {bbox[1]:.3f}..{bbox[3]:.3f})"

    @cached_property
    def to_metres(self) -> Transformer:
        """WGS 84 lon/lat -> region CRS x/y metres."""
        return Transformer.from_crs(4326, self.crs, always_xy=True)

    @cached_property
    def to_degrees(self) -> Transformer:
        """Region CRS x/y metres -> WGS 84 lon/lat."""
        return Transformer.from_crs(self.crs, 4326, always_xy=True)

    def project(self, geom: BaseGeometry) -> BaseGeometry:
        """A WGS 84 geometry in the region CRS (metres)."""
        return _transform(geom, self.to_metres)

    def unproject(self, geom: BaseGeometry) -> BaseGeometry:
        """A region-CRS geometry back in WGS 84 (coordinates rounded to 7 decimals, about 1 cm)."""
        return shapely.set_precision(_transform(geom, self.to_degrees), 1e-7)

    @cached_property
    def road_list(self) -> list[Road]:
        return list(self.roads.values())

    @cached_property
    def road_tree(self) -> shapely.STRtree:
        """STRtree over the projected road geometries, in ``road_list`` order."""
        return shapely.STRtree([r.line_m for r in self.road_list])

    @cached_property
    def gazetteer(self):
        from mapping.gazetteer import Gazetteer

        return Gazetteer(self)


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS 84 UTM zone containing (lon, lat): 326zz north, 327zz south."""
    zone = min(60, max(1, int(math.floor((lon + 180.0) / 6.0)) + 1))
    return (32600 if lat >= 0 else 32700) + zone


def _transform(geom: BaseGeometry, tr: Transformer) -> BaseGeometry:
    def fn(coords: np.ndarray) -> np.ndarray:
        x, y = tr.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, fn)


def resolve_region_dir(name_or_dir: str | Path) -> Path:
    """The directory of a region given by name (under sample_data/regions) or by path."""
    text = str(name_or_dir).strip()
    if not text:
        raise ConfigError("region: empty name")
    path = Path(text).expanduser()
    if not path.is_dir() and "/" not in text and (REGIONS_DIR / text).is_dir():
        path = REGIONS_DIR / text
    if not (path / "region.json").is_file():
        known = sorted(p.name for p in REGIONS_DIR.iterdir() if (p / "region.json").is_file())
        raise ConfigError(f"region: {text!r} is neither a region name ({', '.join(known)}) "
                          "nor a directory with a region.json")
    return path.resolve()


def load_region(name_or_dir: str | Path) -> Region:
    """The region called ``name_or_dir`` (e.g. ``"portland"``) or stored in that directory; cached."""
    return _load(resolve_region_dir(name_or_dir))


@lru_cache(maxsize=8)
def _load(directory: Path) -> Region:
    meta = json.loads((directory / "region.json").read_text(encoding="utf-8"))
    files = {"roads": "roads.geojson", "places": "places.json", "zones": "zones.geojson", **meta.get("files", {})}
    bbox = meta.get("bbox")
    if not bbox:
        raise ConfigError(f"region: {directory / 'region.json'} has no bbox")
    crs = int(meta.get("crs") or utm_epsg((bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2))
    region = Region(key=directory.name, directory=directory, meta=meta, crs=crs, roads={}, places=[], zones={},
                    boundary=shape(meta["jurisdiction"]) if meta.get("jurisdiction") else box(*bbox))
    region.roads = _read_roads(directory / files["roads"], region)
    region.places = _read_places(directory / files["places"])
    region.zones = _read_zones(directory / files["zones"])
    return region


def _read_roads(path: Path, region: Region) -> dict[str, Road]:
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for feat in data.get("features", []):
        props = feat.get("properties") or {}
        geom = feat.get("geometry") or {}
        if geom.get("type") != "LineString":
            continue
        name = props.get("name") or props.get("ref")
        if name:
            grouped[str(name)].append(feat)
    names = sorted(grouped)
    coords_all = [np.asarray(f["geometry"]["coordinates"], dtype=float)[:, :2] for n in names for f in grouped[n]]
    if not coords_all:
        return {}
    stacked = np.concatenate(coords_all)
    x, y = region.to_metres.transform(stacked[:, 0], stacked[:, 1])
    projected = np.column_stack([x, y])
    roads: dict[str, Road] = {}
    pos = i = 0
    for name in names:
        feats = grouped[name]
        ways_deg = coords_all[i:i + len(feats)]
        ways_m = []
        for w in ways_deg:
            ways_m.append(projected[pos:pos + len(w)])
            pos += len(w)
        i += len(feats)
        refs = sorted({r.strip() for f in feats for r in str((f.get("properties") or {}).get("ref") or "").split(";")
                       if r.strip()})
        rank = max(HIGHWAY_RANK.get(str((f.get("properties") or {}).get("highway")), 2) for f in feats)
        roads[name] = Road(name=name, refs=tuple(refs), rank=rank,
                           line=shapely.multilinestrings([shapely.linestrings(w) for w in ways_deg]),
                           line_m=shapely.multilinestrings([shapely.linestrings(w) for w in ways_m]),
                           ways=tuple(ways_m))
    return roads


def _read_places(path: Path) -> list[Place]:
    if not path.exists():
        return []
    rows = json.loads(path.read_text(encoding="utf-8"))
    places = [Place(name=r["name"], lat=float(r.get("lat", r.get("latitude"))),
                    lon=float(r.get("lon", r.get("longitude"))), population=int(r.get("population") or 0),
                    alternatenames=tuple(r.get("alternatenames") or ())) for r in rows]
    places.sort(key=lambda p: (-p.population, p.name))
    return places


def _read_zones(path: Path) -> dict[str, Zone]:
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    zones = {}
    for feat in data.get("features", []):
        props = feat.get("properties") or {}
        code = str(props.get("UGC") or props.get("code") or "").upper()
        if code and feat.get("geometry"):
            name = props.get("NAME") or props.get("COUNTYNAME") or props.get("name") or code
            zones[code] = Zone(code=code, name=str(name), geometry=shapely.make_valid(shape(feat["geometry"])),
                               fips=str(props.get("FIPS") or ""))
    return zones
