"""The region's name indexes: roads, places and zones by normalised key; crossings of two roads.

Built lazily from a :class:`~mapping.regions.Region` (``region.gazetteer``). Every lookup
is by the keys of :mod:`mapping.names`, so spelling variants meet on one key. Distances
and crossings are computed in the region's projected CRS (metres).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

import shapely
from rapidfuzz import fuzz, process
from shapely.geometry import Point

from mapping.names import normalise, numbers, road_keys, short_name
from mapping.regions import Place, Region, Road, Zone

CROSS_TOLERANCE_M = 15.0   # two roads "cross" when their centre lines come this close
CLUSTER_M = 80.0           # crossing points closer than this are one intersection (dual carriageways)
FUZZY_CUTOFF = 86.0        # rapidfuzz ratio score (0..100) for a typo-tolerant match
SUGGEST_CUTOFF = 60.0      # ... and for a "did you mean" suggestion
LOCAL_KM = 120.0           # places farther than this from the region centre need BIG_PLACE people
BIG_PLACE = 50_000         # ... and only such places are also known by their alternate names ("PDX")
_UGC = re.compile(r"^[a-z]{2}[cz]\d{3}$")


@dataclass(frozen=True)
class RoadHit:
    """A road found under a key; ``level`` 0 = full name, 1 = partial (direction or type), 2 = core only."""

    road: Road
    level: int


class Gazetteer:
    """Name -> roads / places / zones for one region."""

    def __init__(self, region: Region) -> None:
        self.region = region
        roads: dict[str, dict[str, int]] = defaultdict(dict)
        for road in region.road_list:
            for part in road.name.split(";"):  # OSM joins several names with ";"
                keys = road_keys(part)
                for level, key in enumerate(keys):
                    lvl = 0 if level == 0 else (2 if level == len(keys) - 1 else 1)
                    if roads[key].get(road.name, 9) > lvl:
                        roads[key][road.name] = lvl
            for ref in road.refs:
                for key in _ref_keys(ref):
                    roads[key].setdefault(road.name, 0)
        self.roads: dict[str, list[RoadHit]] = {
            k: sorted((RoadHit(region.roads[n], lvl) for n, lvl in v.items()),
                      key=lambda h: (h.level, -h.road.rank, -h.road.length_m, h.road.name))
            for k, v in roads.items()}
        places: dict[str, list[Place]] = defaultdict(list)
        cx, cy = _centre(region)
        for place in region.places:
            if place.population < BIG_PLACE and _km(place, cx, cy) > LOCAL_KM:
                continue  # a small town far away is more likely a namesake word than the place meant
            alternates = place.alternatenames if place.population >= BIG_PLACE else ()
            for name in dict.fromkeys((place.name, *alternates)):
                key = normalise(name)
                if len(key) >= 3 and key.isascii() and place not in places[key]:
                    places[key].append(place)
        self.places = {k: sorted(v, key=lambda p: -place_score(p, cx, cy)) for k, v in places.items()}
        zones: dict[str, list[Zone]] = defaultdict(list)
        for zone in region.zones.values():
            zones[zone.code.lower()].append(zone)
            name = normalise(zone.name)
            if zone.code[2] == "C":
                zones[f"{name} county"].append(zone)
            else:
                zones[name].append(zone)
        self.zones = dict(zones)
        self.region_keys = {normalise(region.name), normalise(region.name.split(",")[0])}
        all_keys = set(self.roads) | set(self.places) | set(self.zones)
        self.max_tokens = max((len(k.split()) for k in all_keys), default=1)
        self.prefixes = {tuple(k.split()[:n]) for k in all_keys for n in range(1, len(k.split()) + 1)}
        self.road_cores = sorted(k for k, hits in self.roads.items() if any(h.level == 2 for h in hits))
        self.place_keys = sorted(self.places)
        self._fuzzy_keys = sorted(set(self.roads) | set(self.places))

    def road(self, key: str) -> list[RoadHit]:
        """Roads under a normalised key, best first (exact level, then larger and longer roads)."""
        return self.roads.get(key, [])

    def candidates(self, key: str) -> list[RoadHit]:
        """Roads for a written name, also under its shorter keys ("N High St" -> "High St"), then typos."""
        hits: dict[str, RoadHit] = {}
        for extra, k in enumerate(road_keys(key)):
            for h in self.road(k):
                hits.setdefault(h.road.name, RoadHit(h.road, min(2, h.level + extra)))
        if not hits:
            for close, _ in self.fuzzy(key, limit=1):
                return self.road(close)
        return sorted(hits.values(), key=lambda h: (h.level, -h.road.rank, -h.road.length_m, h.road.name))

    def exact_roads(self, text: str) -> list[RoadHit]:
        """Roads whose name (or ref) is ``text`` once normalised: case, punctuation and the standard
        abbreviations ("Southeast" = "SE", "Avenue" = "Ave") are the only liberties taken."""
        return [h for h in self.road(normalise(text)) if h.level == 0]

    def zone(self, key: str) -> list[Zone]:
        return self.zones.get(key, [])

    def is_zone_code(self, key: str) -> bool:
        return bool(_UGC.match(key))

    def fuzzy(self, key: str, choices: list[str] | None = None, cutoff: float = FUZZY_CUTOFF,
              limit: int = 3) -> list[tuple[str, float]]:
        """Close keys to ``key`` (typos), best first: ``[(key, score 0..100)]``.

        Never a key with other numbers: "se 39th ave" is not a typo of "se 9th ave" or "se 99th ave".
        """
        if not key:
            return []
        found = process.extract(key, choices if choices is not None else self._fuzzy_keys, scorer=fuzz.ratio,
                                score_cutoff=cutoff, limit=None)
        wanted = numbers(key)
        same = [(k, float(s)) for k, s, _ in found if numbers(k) == wanted]
        return sorted(same, key=lambda t: (-t[1], t[0]))[:limit]

    def suggest_roads(self, text: str, *, among: list[Road] | None = None, limit: int = 5) -> list[str]:
        """Road names (short form, as written in the region) that ``text`` may mean, best first.

        First the roads ``text`` names loosely (without a direction or type: "12th" -> "SE 12th Ave"),
        then similar spellings. A numbered street is offered only under its own number or as a
        nearby number of the same form ("SE 39th Ave" -> "SE 33rd Ave", "SE 32nd Ave"), each under
        its own name. ``among`` limits the answer to those roads (e.g. the ones crossing a road).
        """
        key = normalise(text)
        if not key:
            return []
        allowed = {r.name for r in among} if among is not None else None
        names: list[str] = []
        for hit in self.candidates(key):
            if allowed is None or hit.road.name in allowed:
                names += written_names(hit.road, key)
        wanted, shape = numbers(key), _shape(key)
        ranked = []
        for road in (among if among is not None else self.region.road_list):
            for part in _parts(road.name):
                k = normalise(part)
                if numbers(k) or wanted:
                    if len(numbers(k)) != len(wanted):
                        continue
                    score = fuzz.ratio(shape, _shape(k))
                    apart = sum(abs(a - b) for a, b in zip(numbers(k), wanted))
                else:
                    score, apart = fuzz.ratio(key, k), 0
                if score >= SUGGEST_CUTOFF:
                    ranked.append((-round(score), apart, short_name(part)))
        names += [name for _, _, name in sorted(ranked)]
        return list(dict.fromkeys(names))[:limit]

    def crossings(self, a: Road, b: Road) -> list[Point]:
        """Where two roads cross (points in metres, region CRS), one per intersection, west to east."""
        return _crossings(self.region.key, a.name, b.name, self)


def written_names(road: Road, key: str) -> list[str]:
    """The short form of the names of ``road`` that ``key`` stands for (OSM joins several with ";")."""
    parts = _parts(road.name)
    named = [short_name(p) for p in parts if key in road_keys(p)]
    return named or [short_name(p) for p in parts]


def _parts(name: str) -> list[str]:
    return [p.strip() for p in name.split(";") if p.strip()]


def _shape(key: str) -> str:
    """A normalised name with its numbers blanked: ``"se 39th ave" -> "se # ave"``."""
    return " ".join("#" if any(c.isdigit() for c in w) else w for w in key.split())


def _ref_keys(ref: str) -> list[str]:
    key = normalise(ref)
    parts = key.split()
    keys = [key, key.replace(" ", "")]
    if parts and parts[0] == "i":
        keys += [f"interstate {' '.join(parts[1:])}", f"i{''.join(parts[1:])}"]
    if len(parts) == 2 and parts[0] in ("us", "or", "oh", "sr"):
        keys += [f"highway {parts[1]}", f"hwy {parts[1]}", f"route {parts[1]}"]
    return list(dict.fromkeys(k for k in keys if k))


def _centre(region: Region) -> tuple[float, float]:
    b = region.meta["bbox"]
    return (b[0] + b[2]) / 2, (b[1] + b[3]) / 2


def _km(p: Place, lon: float, lat: float) -> float:
    """Approximate distance in km (equirectangular; only used for ranking and the LOCAL_KM cut)."""
    return math.hypot((p.lon - lon) * 111.3 * math.cos(math.radians(lat)), (p.lat - lat) * 111.3)


def place_score(p: Place, lon: float, lat: float) -> float:
    """Larger and nearer to the region centre scores higher (unitless)."""
    return math.log10(p.population + 10) - _km(p, lon, lat) / 50.0


@lru_cache(maxsize=4096)
def _crossings(region_key: str, a_name: str, b_name: str, gaz: Gazetteer) -> list[Point]:
    a, b = gaz.region.roads[a_name], gaz.region.roads[b_name]
    if a_name == b_name or a.line_m.distance(b.line_m) > CROSS_TOLERANCE_M:
        return []
    inter = shapely.intersection(a.line_m, b.line_m)
    pts = [g for g in shapely.get_parts(shapely.extract_unique_points(inter))] if not inter.is_empty else []
    if not pts:  # near miss (a T junction drawn a few metres short): the middle of the shortest gap
        gap = shapely.shortest_line(a.line_m, b.line_m)
        pts = [gap.interpolate(0.5, normalized=True)]
    clusters: list[list[Point]] = []
    for p in sorted(pts, key=lambda q: (q.x, q.y)):
        for c in clusters:
            if c[0].distance(p) <= CLUSTER_M:
                c.append(p)
                break
        else:
            clusters.append([p])
    return [shapely.centroid(shapely.multipoints(c)) for c in clusters]
