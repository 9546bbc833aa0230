"""Alerting zones: NWS UGC codes (``ORZ111``, ``ORC051``, ranges ``ORZ110>112``) and SAME county
codes (``041051``) -> polygons, and point -> zones. Polygons are GeoJSON, WGS 84."""

from __future__ import annotations

import re

import shapely
from shapely.geometry import mapping

from emergency.geometry import check_lat_lon
from mapping.regions import Region, Zone

_UGC_GROUP = re.compile(r"^([A-Z]{2}[CZ])(\d{3}(?:[>-]\d{3})*)$")
_SAME = re.compile(r"^\d(\d{5})$")


def expand_codes(text: str) -> list[str]:
    """UGC groups and SAME codes as single codes: ``"ORZ110>112-115"`` -> ORZ110, ORZ111, ORZ112, ORZ115.

    Raises ``ValueError`` naming the code that is not UGC (``SSZnnn`` / ``SSCnnn``) or SAME (6 digits).
    """
    out: list[str] = []
    for raw in re.split(r"[\s,;]+", (text or "").strip().upper()):
        if not raw:
            continue
        if _SAME.match(raw):
            out.append(raw)
            continue
        m = _UGC_GROUP.match(raw)
        if not m:
            raise ValueError(f"zone: {raw[:20]!r} is not a UGC code (like ORZ111 or ORC051) or a SAME code")
        prefix, body = m.groups()
        parts = re.findall(r"[>-]?\d{3}", body)
        prev = None
        for part in parts:
            n = int(part.lstrip(">-"))
            if part.startswith(">") and prev is not None:
                out.extend(f"{prefix}{k:03d}" for k in range(prev + 1, n + 1))
            else:
                out.append(f"{prefix}{n:03d}")
            prev = n
    return list(dict.fromkeys(out))


def find_zone(code: str, region: Region) -> Zone:
    """The zone for one UGC or SAME code; ``ValueError`` when the region does not have it."""
    same = _SAME.match(code)
    if same:
        for z in region.zones.values():
            if z.fips == same.group(1):
                return z
    elif code in region.zones:
        return region.zones[code]
    near = sorted(c for c in region.zones if c[:3] == code[:3])[:8]
    hint = f" (this region has {', '.join(near)}...)" if near else ""
    raise ValueError(f"zone: {code} is not a zone of {region.name}{hint}")


def zone_geometry(codes: str, region: Region) -> dict:
    """``{"codes", "names", "geometry"}`` for one or more codes; the geometry is their union."""
    zones = [find_zone(c, region) for c in expand_codes(codes)]
    if not zones:
        raise ValueError("zone: no code given")
    union = shapely.union_all([z.geometry for z in zones])
    return {"codes": [z.code for z in zones], "names": [z.name for z in zones], "geometry": mapping(union)}


def zones_at(lat: float, lon: float, region: Region) -> list[dict]:
    """The zones containing a WGS 84 point: ``[{"code", "name"}]``, counties and forecast zones, by code."""
    lat, lon = check_lat_lon(lat, lon)
    pt = shapely.Point(lon, lat)
    return [{"code": z.code, "name": z.name} for z in sorted(region.zones.values(), key=lambda z: z.code)
            if z.geometry.covers(pt)]
