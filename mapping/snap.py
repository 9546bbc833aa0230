"""Road-closure snapping onto the region's named roads.

- :func:`snap_between` — a road name and two cross streets -> the stretch of that road
  between the two intersections ("SE Hawthorne Blvd" from "SE 12th Ave" to "SE 20th Ave").
- :func:`snap_line` — a rough hand-drawn or GPS line -> the named road segments it follows
  within a tolerance.

Both return a :class:`Snapped`: GeoJSON (WGS 84) geometry, the road names, and the length in
metres measured in the region's projected CRS (never degrees). Paths follow the road's own
vertices (shortest path along the ways of that one road). Failures raise :class:`SnapError`,
whose message names the failing part (``road``, ``from``, ``to``, ``geometry``) and suggests
close matches. ``snap_between(..., exact=True)`` takes every name only as written (see
:meth:`~mapping.gazetteer.Gazetteer.exact_roads`); a safety input such as an agency's closure
uses it, so that a name the region lacks is refused with its candidates instead of guessed.
"""

from __future__ import annotations

import heapq
import json
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from shapely.geometry import LineString, Point, mapping, shape

from mapping.gazetteer import RoadHit
from mapping.names import normalise, short_name
from mapping.regions import Region, Road

SNAP_TOLERANCE_M = 30.0   # a drawn line must stay this close to a named road
MIN_FOLLOWED = 0.8        # ... for at least this share of its length
SAMPLE_STEP_M = 10.0
GAP_JOIN_M = 25.0         # ways of one road whose ends are this close are treated as connected


class SnapError(ValueError):
    """A closure could not be snapped; ``field`` names the part that failed, ``suggestions`` what
    the sender may have meant; ``message`` is the reason with those suggestions."""

    def __init__(self, field: str, reason: str, suggestions: list[str] | None = None) -> None:
        self.field, self.reason, self.suggestions = field, reason, suggestions or []
        tail = f"; did you mean {', '.join(_quoted(n) for n in self.suggestions)}?" if self.suggestions else ""
        self.message = f"{reason}{tail}"
        super().__init__(f"{field}: {self.message}")


def _quoted(name: str) -> str:
    return f'"{name}"'


@dataclass(frozen=True)
class Snapped:
    """A snapped closure. ``geometry`` is GeoJSON WGS 84; ``length_m`` in metres (region CRS)."""

    geometry: dict
    names: tuple[str, ...]
    length_m: float

    def as_dict(self) -> dict:
        return {"geometry": self.geometry, "names": list(self.names), "length_m": self.length_m}


# ---------------------------------------------------------------- (a) road + cross streets

def snap_between(region: Region, road: str, start: str, end: str, *, exact: bool = False) -> Snapped:
    """The stretch of ``road`` between its crossings with ``start`` and ``end`` (all street names).

    With ``exact`` every name must be a road's own name once normalised; otherwise looser forms
    ("hawthorne", "12th") and typos of the same name are read too. A numbered street never
    stands for another number either way.
    """
    roads = _named(region, road, "road", exact)
    crossing = sorted({c.name: c for r in roads[:8] for c in _crossing_roads(region, r.road)}.values(),
                      key=lambda c: c.name)
    starts = _named(region, start, "from", exact, crossing)
    ends = _named(region, end, "to", exact, crossing)
    gaz = region.gazetteer
    best = None
    failed = "from"
    for r in roads[:8]:
        a_pts = [(s, p) for s in starts[:8] for p in gaz.crossings(r.road, s.road)]
        b_pts = [(e, p) for e in ends[:8] for p in gaz.crossings(r.road, e.road)]
        if not a_pts:
            continue
        if not b_pts:
            failed = "to"
            continue
        for (s, pa) in a_pts:
            for (e, pb) in b_pts:
                path = road_path(region, r.road, pa, pb)
                if path is None:
                    continue
                score = (r.level + s.level + e.level, path.length)
                if best is None or score < best[0]:
                    best = (score, r.road, s.road, e.road, path)
    if best is None:
        main = roads[0].road
        part, name = (failed, start if failed == "from" else end)
        raise SnapError(part, f"{_quoted(name)} does not cross {_quoted(short_name(main.name))}",
                        gaz.suggest_roads(name, among=_crossing_roads(region, main)))
    _, r, s, e, path = best
    return Snapped(_geojson(region, path), (short_name(r.name), short_name(s.name), short_name(e.name)),
                   round(path.length, 1))


