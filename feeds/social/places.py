"""Where a post is about: its own coordinates, else places in its text, else the author's profile.

Geometries are GeoJSON in WGS 84 lon/lat degrees. Place and street mentions go through the
``mapping`` geocoder (``mapping.geocode.extract_places(text, region)``); when that package is
not installed, only coordinates are used (``geocoder_available()`` says which). The geocoder
costs about half a millisecond a post, so it is only asked about texts that contain a word of
the region's names (``name_words``): a misspelt name in a post with no other name word is
therefore not found (the geocoder's fuzzy matching would have found some). A text with one
such word passes only when the word could make a mention the geocoder trusts: written with a
capital or a digit, or next to a street type or direction anywhere in the text; two name words
always pass (together they may form an intersection, which needs no capital).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from feeds.social.models import Post
from feeds.social.text import STOPWORDS, fold, words
from mapping.names import DIRECTIONS, STREET_TYPES

PROFILE_CONFIDENCE = 0.2  # the most a profile location can be trusted: it says where the author lives
TAGGED_CONFIDENCE = 0.6  # a place the author tagged (often a whole city)
PRECISION = {"street": "street", "intersection": "street", "place": "place", "region": "region"}
# words in road names that name no road on their own (directions, street types)
GENERIC = frozenset("north south east west northeast northwest southeast southwest street avenue road drive lane "
                    "boulevard blvd ave place court way highway hwy parkway pkwy terrace circle loop trail the "
                    "and of".split())
_GATES: dict[int, tuple[Any, frozenset[str]]] = {}
_STREETY = frozenset(DIRECTIONS) | frozenset(STREET_TYPES)
_CAPITALISED = re.compile(r"\b[^\W\d_a-z]\w*")  # words not starting with a lower-case ASCII letter


@dataclass(frozen=True)
class Place:
    """A location found for a post. ``precision`` is an envelope GeoPrecision value."""

    geometry: dict[str, Any]
    precision: str
    confidence: float
    text: str | None
    origin: str  # "coordinates" | "text" | "tagged" | "profile"

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.text, "origin": self.origin, "precision": self.precision,
                "confidence": self.confidence, "geometry": self.geometry}


@lru_cache(maxsize=1)
def _geocoder() -> tuple[Any, Any] | None:
    try:
        from mapping.geocode import extract_places
        from mapping.regions import load_region
    except ImportError:
        return None
    return extract_places, load_region


def geocoder_available() -> bool:
    """True when ``mapping.geocode`` can be imported."""
    return _geocoder() is not None


def load_region(name_or_dir: str) -> Any:
    """The geocoder's region ("portland" or a region folder); ValueError without the geocoder."""
    geocoder = _geocoder()
    if geocoder is None:
        raise ValueError("--region: place extraction needs mapping.geocode, which is not installed")
    return geocoder[1](name_or_dir)


def name_words(region: Any) -> frozenset[str]:
    """Every folded word (3+ letters, not a direction, street type or stop word) of the region's road, place,
    zone and region names: a text with none of them names nothing the geocoder knows exactly."""
    cached = _GATES.get(id(region))
    if cached is not None and cached[0] is region:
        return cached[1]
    names = [*region.roads, region.name]
    for p in region.places:
        names += [p.name, *p.alternatenames]
    for z in region.zones.values():
        names += [z.name, z.code]
    gate = frozenset(w for n in names for w in words(fold(n)) if len(w) > 2 and w not in GENERIC
                     and w not in STOPWORDS)
    _GATES[id(region)] = (region, gate)
    return gate


def could_name_a_place(text: str, region: Any) -> bool:
    """False when ``text`` cannot hold a mention the geocoder would return (see the module text)."""
    ws = set(words(fold(text)))
    hits = name_words(region).intersection(ws)
    if not hits:
        return False
    if len(hits) > 1 or not _STREETY.isdisjoint(ws) or not next(iter(hits)).isalpha():
        return True
    return not hits.isdisjoint(words(fold(" ".join(_CAPITALISED.findall(text)))))


def _mentions(text: str, region: Any, *, origin: str, cap: float) -> list[Place]:
    geocoder = _geocoder()
    if geocoder is None or region is None or not text.strip():
        return []
    if not could_name_a_place(text, region):  # cheap gate: most posts name no place at all
        return []
    out = []
    for m in geocoder[0](text, region):
        out.append(Place(geometry=m.geometry, precision=PRECISION.get(m.precision, "place"),
                         confidence=round(min(cap, float(m.confidence)), 3), text=m.text, origin=origin))
    return out


def locate(post: Post, region: Any = None) -> list[Place]:
    """Places for ``post``, best first: coordinates (exact), else text mentions, else the place the
    network tagged, else the profile."""
    if post.located:
        return [Place({"type": "Point", "coordinates": [post.lon, post.lat]}, "exact", 1.0, None, "coordinates")]
    found = _mentions(post.text, region, origin="text", cap=1.0)
    if not found and post.place_name:
        found = _mentions(post.place_name, region, origin="tagged", cap=TAGGED_CONFIDENCE)
    if not found and post.profile_location:
        found = _mentions(post.profile_location, region, origin="profile", cap=PROFILE_CONFIDENCE)
    return found


def representative_point(geometry: dict[str, Any]) -> tuple[float, float]:
    """(lon, lat) of a point on the geometry (WGS 84), for region and distance tests."""
    if geometry["type"] == "Point":
        return float(geometry["coordinates"][0]), float(geometry["coordinates"][1])
    from shapely.geometry import shape

    p = shape(geometry).representative_point()
    return p.x, p.y
