#!/usr/bin/env python3
"""Build the Portland, Oregon demo region and scenario shipped in ``sample_data/``.

This script is *not* needed at run time.  It documents (and reproduces) how the
files under ``sample_data/regions/portland``, ``sample_data/scenarios`` and
``sample_data/social`` were derived from the shared source data:

* OpenStreetMap named roads (ODbL 1.0, (c) OpenStreetMap contributors)
* GeoNames populated places (CC BY 4.0)
* NWS UGC forecast-zone / county polygons (public domain / CC0)

Input folder: ``<project root>/../shared/data`` (override with the
``EMERGENCY_SHARED_DATA`` environment variable).

The scenario narrative (report texts, alerts, social posts) is invented for the
demo.  Report positions and closure geometries are computed from the road
geometries, so every report sits on the street its text names and every
closure follows the real centre line of the named street.

Usage::

    /work/venv/bin/python sample_data/tools/build_portland.py

Requires shapely >= 2 and pyproj.  Output is deterministic.
"""
from __future__ import annotations

import heapq
import json
import math
import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pyproj import Transformer
from shapely import transform as shp_transform
from shapely.geometry import LineString, MultiLineString, Point, Polygon, box, mapping, shape
from shapely.ops import linemerge, nearest_points, substring, unary_union

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("EMERGENCY_SHARED_DATA", ROOT.parent / "shared" / "data"))
SAMPLE = ROOT / "sample_data"
REGION_DIR = SAMPLE / "regions" / "portland"
SCENARIO_FILE = SAMPLE / "scenarios" / "portland_demo.jsonl"
SOCIAL_FILE = SAMPLE / "social" / "demo_posts.jsonl"

SRC_ROADS = SHARED / "geo" / "roads" / "portland_named_roads_osm.geojson"
SRC_PLACES = SHARED / "geo" / "gazetteers" / "geonames_cities500_US_CA_OR_OH_MD.json"
SRC_ZONES = SHARED / "geo" / "cap_geocodes" / "nws_ugc_OR.geojson"

# Box around the Portland metro area used to select NWS zones/counties.
METRO_BOX = (-123.2, 45.2, -122.2, 45.8)
JURISDICTION_UGC = "ORC051"  # Multnomah County (contains central Portland)
WIND_ZONE_UGC = "ORZ111"  # NWS forecast zone "Inner Portland Metro"
SCENARIO_EPOCH = datetime(2026, 11, 27, 10, 0, 0, tzinfo=timezone.utc)
UTM = 32610  # WGS 84 / UTM zone 10N, metres

_to_utm = Transformer.from_crs(4326, UTM, always_xy=True)
_to_wgs = Transformer.from_crs(UTM, 4326, always_xy=True)


def to_utm(geom):
    return shp_transform(geom, lambda xy: _xy(_to_utm, xy))


def to_wgs(geom):
    return shp_transform(geom, lambda xy: _xy(_to_wgs, xy))


def _xy(tr, xy):
    import numpy as np

    x, y = tr.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([x, y])


def r6(v: float) -> float:
    return round(float(v), 6)


def round_line(coords) -> list[list[float]]:
    """Round to 6 decimals and drop consecutive duplicates created by rounding."""
    out: list[list[float]] = []
    for x, y in coords:
        p = [r6(x), r6(y)]
        if not out or out[-1] != p:
            out.append(p)
    return out


