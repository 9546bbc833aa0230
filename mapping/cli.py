"""``emergency geo ...``: offline geocoding, place extraction, reverse geocoding, snapping, zones.

Every command prints JSON, one object per line (GeoJSON geometries in WGS 84), so its output
can be piped into other tools. ``--region`` takes a region name (``portland``, ``columbus``)
or a directory laid out like ``sample_data/regions/portland``; the default is
``EMERGENCY_REGION_DIR``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

from emergency.config import Settings


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``geo`` command group to the ``emergency`` parser."""
    geo = sub.add_parser("geo", help="offline geography: geocode, extract, reverse, snap, zone (JSON lines out)",
                         description=__doc__)
    leaves = geo.add_subparsers(dest="geo_command", required=True, metavar="GEO_COMMAND")

    def leaf(name: str, help_: str, run) -> argparse.ArgumentParser:
        p = leaves.add_parser(name, help=help_, description=help_)
        p.add_argument("--region", help="region name or directory (default: EMERGENCY_REGION_DIR)")
        p.set_defaults(run=run)
        return p

    leaf("geocode", "best match for a whole place string: place, road, intersection or zone",
         _geocode).add_argument("text", nargs="+", help="e.g. 'SE Hawthorne Blvd & SE 20th Ave'")
    leaf("extract", "place, road and intersection mentions in free text, with character spans",
         _extract).add_argument("text", nargs="+", help="a report or post text")
    p = leaf("reverse", "nearest named road and place to a point", _reverse)
    p.add_argument("lat", type=float, help="latitude, WGS 84 degrees")
    p.add_argument("lon", type=float, help="longitude, WGS 84 degrees")
    p = leaf("snap", "a road closure on the road network: a road between two cross streets, or a rough "
             "drawn line (--line) snapped to the named roads it follows within 30 m", _snap)
    p.add_argument("--road", help="the closed road, e.g. 'SE Hawthorne Blvd'")
    p.add_argument("--from", dest="start", help="first cross street")
    p.add_argument("--to", dest="end", help="second cross street")
    p.add_argument("--line", help="instead of --road: a GeoJSON LineString (WGS 84) as JSON text")
    p = leaf("zone", "NWS UGC zone codes -> polygons, or the zones containing a point", _zone)
    p.add_argument("codes", nargs="*", help="UGC codes such as ORZ111 ORC051")
    p.add_argument("--at", nargs=2, type=float, metavar=("LAT", "LON"), help="list the zones containing this point")


def _region(settings: Settings, args: argparse.Namespace):
    from mapping.regions import load_region

    return load_region(args.region or settings.region_dir)


def _emit(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _match(m) -> dict:
    d = asdict(m)
    d["span"] = list(m.span) if m.span else None
    d["names"] = list(m.names)
    return d


def _geocode(settings: Settings, args: argparse.Namespace) -> int:
    from emergency.geocoding import no_match
    from mapping.geocode import RegionGeocoder, geocode

    text = " ".join(args.text)
    region = _region(settings, args)
    m = geocode(text, region)
    _emit(_match(m) if m else {"text": text, "match": None, "reason": no_match(RegionGeocoder(region))})
    return 0 if m else 1


def _extract(settings: Settings, args: argparse.Namespace) -> int:
    from emergency.geocoding import no_match
    from mapping.geocode import RegionGeocoder, extract_places

    text = " ".join(args.text)
    region = _region(settings, args)
    found = extract_places(text, region)
    for m in found:
        _emit(_match(m))
    if not found:  # stdout stays one line per mention; say why on stderr
        print(f"emergency: no place mentioned: {no_match(RegionGeocoder(region))}", file=sys.stderr)
    return 0 if found else 1


def _reverse(settings: Settings, args: argparse.Namespace) -> int:
    from mapping.geocode import reverse

    _emit(reverse(args.lat, args.lon, _region(settings, args)))
    return 0


def _snap(settings: Settings, args: argparse.Namespace) -> int:
    from mapping.snap import snap_between, snap_line

    if (args.line is None) == (args.road is None):
        raise ValueError("snap: give --road with --from and --to, or --line")
    if args.line is not None:
        try:
            line = json.loads(args.line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--line: not JSON ({exc.msg})") from None
        if not isinstance(line, dict) or line.get("type") not in ("LineString", "MultiLineString"):
            raise ValueError("--line: must be a GeoJSON LineString or MultiLineString")
        _emit(snap_line(_region(settings, args), line).as_dict())
        return 0
    if args.start is None or args.end is None:
        raise ValueError("snap: --road needs --from and --to")
    _emit(snap_between(_region(settings, args), args.road, args.start, args.end).as_dict())
    return 0


def _zone(settings: Settings, args: argparse.Namespace) -> int:
    from mapping.zones import zone_geometry, zones_at

    region = _region(settings, args)
    if not args.codes and not args.at:
        raise ValueError("zone: give UGC codes or --at LAT LON")
    for code in args.codes:
        _emit(zone_geometry(code, region))
    if args.at:
        for z in zones_at(args.at[0], args.at[1], region):
            _emit(z)
    return 0
