"""Forward geocoding, place mentions in free text, and reverse geocoding, offline, per region.

- :func:`geocode` — a whole place string ("Gresham", "SE Foster Rd", "Foster and 82nd",
  "ORZ006") -> the best :class:`PlaceMatch` or ``None``.
- :func:`extract_places` — the spans of a report or post that name places, roads or
  intersections, each geocoded; ``[]`` when nothing is named (it never guesses).
- :func:`reverse` — a point -> nearest named road and place, with a label.

Geometries out are GeoJSON in WGS 84 (lon/lat degrees); distances are metres measured in
the region's projected CRS. Everything is deterministic: the same input gives the same output.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import shapely
from shapely.geometry import Point, mapping

from emergency.errors import ConfigError
from emergency.events import GeoPrecision
from emergency.geocoding import Located
from emergency.geometry import check_lat_lon
from mapping.gazetteer import Gazetteer, RoadHit
from mapping.names import CONNECTORS, DIRECTIONS, STREET_TYPES, canonical_tokens, fold, normalise, short_name
from mapping.regions import Place, Region, Road, Zone, load_region

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 300        # longer "place strings" are treated as free text
STREET_CONTEXT = {"on", "at", "along", "near", "off", "down", "up", "onto", "of", "and", "crossing", "by",
                  "between", "from", "to", "past", "via", "x"}
# capitalised core names that are also everyday words: only trusted with a street type, a
# direction, a street preposition, or as half of an intersection
COMMON_WORDS = {
    "main", "park", "oak", "pine", "water", "front", "market", "mill", "grand", "union", "lake", "river", "hill",
    "high", "broad", "center", "spring", "church", "school", "college", "green", "bridge", "state", "city", "king",
    "sunset", "summit", "view", "vista", "hall", "fire", "smoke", "flood", "power", "police", "help", "madison", "jefferson", "washington", "lincoln", "grant", "hood", "salmon", "wood", "rose", "harbor",
    "now", "today", "this", "that", "the", "there", "here", "please", "stay", "home", "road", "street", "all",
    "still", "huge", "big", "tree", "trees", "down", "out", "closed", "open", "near", "just", "east", "west",
    "north", "south", "first", "second", "third", "rain", "wind", "storm", "ice", "snow", "mall", "lots",
    "cedar", "ash", "alder", "elm", "maple", "birch", "holly", "laurel", "spruce", "fir", "hazel", "division",
    "gate", "gates", "sisters", "boring", "drain", "echo", "banks", "riverside", "jersey", "clay",
    "taylor", "morrison", "stark", "burnside", "hawthorne", "belmont", "clinton", "village", "town", "garden",
    "forest", "meadow", "ridge", "creek", "valley", "glen", "grove", "heights", "square", "plaza", "central",
}
CLOSURE_WORDS = {"closed", "blocked", "shut", "flooded", "reopened", "open", "is", "was", "now", "fully", "both",
                 "ways", "directions", "lanes"}
MENTION_ORDER = {"intersection": 0, "road": 1, "place": 2, "region": 3}
_TOKEN = re.compile(r"[^\W_]+|[&@/]", re.UNICODE)
_ORDINAL_WORD = re.compile(r"^\d{1,4}(st|nd|rd|th)$")


@dataclass(frozen=True)
class PlaceMatch:
    """One geocoded place. ``geometry`` is GeoJSON, WGS 84."""

    text: str                         # the matched text as written
    span: tuple[int, int] | None      # character offsets in the input (None for whole-query geocoding)
    kind: str                         # "place" | "road" | "intersection" | "region"
    names: tuple[str, ...]            # canonical names matched (e.g. ("SE Foster Rd", "SE 82nd Ave"))
    geometry: dict                    # Point for place/intersection, (Multi)LineString for road, polygon for region
    precision: str                    # "street" | "intersection" | "place" | "region"
    confidence: float                 # 0..1
    label: str = ""                   # human label, e.g. "SE Foster Rd & SE 82nd Ave, Portland"


@dataclass
class _Token:
    raw: str
    word: str          # folded
    start: int
    end: int


@dataclass
class _Mention:
    i: int             # first token
    j: int             # one past the last token
    kind: str          # road | place | region
    roads: list[RoadHit]
    places: list[Place]
    zones: list[Zone]
    trusted: bool      # acceptable on its own (not only as half of an intersection)
    fuzzy: bool = False


# ---------------------------------------------------------------- whole-query geocoding

def geocode(query: str, region: Region) -> PlaceMatch | None:
    """The best match for a whole place string, or ``None`` when nothing in the region matches."""
    if not isinstance(query, str) or not query.strip():
        return None
    if len(query) > MAX_QUERY_CHARS:
        found = extract_places(query, region)
        return _whole(found[0]) if found else None
    gaz = region.gazetteer
    key = normalise(query)
    if not key:
        return None
    parts = _split_intersection(key)
    if parts:
        m = _intersection_match(gaz, [h for h in gaz.candidates(parts[0])], gaz.candidates(parts[1]))
        if m is not None:
            return _label(region, PlaceMatch(query.strip(), None, "intersection", m[0], m[1], "intersection", 0.95))
    exact = _exact(gaz, key, query.strip(), region)
    if exact is not None:
        return exact
    for close, score in gaz.fuzzy(key):
        m = _exact(gaz, close, query.strip(), region)
        if m is not None:
            return _label(region, PlaceMatch(m.text, None, m.kind, m.names, m.geometry, m.precision,
                                             round(m.confidence * score / 100.0, 3)))
    found = [m for m in extract_places(query, region)
             if m.confidence >= 0.75 or (m.span[1] - m.span[0]) * 5 >= len(query.strip()) * 3]
    return _whole(found[0]) if found else None


def _whole(m: PlaceMatch) -> PlaceMatch:
    return PlaceMatch(m.text, None, m.kind, m.names, m.geometry, m.precision, m.confidence, m.label)


def _split_intersection(key: str) -> tuple[str, str] | None:
    words = key.split()
    for sep in ("and", "at", "x", "near", "by"):
        if sep in words[1:-1]:
            k = words.index(sep, 1)
            return " ".join(words[:k]), " ".join(words[k + 1:])
    return None


def _exact(gaz: Gazetteer, key: str, text: str, region: Region) -> PlaceMatch | None:
    if gaz.is_zone_code(key) or key in gaz.zones:
        zones = gaz.zone(key)
        if zones:
            return _zone_match(region, zones[0], text, None, 0.9)
    hits = gaz.road(key)
    places = gaz.places.get(key, [])
    if hits and (hits[0].level < 2 or not places):
        return _road_match(region, hits, text, None, 0.9 if hits[0].level < 2 else 0.7)
    if places:
        return _place_match(region, places, text, None)
    if key in gaz.region_keys:
        return _region_match(region, text, None)
    return None


# ---------------------------------------------------------------- free text

def extract_places(text: str, region: Region) -> list[PlaceMatch]:
    """Place, road and intersection mentions in free text, best first; ``[]`` when there are none."""
    if not isinstance(text, str) or not text.strip():
        return []
    gaz = region.gazetteer
    tokens = _tokens(text)
    mentions = _scan(gaz, tokens)
    used: set[int] = set()
    out: list[PlaceMatch] = []
    # intersections: a road followed, within a few words, by a road that crosses it
    for a_idx, a in enumerate(mentions):
        if a.kind != "road":
            continue
        last = a.j  # after a crossing is found, look on from it ("between 20th and 30th")
        for b in mentions[a_idx + 1:]:
            if b.kind != "road" or b.i - last > 4:
                break
            between = tokens[last:b.i]
            if not _links(between):
                continue
            m = _intersection_match(gaz, a.roads, b.roads)
            if m is None:
                continue
            names, geometry = m
            conf = 0.9 if (a.trusted or b.trusted) and not (a.fuzzy or b.fuzzy) else 0.75
            first = tokens[a.i] if last == a.j else tokens[b.i]
            out.append(_label(region, PlaceMatch(text[first.start:tokens[b.j - 1].end],
                                                 (first.start, tokens[b.j - 1].end), "intersection",
                                                 names, geometry, "intersection", conf)))
            used.update((id(a), id(b)))
            last = b.j
    for m in mentions:
        if id(m) in used or not m.trusted:
            continue
        raw = text[tokens[m.i].start:tokens[m.j - 1].end]
        span = (tokens[m.i].start, tokens[m.j - 1].end)
        if m.kind == "road":
            conf = 0.85 if m.roads[0].level < 2 else 0.65
            out.append(_road_match(region, m.roads, raw, span, conf * (0.85 if m.fuzzy else 1.0)))
        elif m.kind == "place":
            out.append(_place_match(region, m.places, raw, span, 0.7 if m.fuzzy else 0.8))
        elif m.zones:
            out.append(_zone_match(region, m.zones[0], raw, span, 0.6))
        else:
            out.append(_region_match(region, raw, span))
    out = _dedupe(out)
    out.sort(key=lambda p: (-p.confidence, MENTION_ORDER[p.kind], p.span or (0, 0)))
    return out


def _links(between: list[_Token]) -> bool:
    """Words that join a road and its cross street: "and", "&", "at", "near", "/", or a closure
    phrase such as "closed between" / "flooded at"."""
    words = [t.word for t in between]
    if not words:
        return False
    if all(w in CONNECTORS or w in STREET_CONTEXT or w in "&@/" for w in words):
        return True
    return words[-1] in ("between", "from", "at", "near", "past") and all(w in CLOSURE_WORDS for w in words[:-1])


def _dedupe(found: list[PlaceMatch]) -> list[PlaceMatch]:
    out: list[PlaceMatch] = []
    seen: set[tuple] = set()
    for m in found:
        key = (m.kind, m.names, m.span)
        if key not in seen:
            seen.add(key)
            out.append(m)
    return out


def _tokens(text: str) -> list[_Token]:
    return [_Token(m.group(), fold(m.group()).strip(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


@lru_cache(maxsize=65536)
def _key(words: tuple[str, ...]) -> str:
    return " ".join(canonical_tokens(list(words)))


def _scan(gaz: Gazetteer, tokens: list[_Token]) -> list[_Mention]:
    """Longest-first matches of index keys over the token stream, left to right."""
    out: list[_Mention] = []
    i, n = 0, len(tokens)
    words = [t.word for t in tokens]
    while i < n:
        best: _Mention | None = None
        for j in range(i + 1, min(n, i + gaz.max_tokens + 1) + 1):
            key = _key(tuple(words[i:j]))
            if tuple(key.split()) not in gaz.prefixes:
                if len(key.split()) >= j - i:  # canonicalisation never shortens except via "mlk"
                    break
            m = _mention(gaz, tokens, i, j, key)
            if m is not None:
                best = m
        if best is None:
            best = _fuzzy_mention(gaz, tokens, i)
        if best is not None:
            out.append(best)
            i = best.j
        else:
            i += 1
    return out


def _mention(gaz: Gazetteer, tokens: list[_Token], i: int, j: int, key: str) -> _Mention | None:
    hits = gaz.road(key) and gaz.candidates(key)
    places = gaz.places.get(key, [])
    zones = gaz.zone(key)
    raw = [t.raw for t in tokens[i:j]]
    prev = tokens[i - 1].word if i > 0 else ""
    capital = all(r[0].isupper() or r[0].isdigit() for r in raw)
    # a place and a bare road core share the name ("Sandy"): the place wins when capitalised
    place_first = bool(places) and capital and (not hits or hits[0].level == 2 or prev == "in")
    if hits and not place_first:
        if hits[0].level < 2:  # written with a direction or a street type
            trusted = not (j - i == 1 and key in DIRECTIONS.values())
        elif key[0].isdigit():  # "20th" only after "on", "at", "near"...
            trusted = prev in STREET_CONTEXT and _ORDINAL_WORD.match(tokens[i].word) is not None
        else:  # a bare core: capitalised, and after a street preposition or not an everyday word
            trusted = capital and (prev in STREET_CONTEXT or (key not in COMMON_WORDS and len(key) > 3))
        return _Mention(i, j, "road", hits, [], [], trusted)
    if places and capital and (key not in COMMON_WORDS or j - i > 1):
        return _Mention(i, j, "place", [], places, [], True)
    if hits:
        return _Mention(i, j, "road", hits, [], [], False)
    if zones and (capital or gaz.is_zone_code(key)):
        return _Mention(i, j, "region", [], [], zones, j - i > 1 or gaz.is_zone_code(key))
    if key in gaz.region_keys and capital:
        return _Mention(i, j, "region", [], [], [], True)
    return None


def _fuzzy_mention(gaz: Gazetteer, tokens: list[_Token], i: int) -> _Mention | None:
    """A misspelt road core followed by a street type ("Hawthrone Blvd"), or a misspelt capitalised place."""
    t = tokens[i]
    if len(t.word) < 5 or not t.word.isalpha():
        return None
    nxt = tokens[i + 1].word if i + 1 < len(tokens) else ""
    prev = tokens[i - 1].word if i > 0 else ""
    if nxt in STREET_TYPES:  # the street type is context enough, even in lower case
        for key, _ in gaz.fuzzy(t.word, gaz.road_cores, limit=1):
            wanted = normalise(f"{key} {nxt}")
            hits = gaz.road(wanted) or gaz.road(key)
            return _Mention(i, i + 2, "road", hits, [], [], True, fuzzy=True)
    if prev in ("in", "near", "at", "from", "around") and t.raw[0].isupper():
        for key, _ in gaz.fuzzy(t.word, gaz.place_keys, cutoff=88, limit=1):
            return _Mention(i, i + 1, "place", [], gaz.places[key], [], True, fuzzy=True)
    return None


# ---------------------------------------------------------------- building matches

def _intersection_match(gaz: Gazetteer, a_hits: list[RoadHit], b_hits: list[RoadHit]
                        ) -> tuple[tuple[str, ...], dict] | None:
    """The best crossing of any candidate of A with any of B: (names, GeoJSON Point WGS 84)."""
    best = None
    for ha in a_hits[:12]:
        for hb in b_hits[:12]:
            pts = gaz.crossings(ha.road, hb.road)
            if not pts:
                continue
            same_dir = _direction(ha.road.name) == _direction(hb.road.name)
            score = (ha.level + hb.level, not same_dir, -(ha.road.rank + hb.road.rank), ha.road.name, hb.road.name)
            if best is None or score < best[0]:
                best = (score, ha.road, hb.road, pts[0])
    if best is None:
        return None
    _, ra, rb, pt = best
    return (short_name(ra.name), short_name(rb.name)), _point(gaz.region, pt)


def _direction(name: str) -> str:
    first = normalise(name).split()[:1]
    return first[0] if first and first[0] in DIRECTIONS.values() else ""


def _point(region: Region, pt_m: Point) -> dict:
    lon, lat = region.to_degrees.transform(pt_m.x, pt_m.y)
    return {"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]}


def _road_match(region: Region, hits: list[RoadHit], text: str, span, conf: float) -> PlaceMatch:
    top = [h for h in hits if h.level == hits[0].level]
    road: Road = top[0].road
    if len(top) > 1:
        conf *= 0.8  # "Hawthorne" could be several roads: the largest one wins, with less confidence
    return _label(region, PlaceMatch(text, span, "road", (short_name(road.name),), _line(road), "street",
                                     round(conf, 3)))


def _line(road: Road) -> dict:
    geom = road.line
    merged = shapely.line_merge(geom)
    return mapping(shapely.set_precision(merged, 1e-7))


def _place_match(region: Region, places: list[Place], text: str, span, conf: float = 0.8) -> PlaceMatch:
    p = places[0]
    if len(places) > 1 and places[1].population * 2 > p.population:
        conf *= 0.8
    return _label(region, PlaceMatch(text, span, "place", (p.name,),
                                     {"type": "Point", "coordinates": [p.lon, p.lat]}, "place", round(conf, 3)))


def _zone_match(region: Region, zone: Zone, text: str, span, conf: float) -> PlaceMatch:
    return PlaceMatch(text, span, "region", (zone.code, zone.name), mapping(zone.geometry), "region", conf,
                      label=f"{zone.name} ({zone.code})")


def _region_match(region: Region, text: str, span) -> PlaceMatch:
    return PlaceMatch(text, span, "region", (region.name,), mapping(region.boundary), "region", 0.5,
                      label=region.name)


def _label(region: Region, m: PlaceMatch) -> PlaceMatch:
    city = region.name.split(",")[0]
    label = (" & ".join(m.names) if m.kind == "intersection" else m.names[0])
    if m.kind != "place":
        label = f"{label}, {city}"
    return PlaceMatch(m.text, m.span, m.kind, m.names, m.geometry, m.precision, m.confidence, label)


# ---------------------------------------------------------------- reverse

def reverse(lat: float, lon: float, region: Region) -> dict:
    """Nearest named road and place to a WGS 84 point: ``{"road", "distance_m", "place", "label"}``.

    ``distance_m`` is metres to the road centre line in the region CRS; ``road`` is ``None``
    when no road lies within 2 km. Raises ``ValueError`` for coordinates out of range.
    """
    check_lat_lon(lat, lon)
    x, y = region.to_metres.transform(lon, lat)
    pt = Point(x, y)
    road_name, dist = None, None
    if region.road_list:
        idx = region.road_tree.query_nearest(pt, max_distance=2000.0, all_matches=True)
        if len(idx):
            roads = sorted((region.road_list[k] for k in idx), key=lambda r: r.name)
            road = min(roads, key=lambda r: r.line_m.distance(pt))
            road_name, dist = short_name(road.name), round(float(road.line_m.distance(pt)), 1)
    place = _nearest_place(region, lat, lon)
    where = place or region.name.split(",")[0]
    label = f"near {road_name}, {where}" if road_name else f"near {where}"
    return {"road": road_name, "distance_m": dist, "place": place, "label": label}


def _nearest_place(region: Region, lat: float, lon: float) -> str | None:
    from pyproj import Geod

    if not region.places:
        return None
    geod = Geod(ellps="WGS84")
    cands = [p for p in region.places if abs(p.lat - lat) < 0.3 and abs(p.lon - lon) < 0.4]
    if not cands:
        return None
    _, _, dist = geod.inv([lon] * len(cands), [lat] * len(cands), [p.lon for p in cands], [p.lat for p in cands])
    # a large place's centre point stands for a wider area: scale the distance by its size
    best = min(zip(cands, dist), key=lambda t: (t[1] / max(1.0, (t[0].population / 5000) ** 0.5), t[0].name))
    return best[0].name if best[1] < 30_000 else None


_PRECISION = {"intersection": GeoPrecision.street, "street": GeoPrecision.street, "place": GeoPrecision.place,
              "region": GeoPrecision.region}


class RegionGeocoder:
    """The kernel's ``Geocoder`` on one offline region pack (geometries GeoJSON, WGS 84)."""

    def __init__(self, region: Region) -> None:
        self.region = region
        self.name = f"region {region.key}"
        self.coverage = region.coverage

    def suggest(self, *, query: str, limit: int) -> list[Located]:
        """Up to ``limit`` places a typed ``query`` may mean (geometries GeoJSON, WGS 84), best first, one per label.

        The whole-query match first, then the region's names close to the query (typos, a partial name).
        """
        found: list[PlaceMatch] = []
        best = geocode(query, self.region)
        if best is not None:
            found.append(best)
        key = normalise(query) if len(query) <= MAX_QUERY_CHARS else ""
        gaz = self.region.gazetteer
        for close, score in gaz.fuzzy(key, limit=limit * 2) if key else []:
            m = _exact(gaz, close, query.strip(), self.region)
            if m is not None:
                m = _label(self.region, m)
                found.append(PlaceMatch(m.text, None, m.kind, m.names, m.geometry, m.precision,
                                        round(m.confidence * score / 100.0, 3), m.label))
        out: list[Located] = []
        labels: set[str] = set()
        for m in found:
            label = m.label or " & ".join(m.names)
            if label in labels:
                continue
            labels.add(label)
            out.append(Located(geometry=m.geometry, geo_precision=_PRECISION[m.precision], confidence=m.confidence,
                               label=label))
        return out[:limit]

    def locate(self, *, location_text: str | None, text: str | None) -> Located | None:
        """The whole ``location_text`` geocoded, or else the first place mentioned in ``text``; None if neither."""
        match = geocode(location_text, self.region) if location_text else None
        if match is None and text:
            found = extract_places(text, self.region)
            match = found[0] if found else None
        if match is None:
            return None
        return Located(geometry=match.geometry, geo_precision=_PRECISION[match.precision],
                       confidence=match.confidence, label=match.label or " & ".join(match.names))


def region_geocoder(region_dir: Path | str) -> RegionGeocoder | None:
    """The geocoder of the configured region, loaded once per process; None (and a warning) if it cannot load."""
    try:
        region = load_region(region_dir)
        _ = region.gazetteer  # build the name indexes now, not on the first event
    except (ConfigError, OSError, ValueError) as exc:
        log.warning("geocoding disabled: %s", exc)
        return None
    return RegionGeocoder(region)