def _named(region: Region, text: str, part: str, exact: bool, crossing: list[Road] | None = None) -> list[RoadHit]:
    """The roads ``text`` names (exactly, or also loosely), best first; SnapError with what it may mean."""
    if not isinstance(text, str) or not normalise(text):
        raise SnapError(part, "must name a street")
    gaz = region.gazetteer
    hits = gaz.exact_roads(text) if exact else gaz.candidates(normalise(text))
    if hits:
        return hits
    where = f"in region {region.key}"
    if exact and gaz.candidates(normalise(text)):
        reason = f"{_quoted(text)} is not the exact name of a road {where}"
    else:
        reason = f"no road {_quoted(text)} {where}"
    raise SnapError(part, reason, gaz.suggest_roads(text, among=crossing))


def _crossing_roads(region: Region, road: Road) -> list[Road]:
    """Roads whose centre lines come within 15 m of ``road`` (region CRS), by name."""
    idx = region.road_tree.query(road.line_m.buffer(15.0), predicate="intersects")
    return sorted({region.road_list[i].name: region.road_list[i] for i in idx if region.road_list[i].name != road.name
                   }.values(), key=lambda r: r.name)


# ---------------------------------------------------------------- (b) a drawn line

def snap_line(region: Region, geometry: dict, tolerance_m: float = SNAP_TOLERANCE_M) -> Snapped:
    """The named road segments a rough (Multi)LineString (GeoJSON, WGS 84) follows within ``tolerance_m``."""
    if not region.road_list:
        raise SnapError("geometry", f"region {region.name} has no roads to snap to")
    line_m = region.project(shape(geometry))
    samples = shapely.get_coordinates(shapely.segmentize(line_m, SAMPLE_STEP_M))
    pts = shapely.points(samples)
    idx, dist = region.road_tree.query_nearest(pts, max_distance=tolerance_m, return_distance=True,
                                               all_matches=False)
    nearest = np.full(len(pts), -1)
    nearest[idx[0]] = idx[1]
    followed = float(np.mean(nearest >= 0)) if len(pts) else 0.0
    if followed < MIN_FOLLOWED:
        raise SnapError("geometry", f"only {followed:.0%} of the line lies within {tolerance_m:g} m of a named road")
    runs = _runs(nearest)
    pieces: list[LineString] = []
    names: list[str] = []
    for k, (a, b) in runs:
        road = region.road_list[k]
        path = road_path(region, road, Point(samples[a]), Point(samples[b]))
        if path is None or path.length < 1.0:
            continue
        pieces.append(path)
        if short_name(road.name) not in names:
            names.append(short_name(road.name))
    if not pieces:
        raise SnapError("geometry", f"does not follow any named road within {tolerance_m:g} m")
    merged = shapely.line_merge(shapely.multilinestrings(pieces)) if len(pieces) > 1 else pieces[0]
    return Snapped(_geojson(region, merged), tuple(names), round(float(sum(p.length for p in pieces)), 1))


def _runs(nearest: np.ndarray, min_samples: int = 5) -> list[tuple[int, tuple[int, int]]]:
    """Stretches of samples on one road: ``[(road index, (first sample, last sample))]``.

    Short runs (fewer than ``min_samples``, i.e. under about 50 m: passing a cross street) are
    absorbed by their neighbours, and each stretch reaches to where the next one starts, so the
    pieces join up. Samples with no road nearby (-1) belong to no stretch.
    """
    runs: list[list[int]] = []
    for i, k in enumerate(nearest.tolist()):
        if runs and runs[-1][0] == k:
            runs[-1][2] = i
        else:
            runs.append([int(k), i, i])
    long_runs = [r for r in runs if r[0] >= 0 and r[2] - r[1] + 1 >= min_samples]
    runs = long_runs or [r for r in runs if r[0] >= 0]
    merged: list[list[int]] = []
    for r in runs:
        if merged and merged[-1][0] == r[0]:
            merged[-1][2] = r[2]
        else:
            merged.append(list(r))
    for this, nxt in zip(merged, merged[1:]):
        if nearest[this[2] + 1:nxt[1]].min(initial=0) >= 0:  # no gap without roads in between
            this[2] = nxt[1]
    return [(k, (a, b)) for k, a, b in merged]