def dump_compact(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def write_feature_collection(path: Path, header: dict, features: list[dict]) -> None:
    """FeatureCollection with one feature per line (compact yet diff-friendly)."""
    head = dump_compact({**header, "features": []})[:-2]  # ends with '"features":['
    lines = [dump_compact(f) for f in features]
    path.write_text(head + "\n" + ",\n".join(lines) + "\n]}\n", encoding="utf-8")


# ---------------------------------------------------------------------------
# 1. Region files
# ---------------------------------------------------------------------------

def build_roads() -> dict:
    src = json.loads(SRC_ROADS.read_text(encoding="utf-8"))
    feats = []
    for f in src["features"]:
        assert f["geometry"]["type"] == "LineString", f["id"]
        coords = round_line(f["geometry"]["coordinates"])
        assert len(coords) >= 2, f["id"]
        p = f["properties"]
        feats.append(
            {
                "type": "Feature",
                "id": f.get("id"),
                "geometry": {"type": "LineString", "coordinates": coords},
                "properties": {
                    "name": p.get("name"),
                    "ref": p.get("ref"),
                    "highway": p.get("highway"),
                },
            }
        )
    assert len(feats) == len(src["features"])
    header = {
        "type": "FeatureCollection",
        "name": "Portland OR named roads (OpenStreetMap)",
        "attribution": "© OpenStreetMap contributors, ODbL 1.0 (https://www.openstreetmap.org/copyright)",
        "license": "ODbL-1.0",
    }
    write_feature_collection(REGION_DIR / "roads.geojson", header, feats)
    return {**header, "features": feats}


def build_places() -> list[dict]:
    src = json.loads(SRC_PLACES.read_text(encoding="utf-8"))
    places = []
    for p in src:
        if p.get("admin1code") != "OR":
            continue
        rec = {
            "geonameid": p["geonameid"],
            "name": p["name"],
            "lat": p["latitude"],
            "lon": p["longitude"],
            "population": p["population"],
            "admin1code": p["admin1code"],
        }
        if p.get("alternatenames"):
            rec["alternatenames"] = p["alternatenames"]
        places.append(rec)
    places.sort(key=lambda r: (-r["population"], r["name"], r["geonameid"]))
    text = "[\n" + ",\n".join(dump_compact(p) for p in places) + "\n]\n"
    (REGION_DIR / "places.json").write_text(text, encoding="utf-8")
    return places


def build_zones() -> dict[str, dict]:
    src = json.loads(SRC_ZONES.read_text(encoding="utf-8"))
    metro = box(*METRO_BOX)
    feats = [f for f in src["features"] if shape(f["geometry"]).intersects(metro)]
    feats.sort(key=lambda f: f["properties"]["UGC"])
    header = {
        "type": "FeatureCollection",
        "name": "NWS UGC forecast zones (ORZ) and counties (ORC) intersecting the Portland metro box",
        "attribution": "U.S. National Weather Service (public domain)",
        "selection_box": list(METRO_BOX),
    }
    write_feature_collection(REGION_DIR / "zones.geojson", header, feats)
    return {f["properties"]["UGC"]: f for f in feats}


def build_region(roads: dict, zones: dict[str, dict]) -> dict:
    xs = [c[0] for f in roads["features"] for c in f["geometry"]["coordinates"]]
    ys = [c[1] for f in roads["features"] for c in f["geometry"]["coordinates"]]
    bbox = [min(xs), min(ys), max(xs), max(ys)]
    county = zones[JURISDICTION_UGC]
    geom = county["geometry"]
    assert geom["type"] == "Polygon"
    poly = shape(geom)
    assert poly.is_valid
    center = [r6((bbox[1] + bbox[3]) / 2), r6((bbox[0] + bbox[2]) / 2)]
    assert poly.contains(Point(center[1], center[0]))
    region = {
        "name": "Portland, Oregon",
        "center": center,
        "zoom": 13,
        "bbox": bbox,
        "timezone": "America/Los_Angeles",
        "coverage": "central Portland: named streets from the West Hills east to NE/SE 33rd Ave and from N Stanton St south to SE Powell Blvd, plus Oregon towns (GeoNames) and NWS zones",
        "jurisdiction_agency": "City of Portland",
        "jurisdiction": {"type": "Polygon", "coordinates": geom["coordinates"]},
        "jurisdiction_source": {
            "ugc": JURISDICTION_UGC,
            "name": f"{county['properties']['COUNTYNAME']} County, OR",
            "fips": county["properties"].get("FIPS"),
            "note": (
                "Demo stand-in: the NWS county polygon for Multnomah County (UGC ORC051, "
                "from zones.geojson) is used as the service area of the demo agency "
                "'City of Portland'; it is larger than the real city limits."
            ),
        },
        "files": {
            "roads": "roads.geojson",
            "places": "places.json",
            "zones": "zones.geojson",
        },
        "attribution": [
            "Roads: © OpenStreetMap contributors, ODbL 1.0",
            "Places: GeoNames (geonames.org), CC BY 4.0",
            "Zones: U.S. National Weather Service (public domain)",
        ],
    }
    # Pretty-print, but keep the jurisdiction coordinates on one line.
    text = json.dumps({**region, "jurisdiction": "@JURISDICTION@"}, ensure_ascii=False, indent=2)
    text = text.replace('"@JURISDICTION@"', dump_compact(region["jurisdiction"]))
    assert json.loads(text) == region
    (REGION_DIR / "region.json").write_text(text + "\n", encoding="utf-8")
    return region


# ---------------------------------------------------------------------------
# 2. Street helper: positions and closure segments from road geometry
# ---------------------------------------------------------------------------

DIRS = {"Northeast": "NE", "Northwest": "NW", "Southeast": "SE", "Southwest": "SW",
        "North": "N", "South": "S", "East": "E", "West": "W"}
TYPES = {"Avenue": "Ave", "Street": "St", "Boulevard": "Blvd", "Parkway": "Pkwy",
         "Drive": "Dr", "Road": "Rd", "Place": "Pl", "Court": "Ct", "Terrace": "Ter",
         "Lane": "Ln", "Bridge": "Bridge", "Way": "Way"}


def core_name(full: str) -> str:
    """'Southeast Hawthorne Boulevard' -> 'Hawthorne'; MLK -> 'MLK'."""
    if "Martin Luther King" in full:
        return "MLK"
    words = full.split()
    if words and words[0] in DIRS:
        words = words[1:]
    if len(words) > 1 and words[-1] in TYPES:
        words = words[:-1]
    return " ".join(words)


class Streets:
    def __init__(self, roads: dict):
        raw: dict[str, list[LineString]] = {}
        for f in roads["features"]:
            name = f["properties"]["name"]
            if name:
                raw.setdefault(name, []).append(to_utm(LineString(f["geometry"]["coordinates"])))
        self.parts: dict[str, list[LineString]] = {}
        self.union: dict[str, object] = {}
        for name, lines in raw.items():
            merged = linemerge(MultiLineString(lines))
            parts = list(merged.geoms) if hasattr(merged, "geoms") else [merged]
            self.parts[name] = parts
            self.union[name] = unary_union(lines)
        self.lines = raw
        self._graphs: dict[str, tuple] = {}

    def crossing(self, a: str, b: str) -> Point:
        """Point (UTM) where street ``a`` meets street ``b`` (must be < 15 m apart)."""
        pa, pb = nearest_points(self.union[a], self.union[b])
        gap = pa.distance(pb)
        if gap > 15:
            raise ValueError(f"{a!r} and {b!r} do not meet (gap {gap:.0f} m)")
        return pa

    def part_near(self, name: str, pt: Point) -> LineString:
        return min(self.parts[name], key=lambda g: g.distance(pt))

    def point(self, on: str, cross: str, along: float = 0.0, side: float = 0.0,
              toward: str | None = None):
        """Position on street ``on`` near its crossing with ``cross``.

        ``along``: metres along ``on`` from the crossing; with ``toward`` (another
        cross street) the distance is measured along the street in that
        direction, otherwise its sign follows the way direction.
        ``side``: lateral metres (sidewalk / GPS scatter).  Returns (lat, lon).
        """
        x = self.crossing(on, cross)
        if toward is not None:
            line = self.path(on, x, self.crossing(on, toward))
            d2 = min(max(along, 0.0), line.length)
        else:
            line = self.part_near(on, x)
            d2 = min(max(line.project(x) + along, 0.0), line.length)
        p = line.interpolate(d2)
        if d2 + 1.0 <= line.length:
            q = line.interpolate(d2 + 1.0)
            dx, dy = q.x - p.x, q.y - p.y
        else:
            q = line.interpolate(d2 - 1.0)
            dx, dy = p.x - q.x, p.y - q.y
        n = math.hypot(dx, dy) or 1.0
        p = Point(p.x - dy / n * side, p.y + dx / n * side)
        assert self.union[on].distance(p) < 20, (on, cross, along, side)
        w = to_wgs(p)
        return r6(w.y), r6(w.x)

    def _graph(self, name: str):
        if name not in self._graphs:
            noded = unary_union(self.lines[name])  # split at every junction
            segs = list(noded.geoms) if hasattr(noded, "geoms") else [noded]
            adj: dict[tuple, list] = {}
            for i, sg in enumerate(segs):
                u, v = _node(sg.coords[0]), _node(sg.coords[-1])
                adj.setdefault(u, []).append((v, i))
                adj.setdefault(v, []).append((u, i))
            self._graphs[name] = (segs, adj)
        return self._graphs[name]

    def path(self, name: str, a: Point, b: Point) -> LineString:
        """Shortest route along the ways of street ``name`` from ``a`` to ``b`` (UTM).

        Consecutive ways of the same street are joined into one coherent line;
        where the street is split into two carriageways one of them is followed.
        """
        segs, adj = self._graph(name)
        ia = min(range(len(segs)), key=lambda i: segs[i].distance(a))
        ib = min(range(len(segs)), key=lambda i: segs[i].distance(b))
        sa, sb = segs[ia], segs[ib]
        da, db = sa.project(a), sb.project(b)
        if ia == ib:
            return substring(sa, da, db)
        start = {_node(sa.coords[0]): (da, 0.0), _node(sa.coords[-1]): (sa.length - da, sa.length)}
        goal = {_node(sb.coords[0]): (db, 0.0), _node(sb.coords[-1]): (sb.length - db, sb.length)}
        dist = {n: c for n, (c, _) in start.items()}
        prev: dict[tuple, tuple] = {}
        heap = [(c, n) for n, c in dist.items()]
        heapq.heapify(heap)
        while heap:
            c, n = heapq.heappop(heap)
            if c > dist.get(n, math.inf):
                continue
            for m, i in adj.get(n, []):
                nc = c + segs[i].length
                if nc < dist.get(m, math.inf):
                    dist[m] = nc
                    prev[m] = (n, i)
                    heapq.heappush(heap, (nc, m))
        g = min((n for n in goal if n in dist), key=lambda n: dist[n] + goal[n][0])
        chain = []  # (from node, to node, segment index), walking back from g
        n = g
        while n in prev:
            m, i = prev[n]
            chain.append((m, n, i))
            n = m
        chain.reverse()
        root = n
        coords = list(substring(sa, da, start[root][1]).coords) if start[root][0] > 0 else [sa.interpolate(da).coords[0]]
        for m, n2, i in chain:
            sc = list(segs[i].coords)
            if _node(sc[0]) != m:
                sc.reverse()
            coords.extend(sc)
        if goal[g][0] > 0:
            coords.extend(substring(sb, goal[g][1], db).coords)
        clean = [coords[0]]
        for c in coords[1:]:
            if math.dist(c, clean[-1]) > 0.01:
                clean.append(c)
        return LineString(clean)

    def segment(self, name: str, from_cross: str, to_cross: str) -> dict:
        """Centre line of ``name`` between two cross streets, as GeoJSON LineString."""
        a = self.crossing(name, from_cross)
        b = self.crossing(name, to_cross)
        seg = self.path(name, a, b)
        straight = a.distance(b)
        assert 200 <= seg.length <= 1500, (name, seg.length)
        assert seg.length < 1.5 * straight + 30, (name, seg.length, straight)
        assert self.union[name].buffer(1.0).contains(seg), name
        return {"type": "LineString", "coordinates": round_line(to_wgs(seg).coords)}


def _node(c) -> tuple:
    return (round(c[0], 2), round(c[1], 2))


# ---------------------------------------------------------------------------
# 3. Scenario content (invented)
# ---------------------------------------------------------------------------

S = {  # short aliases for OSM street names used below
    "hawthorne": "Southeast Hawthorne Boulevard",
    "division": "Southeast Division Street",
    "belmont": "Southeast Belmont Street",
    "clinton": "Southeast Clinton Street",
    "salmon_se": "Southeast Salmon Street",
    "stark_se": "Southeast Stark Street",
    "powell": "Southeast Powell Boulevard",
    "ladd": "Southeast Ladd Avenue",
    "water_se": "Southeast Water Avenue",
    "main_se": "Southeast Main Street",
    "clay_se": "Southeast Clay Street",
    "naito": "Southwest Naito Parkway",
    "salmon_sw": "Southwest Salmon Street",
    "jefferson_sw": "Southwest Jefferson Street",
    "morrison_sw": "Southwest Morrison Street",
    "broadway_sw": "Southwest Broadway",
    "terwilliger": "Southwest Terwilliger Boulevard",
    "campus": "Southwest Campus Drive",
    "samjackson": "Southwest Sam Jackson Park Road",
    "vista": "Southwest Vista Avenue",
    "parkpl": "Southwest Park Place",
    "broadway_ne": "Northeast Broadway",
    "sandy": "Northeast Sandy Boulevard",
    "interstate": "North Interstate Avenue",
    "larrabee": "North Larrabee Avenue",
    "burnside_w": "West Burnside Street",
    "nw21": "Northwest 21st Avenue",
    "nw23": "Northwest 23rd Avenue",
    "glisan": "Northwest Glisan Street",
    "hbridge": "Hawthorne Bridge",
}


def av(quadrant: str, n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{quadrant} {n}{suffix} Avenue"


SE, NE = "Southeast", "Northeast"

# (at, category, street it is on, cross street, metres along, metres to the side, text)
# "cross street" may be a pair (cross street, street to walk toward from it).
CITIZEN_REPORTS = [
    (3.0, "blocked_road", S["belmont"], av(SE, 20), 25, 6,
     "Big limb down on SE Belmont St just past 20th, blocking the eastbound lane. Cars swerving into oncoming to get around it, super sketchy in the dark"),
    (4.5, "damage", S["burnside_w"], S["nw21"], -30, 9,
     "Wind blew in a storefront window on W Burnside St near NW 21st. Glass all over the sidewalk, careful if you're walking"),
    (6.0, "blocked_road", S["hawthorne"], av(SE, 20), 15, 4,
     "Huge tree down across SE Hawthorne Blvd near 20th, both lanes blocked. It took the power line down with it"),
    (8.0, "damage", S["hawthorne"], av(SE, 20), 30, -5,
     "Power lines on the ground on SE Hawthorne Blvd by SE 20th Ave under the fallen tree. Still buzzing!! Keeping people back, pls send PGE"),
    (9.5, "needs_help", S["nw23"], S["glisan"], 20, 5,
     "Tree fell on a parked car on NW 23rd Ave near Glisan. Windows fogged, I can't tell if someone is inside. Please send help"),
    (11.0, "blocked_road", S["hawthorne"], av(SE, 16), 10, 6,
     "SE Hawthorne Blvd at 16th, cars doing U-turns in the middle of the road because of the tree a few blocks up. Nobody directing traffic yet"),
    (12.0, "other", S["interstate"], S["larrabee"], 10, 8,
     "Traffic signals dark at N Interstate Ave and Larrabee. Some people stopping, some not. Accident waiting to happen"),
    (14.0, "blocked_road", S["terwilliger"], S["campus"], -40, 5,
     "Two trees across SW Terwilliger Blvd just past Campus Dr, no way through in either direction"),
    (15.5, "blocked_road", S["terwilliger"], S["samjackson"], 35, -6,
     "SW Terwilliger Blvd near Sam Jackson Park Rd completely blocked by a big fir. Hospital staff trying to get up the hill for shift change, tell them to go around"),
    (18.0, "damage", S["broadway_ne"], av(NE, 7), -20, 5,
     "power line down across NE Broadway near 7th Ave, sparking on the wet pavement. Traffic stopped both ways"),
    (20.0, "blocked_road", S["broadway_ne"], av(NE, 9), 10, 6,
     "NE Broadway blocked at 9th, the downed line is a block or two west. Police just got here and are turning cars around"),
    (21.0, "needs_help", S["salmon_se"], av(SE, 20), 40, 7,
     "My neighbor on SE Salmon St near 20th is on home oxygen and the power's out. Her backup tank is getting low. Can someone check on her?"),
    (23.0, "damage", S["ladd"], "Southeast Harrison Street", 15, 6,
     "Part of a roof came off a house on SE Ladd Ave near Harrison. Shingles and a gutter in the street, watch out biking through"),
    (26.0, "flooding", S["clinton"], av(SE, 26), 10, 4,
     "Storm drain clogged with leaves at SE Clinton St and 26th, water across the whole intersection, maybe 6 inches deep"),
    (27.5, "smoke", S["division"], av(SE, 26), -35, 8,
     "Smelling smoke on SE Division St around 26th. A transformer blew a few minutes ago, loud bang and a blue flash"),
    (28.5, "spot_fire", S["division"], av(SE, 26), 20, 9,
     "FIRE on SE Division St near 26th!! Power line fell on a hedge and it's burning, flames getting close to the house next to it"),
    (30.0, "spot_fire", S["division"], av(SE, 28), -15, 7,
     "Flames at the base of a utility pole on SE Division St by 28th. Wind is pushing sparks east along the street"),
    (31.0, "smoke", av(SE, 26), (S["clinton"], S["division"]), 70, 6,
     "Thick smoke blowing down SE 26th Ave toward Clinton. Can't see the fire from here but smells like burning wood and plastic"),
    (32.5, "needs_help", S["division"], av(SE, 27), 10, 10,
     "We're on SE Division St near 27th, fire is 2 houses away. My dad uses a wheelchair and we can't get him down the front steps. Please send someone"),
    (37.0, "smoke", S["hawthorne"], av(SE, 26), 10, 6,
     "Smoke drifting over SE Hawthorne Blvd at 26th, ash landing on the parked cars"),
    (38.0, "flooding", S["naito"], S["salmon_sw"], 15, 8,
     "Water over SW Naito Pkwy near Salmon St by the fountain. River is really high and the drains are backing up"),
    (39.5, "flooding", S["water_se"], S["salmon_se"], -20, 5,
     "SE Water Ave flooded near Salmon under the freeway. A car is stalled in it"),
    (42.0, "flooding", S["naito"], S["morrison_sw"], -15, 7,
     "SW Naito Pkwy at Morrison St, water bubbling up out of the storm drains, right lane flooded"),
    (43.0, "needs_help", S["water_se"], S["main_se"], 25, 4,
     "Stuck in my car on SE Water Ave near Main, water up to the doors and the engine died. Not sure if I should get out??"),
    (45.5, "damage", S["hbridge"], (S["naito"], S["water_se"]), 180, 4,
     "A big sign panel ripped off and is lying on the Hawthorne Bridge deck. Bridge is really moving in the gusts"),
    (47.0, "blocked_road", S["hbridge"], (S["water_se"], S["naito"]), 330, -4,
     "Hawthorne Bridge blocked, debris on the deck and a bus stopped mid span. Cyclists walking their bikes back off"),
    (52.0, "flooding", S["powell"], av(SE, 21), 20, 9,
     "SE Powell Blvd by 21st, curb lane totally flooded. Cars are throwing water over the sidewalk, soaked a guy at the bus stop"),
    (53.5, "damage", S["sandy"], av(NE, 28), 15, 8,
     "Awning torn off a shop on NE Sandy Blvd near 28th. Metal frame is hanging over the sidewalk, looks ready to fall"),
    (55.0, "other", S["broadway_sw"], S["salmon_sw"], 10, 7,
     "Traffic lights out along SW Broadway downtown. Officer directing traffic at Salmon, everything else is a free for all"),
    (57.0, "blocked_road", S["vista"], S["parkpl"], -45, 5,
     "Rocks and mud slid onto SW Vista Ave just below Park Place, one lane covered. Slow down on the curve"),
    (58.5, "spot_fire", S["division"], av(SE, 26), 25, -8,
     "Fire on SE Division St near 26th looks mostly out now, firefighters still spraying the house next door. Lines still down in the street"),
    (60.0, "smoke", av(SE, 20), S["division"], 30, 6,
     "SE 20th Ave at Division, smoke thick enough to make your eyes water. Closing my windows"),
    (62.0, "needs_help", S["terwilliger"], S["campus"], 60, -6,
     "Walking on SW Terwilliger Blvd near Campus Dr, a woman got hit by a falling branch. She's awake but bleeding from her head. Need an ambulance"),
    (63.5, "damage", S["nw23"], S["glisan"], 25, -6,
     "Update from NW 23rd Ave & Glisan: firefighters checked the car under the tree, nobody inside thank god. Tree still blocking the road"),
    (65.0, "blocked_road", av(SE, 12), S["hawthorne"], 20, 6,
     "SE 12th Ave at Hawthorne: big branch in the crosswalk and everyone is getting diverted here from the Hawthorne closure. Backed up for blocks"),
    (66.0, "flooding", S["naito"], S["jefferson_sw"], 20, -7,
     "Naito Pkwy at Jefferson St, water reaching the sidewalk now, the waterfront path is underwater"),
    (68.0, "damage", S["belmont"], av(SE, 20), -40, 7,
     "Second tree down on SE Belmont St near 20th, this one landed on a porch. The people inside are ok, just shaken up"),
    (69.5, "other", S["sandy"], av(NE, 28), -10, 6,
     "Smells like gas on NE Sandy Blvd near 28th since the awning came down. Not sure if related, someone should check"),
    (71.0, "flooding", S["clinton"], av(SE, 26), -15, 5,
     "SE Clinton St at 26th still flooded. A neighbor is out with a rake trying to clear the drain"),
    (73.0, "blocked_road", S["broadway_ne"], "Northeast 2nd Avenue", 15, 6,
     "NE Broadway at 2nd, barricades up, everyone being sent over to Weidler. Slow going"),
    (74.5, "damage", S["stark_se"], av(SE, 20), 20, 8,
     "Chimney collapsed onto two parked cars on SE Stark St near 20th. Bricks all over the road"),
    (76.0, "needs_help", S["ladd"], "Southeast Harrison Street", -30, 8,
     "Elderly man on SE Ladd Ave near Harrison can't get out, his door is blocked by a fallen tree. He's calling us from inside. Please help"),
    (78.0, "other", S["burnside_w"], S["nw21"], 40, -7,
     "Street lights and signals out on W Burnside St around 21st, super dark. Drive slow"),
    (80.0, "smoke", S["division"], av(SE, 30), -20, 6,
     "Light smoke still hanging over SE Division St near 30th but I don't see flames anymore"),
    (81.5, "blocked_road", S["interstate"], S["larrabee"], -60, 6,
     "Tree branch down across N Interstate Ave near Larrabee, covering the MAX tracks too. Train stopped"),
    (84.0, "damage", S["sandy"], av(NE, 28), 30, -8,
     "Signal pole on NE Sandy Blvd at 28th is leaning badly after that last gust. Could come down"),
    (86.0, "other", S["hawthorne"], av(SE, 20), 5, 8,
     "Crews cutting up the tree on SE Hawthorne Blvd at 20th. Utility truck waiting to shut off the line before they move the rest"),
    (87.0, "flooding", S["water_se"], S["main_se"], 10, -5,
     "Water going down on SE Water Ave near Main. Tow truck pulling out the stalled car now"),
    (88.5, "damage", S["vista"], S["parkpl"], -20, -6,
     "Couple of big rocks still in the lane on SW Vista Ave by Park Place after the slide. Someone put cones out"),
    (89.5, "needs_help", S["powell"], av(SE, 21), -25, 8,
     "Bus stop on SE Powell Blvd at 21st, older lady soaked and shivering, no buses coming. Is there a warming shelter open nearby?"),
]

# (at, reference, road, from cross street, to cross street, reason, end offset minutes)
ROAD_CLOSURES = [
    (17.0, "PBOT-2026-001", S["hawthorne"], av(SE, 16), av(SE, 24),
     "Large tree and energized power lines down across all lanes near SE 20th Ave", 240),
    (22.0, "PBOT-2026-002", S["terwilliger"], S["campus"], S["samjackson"],
     "Multiple trees down across the roadway", 360),
    (24.5, "PBOT-2026-003", S["broadway_ne"], "Northeast 2nd Avenue", av(NE, 9),
     "Downed power lines across the roadway near NE 7th Ave", 180),
    (34.0, "PBOT-2026-004", S["division"], av(SE, 20), av(SE, 30),
     "Fire response: vegetation/structure fire started by downed power lines near SE 26th Ave", 300),
    (44.5, "PBOT-2026-005", S["naito"], S["jefferson_sw"], S["morrison_sw"],
     "Roadway flooding from high Willamette River levels and blocked storm drains", 480),
    (50.0, "PBOT-2026-007", S["water_se"], S["clay_se"], S["salmon_se"],
     "Roadway flooding; stalled vehicles in standing water", 240),
    (57.5, "PBOT-2026-008", S["vista"], S["parkpl"], S["jefferson_sw"],
     "Landslide debris (mud and rocks) partially blocking the roadway", 720),
]
# The Hawthorne Bridge closure uses the bridge span between the two river banks.
BRIDGE_CLOSURE = (48.0, "PBOT-2026-006", S["hbridge"], "Southwest Naito Parkway", "Southeast Water Avenue",
                  "Bridge closed to all traffic: high winds and debris on the deck; inspection pending", 180)

# (at, text, (on, cross, along, side) or None, is_noise)
SOCIAL = [
    (1.0, "Wind just woke me up, it sounds like a freight train outside. Anyone else in SE hearing this? #pdxwx", None, False),
    (7.0, "Massive tree just came down on Hawthorne by 20th and took the power lines with it. Whole block went dark. Stay away, wires on the road", (S["hawthorne"], av(SE, 20), 20, 10), False),
    (13.0, "can't sleep so I'm eating leftover pie at 2am, no regrets", None, True),
    (19.0, "Power lines down on NE Broadway by 7th, sparks everywhere. Do NOT drive over them!!", (S["broadway_ne"], av(NE, 7), -10, 8), False),
    (25.0, "Power is out across Buckman and Sunnyside it looks like. Outage map is lit up all over inner SE #pdxstorm", None, False),
    (29.0, "There's a fire on Division near 26th, a downed power line lit up the bushes. Called 911. Please avoid the area #portland", (S["division"], av(SE, 26), 30, 12), False),
    (36.0, "Evacuation alert just went off on my phone for around SE Division & 26th. Stay safe everyone", None, False),
    (41.0, "Naito is flooded near Salmon Street Springs. Waterfront Park looks like a lake right now", (S["naito"], S["salmon_sw"], 40, -12), False),
    (48.0, "Hawthorne Bridge is closed. Use the Morrison or Ross Island bridges and expect delays", None, False),
    (56.0, "Black Friday doorbuster line already around the block at this hour?? people are wild", None, True),
    (61.0, "Mudslide on Vista Ave just below the Vista bridge, one lane open. Be careful up there", (S["vista"], S["parkpl"], -30, 8), False),
    (67.0, "Trees down all over Ladd's Addition, it's a mess. Stay home if you can #pdxstorm", (S["ladd"], "Southeast Harrison Street", 40, -10), False),
    (72.0, "Firefighters pumping water off Naito near Morrison. Don't drive through standing water people", (S["naito"], S["morrison_sw"], 10, 12), False),
    (77.0, "finally finished the puzzle my aunt gave me, 1000 pieces of pure sky", None, True),
    (83.0, "Hawthorne still closed east of 12th, crews cutting up the tree now. Detour via Madison is slow", (av(SE, 12), S["hawthorne"], -15, 10), False),
]

# Extra everyday posts for the standalone social file only (no crisis keywords).
EXTRA_NOISE_POSTS = [
    (4.0, "Any recommendations for a dog groomer in Sellwood? Ours retired"),
    (11.0, "Leftover turkey sandwiches for the third day in a row and honestly no complaints"),
    (22.0, "The new ramen place on Alberta is legit, get the spicy miso"),
    (33.0, "Timbers watch party Sunday, who's in?"),
    (39.0, "My cat has decided that 2am is zoomies hour"),
    (47.0, "Pro tip: the library has free museum passes, just reserve them online"),
    (58.0, "Bird count this weekend at Oaks Bottom, bring binoculars"),
    (64.0, "Knitting circle moved to Thursday this week, same cafe"),
    (75.0, "Does anyone know if the farmers market runs through December?"),
    (88.0, "Just booked tickets for the holiday lights at the zoo, so excited"),
]

CRISIS_KEYWORDS = ("fire", "smoke", "flood", "tree", "closed", "evacuat", "power", "power line", "wires",
                   "help", "wind", "storm", "outage", "emergency", "sparks", "mudslide", "911")


def build_scenario(streets: Streets, region: dict, zones: dict[str, dict]) -> tuple[list, list]:
    events: list[tuple[float, int, dict]] = []  # (at, seq, event)
    seq = 0

    def add(at: float, etype: str, body: dict) -> None:
        nonlocal seq
        events.append((at, seq, {"at": float(at), "type": etype, "body": body}))
        seq += 1

    jurisdiction = shape(region["jurisdiction"])

    # --- citizen reports
    for at, cat, on, cross, along, side, text in CITIZEN_REPORTS:
        assert len(text) <= 300, text
        key = core_name(on).lower()
        assert key in text.lower(), (key, text)
        toward = None
        if isinstance(cross, tuple):  # (cross street, direction toward this street)
            cross, toward = cross
        lat, lon = streets.point(on, cross, along, side, toward)
        add(at, "citizen_report", {"category": cat, "lat": lat, "lon": lon, "text": text})

    # --- road closures
    closures = []
    for at, ref, road, a, b, reason, end in ROAD_CLOSURES:
        geom = streets.segment(road, a, b)
        closures.append((at, ref, road, reason, end, geom))
    at, ref, road, a, b, reason, end = BRIDGE_CLOSURE
    closures.append((at, ref, road, reason, end, streets.segment(road, a, b)))
    for at, ref, road, reason, end, geom in closures:
        assert jurisdiction.contains(shape(geom)), ref
        add(at, "road_closure", {
            "reference": ref,
            "reason": reason,
            "geometry": geom,
            "start_offset_minutes": 0,
            "end_offset_minutes": end,
            "road_name": road,
        })

    # --- alerts
    wind_zone = shape(zones[WIND_ZONE_UGC]["geometry"]).simplify(0.003, preserve_topology=True)
    add(0.0, "alert", {
        "tier": "public_safety",
        "event": "High Wind Warning",
        "headline": "High Wind Warning for the Portland metro area until 8 AM PST: south winds 35-45 mph, gusts to 70 mph",
        "description": (
            "South winds 35 to 45 mph with gusts up to 70 mph are expected across the inner "
            "Portland metro area through early morning. Damaging winds will blow down trees and "
            "power lines. Widespread power outages are expected. Travel will be difficult, "
            "especially for high-profile vehicles and on the Willamette River bridges."
        ),
        "instruction": (
            "Stay indoors and away from windows. Avoid wooded areas. Stay at least 35 feet away "
            "from downed power lines and report them to 911. Do not drive unless necessary."
        ),
        "area": polygon_geojson(wind_zone),
        "expires_in_minutes": 360,
    })

    fire_lat, fire_lon = streets.point(S["division"], av(SE, 26), 20, 0)
    add(35.0, "alert", {
        "tier": "imminent_threat_severe",
        "event": "Evacuation Immediate",
        "headline": "EVACUATE NOW: fire and downed power lines near SE Division St & SE 26th Ave",
        "description": (
            "Portland Fire & Rescue is fighting a fire started by downed power lines near SE "
            "Division St and SE 26th Ave. Strong winds are spreading embers toward nearby homes. "
            "Energized lines are down in the street."
        ),
        "instruction": (
            "If you are within 400 meters of SE Division St and SE 26th Ave, leave now. Go north "
            "toward SE Hawthorne Blvd or west toward SE 20th Ave. Do not approach the downed lines. "
            "If you need help evacuating, call 911."
        ),
        "area": {"circle": {"lat": fire_lat, "lon": fire_lon, "radius_km": 0.4}},
        "expires_in_minutes": 120,
    })

    flood_refs = ("PBOT-2026-005", "PBOT-2026-007")
    flood_lines = [to_utm(shape(c[5])) for c in closures if c[1] in flood_refs]
    flood_area = to_wgs(unary_union(flood_lines).convex_hull.buffer(150, quad_segs=4))
    add(51.0, "alert", {
        "tier": "public_safety",
        "event": "Flood Advisory",
        "headline": "Flood Advisory: Willamette riverfront, downtown and Central Eastside, until 10 AM PST",
        "description": (
            "High water on the Willamette River combined with heavy rain and leaf-clogged storm "
            "drains is flooding low-lying streets along the riverfront, including SW Naito Pkwy "
            "and SE Water Ave. Several vehicles have stalled in standing water."
        ),
        "instruction": (
            "Turn around, don't drown: do not drive or walk through flooded streets. Stay off the "
            "waterfront paths. Move vehicles out of low-lying riverfront parking areas."
        ),
        "area": polygon_geojson(flood_area),
        "expires_in_minutes": 480,
    })

    clat, clon = region["center"]
    add(85.0, "alert", {
        "tier": "test",
        "event": "Required Monthly Test",
        "headline": "TEST: City of Portland emergency alert system test. No action required",
        "description": "This is a test of the City of Portland emergency alerting system. This is only a test.",
        "instruction": "No action is required.",
        "area": {"circle": {"lat": clat, "lon": clon, "radius_km": 5.0}},
        "expires_in_minutes": 30,
    })

    # --- social posts
    posts = []
    for i, (at, text, where, noise) in enumerate(SOCIAL, start=1):
        has_kw = any(k in text.lower() for k in CRISIS_KEYWORDS)
        assert has_kw != noise, text
        lat = lon = None
        if where:
            lat, lon = streets.point(*where)
        body = {
            "id": f"demo-post-{i}",
            "text": text,
            "created_at_offset_s": float(at),
            "lat": lat,
            "lon": lon,
            "author": f"demo_user_{i}",
            "lang": "en",
        }
        posts.append(body)
        add(at, "social_post", body)

    events.sort(key=lambda e: (e[0], e[1]))
    ordered = [e[2] for e in events]
    SCENARIO_FILE.write_text("".join(dump_compact(e) + "\n" for e in ordered), encoding="utf-8")
    return ordered, posts


def polygon_geojson(poly: Polygon) -> dict:
    assert poly.geom_type == "Polygon" and poly.is_valid
    ring = round_line(poly.exterior.coords)
    if ring[0] != ring[-1]:
        ring.append(ring[0])
    out = Polygon(ring)
    assert out.is_valid and len(ring) >= 4
    return {"type": "Polygon", "coordinates": [ring]}


def iso(offset_s: float) -> str:
    t = SCENARIO_EPOCH + timedelta(seconds=offset_s)
    if t.microsecond:
        return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_social(posts: list[dict]) -> list[dict]:
    rows = []
    for p in posts:
        rows.append((p["created_at_offset_s"], {
            "id": p["id"], "text": p["text"], "created_at": iso(p["created_at_offset_s"]),
            "lat": p["lat"], "lon": p["lon"], "author": p["author"], "lang": p["lang"],
        }))
    n = len(posts)
    for j, (at, text) in enumerate(EXTRA_NOISE_POSTS, start=n + 1):
        assert not any(k in text.lower() for k in CRISIS_KEYWORDS), text
        rows.append((at, {
            "id": f"demo-post-{j}", "text": text, "created_at": iso(at),
            "lat": None, "lon": None, "author": f"demo_user_{j}", "lang": "en",
        }))
    rows.sort(key=lambda r: r[0])
    out = [r[1] for r in rows]
    SOCIAL_FILE.write_text("".join(dump_compact(r) + "\n" for r in out), encoding="utf-8")
    return out


def main() -> int:
    for p in (SRC_ROADS, SRC_PLACES, SRC_ZONES):
        if not p.exists():
            print(f"missing input: {p}", file=sys.stderr)
            return 1
    for d in (REGION_DIR, SCENARIO_FILE.parent, SOCIAL_FILE.parent):
        d.mkdir(parents=True, exist_ok=True)
    roads = build_roads()
    places = build_places()
    zones = build_zones()
    region = build_region(roads, zones)
    streets = Streets(roads)
    events, posts = build_scenario(streets, region, zones)
    social = build_social(posts)
    counts: dict[str, int] = {}
    for e in events:
        counts[e["type"]] = counts.get(e["type"], 0) + 1
    print(f"roads: {len(roads['features'])} features; places: {len(places)}; zones: {len(zones)}")
    print(f"scenario events: {len(events)} {counts}; social file posts: {len(social)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
