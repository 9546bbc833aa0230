#!/usr/bin/env python
"""Geocoding benchmark: place mentions resolved per second on one core, gazetteer load time and
memory, and the normaliser's cost per event, each against a baseline measured in the same run.

- Load: a fresh interpreter imports ``mapping.geocode``, loads the region and builds its
  gazetteer (first query); wall time and the growth of the peak RSS. Baseline: the same
  interpreter just reading and ``json.loads``-ing the region's files.
- Mentions: ``extract_places`` over generated report texts (real street pairs that cross, real
  places, and texts with no place; varied spelling). Baseline: a naive gazetteer matcher that
  tests every normalised road and place key as a substring of the normalised text (no
  intersections, no ranking) on the same texts.
- Normaliser: ``emergency.cop.normalise.normalise`` per social post without geometry, with the
  region (geocoding) and without (baseline).

    python bench/geo_geocode.py [--region portland] [--texts 3000]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LOAD = """
import json, resource, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
if {full}:
    from mapping.geocode import geocode
    from mapping.regions import load_region
    region = load_region({region!r})
    geocode("Portland", region)  # builds the gazetteer
else:
    d = Path({root!r}) / "sample_data" / "regions" / {region!r}
    for name in ("region.json", "roads.geojson", "places.json", "zones.geojson"):
        json.loads((d / name).read_text())
elapsed = time.perf_counter() - t
print(json.dumps({{"s": elapsed, "rss_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024}}))
"""

TEMPLATES = [
    "Huge tree down across {a} near {b}, power lines sparking",
    "flooding at {a} and {b}, water over the curb",
    "{a} & {b} - crash, avoid the area",
    "smoke behind the school on {a} near {b}",
    "Power out along {a}",
    "wind damage reported in {place}",
    "Trees down everywhere in {place} tonight",
    "Stay safe everyone, check on your neighbours",
    "lol the wind just took my umbrella",
    "corner of {a} and {b}: transformer blew",
]


def texts(region, n: int, seed: int = 7) -> list[str]:
    """Generated report texts with real crossing street pairs and places of the region."""
    from mapping.names import short_name

    rng = random.Random(seed)
    roads = sorted(region.roads.values(), key=lambda r: r.name)
    gaz = region.gazetteer
    pairs = []
    while len(pairs) < 300:
        a, b = rng.sample(roads, 2)
        if gaz.crossings(a, b):
            pairs.append((a, b))
    places = [p.name for p in region.places[:80]]
    out = []
    for _ in range(n):
        a, b = rng.choice(pairs)
        an, bn = short_name(a.name), short_name(b.name)
        if rng.random() < 0.4:  # written loosely: core name only
            an, bn = an.split()[1] if len(an.split()) > 2 else an, bn.split()[1] if len(bn.split()) > 2 else bn
        out.append(rng.choice(TEMPLATES).format(a=an, b=bn, place=rng.choice(places)))
    return out


def naive_matches(text: str, keys: list[str]) -> int:
    from mapping.names import normalise

    norm = f" {normalise(text)} "
    return sum(1 for k in keys if f" {k} " in norm)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--region", default="portland")
    ap.add_argument("--texts", type=int, default=3000)
    args = ap.parse_args()

    def load(full: bool) -> dict:
        code = LOAD.format(root=str(ROOT), region=args.region, full=full)
        runs = [json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                          check=True).stdout) for _ in range(3)]
        return sorted(runs, key=lambda r: r["s"])[1]

    cold, files_only = load(True), load(False)

    from mapping.geocode import RegionGeocoder, extract_places
    from mapping.regions import load_region

    region = load_region(args.region)
    sample = texts(region, args.texts)
    keys = sorted(set(region.gazetteer.roads) | set(region.gazetteer.places))

    t = time.perf_counter()
    mentions = sum(len(extract_places(s, region)) for s in sample)
    ours_s = time.perf_counter() - t
    t = time.perf_counter()
    naive_found = sum(naive_matches(s, keys) for s in sample)
    naive_s = time.perf_counter() - t

    from emergency.cop.normalise import normalise
    from emergency.events import Envelope, Kind, Source

    now = datetime(2026, 11, 27, tzinfo=UTC)
    events = [Envelope(id=f"social:bench:{i}", kind=Kind.social_post, source=Source(type="bench"), observed_at=now,
                       received_at=now, category="post", text=s) for i, s in enumerate(sample)]
    geocoder = RegionGeocoder(region)
    t = time.perf_counter()
    for e in events:
        normalise("raw.social", e)
    base_us = (time.perf_counter() - t) / len(events) * 1e6
    t = time.perf_counter()
    geocoded = sum(1 for e in events if normalise("raw.social", e, geocoder).geometry is not None)
    geo_us = (time.perf_counter() - t) / len(events) * 1e6

    out = {
        "date": time.strftime("%Y-%m-%d"), "region": args.region, "texts": len(sample),
        "load": {"region_and_gazetteer_s": round(cold["s"], 3), "rss_growth_mb": round(cold["rss_mb"], 1),
                 "baseline_json_only_s": round(files_only["s"], 3),
                 "baseline_rss_growth_mb": round(files_only["rss_mb"], 1)},
        "mentions": {"found": mentions, "mentions_per_s": round(mentions / ours_s),
                     "texts_per_s": round(len(sample) / ours_s),
                     "naive_substring_texts_per_s": round(len(sample) / naive_s), "naive_found": naive_found,
                     "ratio_vs_naive": round(naive_s / ours_s, 2)},
        "normaliser": {"us_per_event_with_geocoding": round(geo_us, 1), "us_per_event_without": round(base_us, 1),
                       "geocoded_share": round(geocoded / len(events), 3)},
    }
    print(json.dumps(out, indent=2))
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "geo_geocode.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