# ---------------------------------------------------------------- paths along one road

@dataclass(frozen=True)
class _Graph:
    nodes: np.ndarray                            # (n, 2) metres
    adj: tuple[tuple[tuple[int, float], ...], ...]
    seg_a: np.ndarray                            # segment start node ids
    seg_b: np.ndarray


@lru_cache(maxsize=512)
def _graph(road: Road) -> _Graph:
    coords = np.concatenate(road.ways)
    keys = np.round(coords, 2)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    adj: list[dict[int, float]] = [dict() for _ in range(len(uniq))]
    seg_a, seg_b = [], []
    pos = 0
    ends = []
    for way in road.ways:
        ids = inverse[pos:pos + len(way)]
        pos += len(way)
        ends += [ids[0], ids[-1]]
        for u, v in zip(ids[:-1], ids[1:]):
            if u != v:
                d = float(np.hypot(*(uniq[u] - uniq[v])))
                adj[u][v] = adj[v][u] = d
                seg_a.append(u)
                seg_b.append(v)
    for e in set(ends):  # bridge small gaps between ways of the same road
        d = np.hypot(*(uniq - uniq[e]).T)
        for v in np.nonzero((d > 0) & (d <= GAP_JOIN_M))[0]:
            v = int(v)
            if v not in adj[e]:
                adj[e][v] = adj[v][e] = float(d[v])
    return _Graph(uniq, tuple(tuple(sorted(a.items())) for a in adj), np.asarray(seg_a), np.asarray(seg_b))


def _locate(g: _Graph, p: Point) -> tuple[int, np.ndarray]:
    """Nearest segment to ``p`` and the foot of the perpendicular on it (metres)."""
    a, b = g.nodes[g.seg_a], g.nodes[g.seg_b]
    ab = b - a
    xy = np.array([p.x, p.y])
    t = np.clip(np.einsum("ij,ij->i", xy - a, ab) / np.maximum(np.einsum("ij,ij->i", ab, ab), 1e-12), 0, 1)
    foot = a + ab * t[:, None]
    k = int(np.argmin(np.hypot(*(foot - xy).T)))
    return k, foot[k]


def road_path(region: Region, road: Road, start: Point, end: Point) -> LineString | None:
    """Shortest path along ``road`` between the points nearest ``start`` and ``end`` (metres, region CRS)."""
    g = _graph(road)
    if not len(g.seg_a):
        return None
    ka, fa = _locate(g, start)
    kb, fb = _locate(g, end)
    if ka == kb:
        return LineString([fa, fb]) if not np.allclose(fa, fb) else None
    src, dst = -1, -2  # virtual nodes at the two feet
    extra: dict[int, list[tuple[int, float]]] = {src: [], dst: []}
    for virt, k, foot in ((src, ka, fa), (dst, kb, fb)):
        for n in (int(g.seg_a[k]), int(g.seg_b[k])):
            d = float(np.hypot(*(g.nodes[n] - foot)))
            extra[virt].append((n, d))
            extra.setdefault(n, []).append((virt, d))
    dist = {src: 0.0}
    prev: dict[int, int] = {}
    heap = [(0.0, src)]
    while heap:
        d, u = heapq.heappop(heap)
        if u == dst:
            break
        if d > dist.get(u, float("inf")):
            continue
        for v, w in (g.adj[u] if u >= 0 else ()) + tuple(extra.get(u, ())):
            nd = d + w
            if nd < dist.get(v, float("inf")):
                dist[v], prev[v] = nd, u
                heapq.heappush(heap, (nd, v))
    if dst not in dist:
        return None
    path, u = [], dst
    while u != src:
        path.append(u)
        u = prev[u]
    path.append(src)
    coords = [fa if n == src else fb if n == dst else g.nodes[n] for n in reversed(path)]
    return LineString(coords)


def _geojson(region: Region, geom_m) -> dict:
    """GeoJSON (WGS 84) of a region-CRS geometry, with lists for positions."""
    return json.loads(json.dumps(mapping(region.unproject(geom_m))))
