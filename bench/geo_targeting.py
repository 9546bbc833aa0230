#!/usr/bin/env python
"""Subscriber targeting benchmark: 1,000,000 subscriber points against a 500-vertex polygon and a
5 km circle, with ``mapping.targeting.TargetIndex``, against two baselines measured in the same run:

- naive: a per-point Python loop ``polygon.contains(Point(lon, lat))`` on a sample of points,
  scaled to the full count (the loop the alert push used before);
- vectorised: ``shapely.contains_xy(polygon, lons, lats)`` over every point.

The points are spread uniformly over the polygon's bounding box plus 10 % (the hard case: every
point passes a bbox filter). The circle baseline uses the 64-sided polygon that
``emergency.geometry.circle_polygon`` draws for the same circle; the index measures geodesic
distance instead, so its answer differs from the baselines by the polygon's chords (reported).
Each figure is the median of ``--repeat`` runs. Results go to stdout and
bench/results/geo_targeting.json.

    python bench/geo_targeting.py [--points 1000000] [--sample 20000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import Point, shape

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from emergency.geometry import circle_polygon  # noqa: E402
from mapping.targeting import Circle, TargetIndex, polygon_area  # noqa: E402


def ragged_polygon(cx: float, cy: float, r: float, n: int, seed: int = 42) -> dict:
    """A 500-vertex irregular polygon (a county-like outline), WGS 84 degrees."""
    rng = np.random.default_rng(seed)
    a = np.sort(rng.uniform(0, 2 * math.pi, n))
    rr = r * (1 + 0.25 * np.sin(3 * a) + 0.12 * np.sin(11 * a) + 0.04 * rng.uniform(-1, 1, n))
    ring = np.column_stack([cx + rr * np.cos(a) * 1.4, cy + rr * np.sin(a)])
    ring = np.vstack([ring, ring[:1]]).round(6).tolist()
    return {"type": "Polygon", "coordinates": [ring]}


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--sample", type=int, default=20_000, help="points for the naive loop (scaled up)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    poly_json = ragged_polygon(-122.65, 45.5, 0.2, 500)
    poly = polygon_area(poly_json)
    minx, miny, maxx, maxy = poly.bounds
    dx, dy = (maxx - minx) * 0.05, (maxy - miny) * 0.05
    rng = np.random.default_rng(1)
    lons = rng.uniform(minx - dx, maxx + dx, args.points)
    lats = rng.uniform(miny - dy, maxy + dy, args.points)

    t = time.perf_counter()
    index = TargetIndex()
    index.add_points(range(args.points), lats, lons)
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    for k in range(10_000):  # incremental churn: move 10,000 subscribers and remove/re-add them
        index.add_point(k, float(lats[k]), float(lons[k]))
    churn_us = (time.perf_counter() - t) / 10_000 * 1e6

    results: dict[str, dict] = {}
    circle = Circle(45.5, -122.65, 5000.0)
    circle_poly = shape(circle_polygon(45.5, -122.65, 5.0))
    for label, area, base_geom in (("polygon_500", poly, poly), ("circle_5km", circle, circle_poly)):
        shapely.prepare(base_geom)
        idx_s, slots = timed(lambda a=area: index.point_slots(a), args.repeat)
        vec_s, mask = timed(lambda g=base_geom: shapely.contains_xy(g, lons, lats), max(3, args.repeat // 2))
        sample = slice(0, args.sample)
        shapely.destroy_prepared(base_geom)
        t = time.perf_counter()
        naive_hits = sum(1 for lo, la in zip(lons[sample], lats[sample]) if base_geom.contains(Point(lo, la)))
        naive_s = (time.perf_counter() - t) * args.points / args.sample
        found = len(slots)
        agree = int(np.sum(mask)) if label == "polygon_500" else None
        results[label] = {
            "index_ms": round(idx_s * 1000, 1), "contains_xy_ms": round(vec_s * 1000, 1),
            "naive_loop_ms_scaled": round(naive_s * 1000, 0), "targets": found,
            "baseline_targets": int(np.sum(mask)), "naive_sample_hits": naive_hits,
            "speedup_vs_contains_xy": round(vec_s / idx_s, 1), "speedup_vs_naive": round(naive_s / idx_s, 0),
        }
        if agree is not None:
            assert found == agree, "index and contains_xy disagree"  # exactness check of this run, not timing

    out = {"date": time.strftime("%Y-%m-%d"), "python": platform.python_version(), "shapely": shapely.__version__,
           "points": args.points, "build_s": round(build_s, 2), "add_move_remove_us": round(churn_us, 1),
           "results": results}
    print(json.dumps(out, indent=2))
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "geo_targeting.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
