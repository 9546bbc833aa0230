#!/usr/bin/env python
"""Incident correlation benchmark (``emergency.cop.incidents.correlate.Correlator``, in process, one core).

Quality, on real incident data: every feature of the VicEmergency snapshots in
``../shared/data/feeds/vicemergency/sample`` (each an authoritative incident with its own id) is replayed as a
``feed_item`` (updates of one id are versions of one item), and for a sample of them ``--crowd`` citizen reports of
the matching category are generated a few hundred metres and minutes away. Reported: distinct source incidents
merged together (goal 0), crowd reports attached to their source's incident (goal >= 95 %), crowd groups split
over more than one incident (goal <= 2 %).

Speed: ``--open`` open incidents (random points over Victoria, ~700 x 550 km, all categories), then ``--reports`` new
reports, with the correlator's H3 index against a naive scan of every open incident with the same rules, in the
same run; the ratio and reports/s. Results go to stdout and bench/results/incidents.json.

    python bench/incidents.py [--data DIR] [--crowd 3] [--open 100000] [--reports 2000]
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import platform
import random
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from emergency.cop.incidents.correlate import Correlator, distance_m, member_of, reference_geometry  # noqa: E402
from emergency.cop.incidents.models import RADIUS_M, WINDOW, family_of  # noqa: E402
from emergency.events import Envelope, GeoPrecision, Kind, Source  # noqa: E402
from emergency.geometry import representative_point  # noqa: E402

DATA = next((p / "shared" / "data" / "feeds" / "vicemergency" / "sample" for p in (ROOT.parent, ROOT.parent.parent)
             if (p / "shared").is_dir()), ROOT.parent / "shared")  # ../shared of the checkout (or of a worktree's)
CATEGORY = {"Fire": "spot_fire", "Planned Burn": "spot_fire", "Tree Down": "blocked_road", "Flood": "flooding",
            "Accident / Rescue": "blocked_road", "Rescue": "needs_help", "Building Damage": "damage"}
M_LAT = 1 / 110_574


def category_of(props: dict) -> str:
    c1, c2 = props.get("category1") or "", props.get("category2") or ""
    if c1 in CATEGORY:
        return CATEGORY[c1]
    if "Flood" in (props.get("cap") or "") or c2 == "Met":
        return "flooding"
    return f"vic:{c1 or 'other'}".lower()


def point_of(geom: dict | None) -> dict | None:
    if not geom:
        return None
    if geom["type"] == "GeometryCollection":
        parts = [g for g in geom["geometries"] if g["type"] == "Point"] or geom["geometries"]
        return point_of(parts[0]) if parts else None
    lon, lat = representative_point(geom)
    return {"type": "Point", "coordinates": [lon, lat]}


def feed_items(data: Path) -> list[Envelope]:
    out = []
    files = sorted(glob.glob(str(data / "*.geojson")) + glob.glob(str(data / "*" / "*.geojson")))
    for f in files:
        stamp = re.search(r"(\d{8}T\d{4,6}Z)", Path(f).name)
        taken = datetime.strptime(stamp.group(1)[:13], "%Y%m%dT%H%M").replace(tzinfo=UTC) if stamp else None
        for feat in json.loads(Path(f).read_text()).get("features", []):
            p, geom = feat.get("properties") or {}, point_of(feat.get("geometry"))
            when = p.get("updated") or p.get("created")
            if geom is None or not p.get("id") or not (isinstance(when, str) or taken):
                continue
            at = datetime.fromisoformat(when).astimezone(UTC) if isinstance(when, str) else taken
            out.append(Envelope(id=f"vicemergency:{p['id']}", kind=Kind.feed_item,
                                source=Source(type="vicemergency", ref=str(p["id"])), observed_at=at, received_at=at,
                                category=category_of(p), text=(p.get("text") or p.get("name") or "")[:500],
                                geometry=geom, geo_precision=GeoPrecision.exact))
    return sorted(out, key=lambda e: (e.received_at, e.id))


def crowd_reports(items: list[Envelope], per: int, rng: random.Random) -> list[tuple[str, Envelope]]:
    """(source id, report) for ``per`` reports around a sample of the items whose category a citizen can report."""
    latest = {e.id: e for e in items}
    reportable = [e for e in latest.values() if not (e.category or "").startswith("vic:")]
    out = []
    for src in rng.sample(reportable, min(len(reportable), 200)):
        lon, lat = src.geometry["coordinates"]
        spread = min(RADIUS_M[family_of(Kind.citizen_report, src.category) or "other"] * 0.6, 400)
        for i in range(per):
            d, bearing = rng.uniform(0, spread), rng.uniform(0, 2 * math.pi)
            at = src.received_at + timedelta(minutes=rng.uniform(1, 30))
            out.append((src.id, Envelope(
                id=f"citizen:bench-{src.id}-{i}", kind=Kind.citizen_report, source=Source(type="citizen_web"),
                observed_at=at, received_at=at, category=src.category, text="seen it here",
                geometry={"type": "Point", "coordinates": [lon + d * math.sin(bearing) * M_LAT / math.cos(math.radians(lat)),
                                                           lat + d * math.cos(bearing) * M_LAT]},
                geo_precision=GeoPrecision.exact, attributes={"private": {"contact": f"p{src.id}{i}"}})))
    return out


def quality(data: Path, per: int, seed: int) -> dict:
    rng = random.Random(seed)
    items = feed_items(data)
    crowd = crowd_reports(items, per, rng)
    stream = sorted(items + [e for _, e in crowd], key=lambda e: (e.received_at, e.id))
    c = Correlator()
    for e in stream:
        if family_of(e.kind, e.category) is not None:
            c.add_report(e)
    sources_per_incident = [sum(1 for m in inc.members.values() if m.authoritative) for inc in c.incidents.values()]
    merged = sum(1 for n in sources_per_incident if n > 1)
    right = sum(1 for src, e in crowd if c.owner.get(e.id) == c.owner.get(src))
    groups: dict[str, set[str]] = {}
    for src, e in crowd:
        groups.setdefault(src, set()).add(c.owner[e.id])
    split = sum(1 for g in groups.values() if len(g) > 1)
    return {"source_items": len({e.id for e in items}), "source_versions": len(items), "crowd_reports": len(crowd),
            "incidents": len(c.incidents), "source_incidents_merged_together": merged,
            "crowd_attached_right_pct": round(100 * right / max(1, len(crowd)), 2),
            "crowd_groups_split_pct": round(100 * split / max(1, len(groups)), 2)}


def synthetic(n: int, rng: random.Random, t0: datetime, prefix: str) -> list[Envelope]:
    cats = ["smoke", "spot_fire", "blocked_road", "flooding", "damage", "needs_help"]
    out = []
    for i in range(n):
        at = t0 + timedelta(seconds=i)
        out.append(Envelope(id=f"{prefix}{i}", kind=Kind.citizen_report, source=Source(type="citizen_web"),
                            observed_at=at, received_at=at, category=rng.choice(cats), text="report",
                            geometry={"type": "Point", "coordinates": [141.0 + rng.uniform(0, 8.0),
                                                                       -39.0 + rng.uniform(0, 5.0)]},
                            geo_precision=GeoPrecision.exact))
    return out


def naive_best(c: Correlator, e: Envelope) -> str | None:
    """The same rules over every open incident, without an index (the baseline)."""
    m = member_of(e)
    family = family_of(e.kind, e.category)
    radius = RADIUS_M.get(family, 100.0)
    best = None
    for inc in c.incidents.values():
        s = inc.summary
        if inc.category != family or s is None or not s.first_seen - WINDOW <= m.observed_at <= s.last_seen + WINDOW:
            continue
        d = distance_m(m.geometry, reference_geometry(s))
        if d <= radius and (best is None or d < best[0]):
            best = (d, inc.id)
    return best[1] if best else None


def speed(n_open: int, n_reports: int, seed: int) -> dict:
    rng = random.Random(seed)
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    c = Correlator()
    start = time.perf_counter()
    added = 0
    while len(c.incidents) < n_open:  # reports until that many incidents are open (some reports join others)
        for e in synthetic(min(10_000, n_open - len(c.incidents)), rng, t0, f"open{added}:"):
            c.add_report(e)
            added += 1
    load_s = time.perf_counter() - start
    new = synthetic(n_reports, rng, t0 + timedelta(hours=1), "new:")
    start = time.perf_counter()
    for e in new:
        c.candidates(member_of(e), family_of(e.kind, e.category))
    indexed = time.perf_counter() - start
    sample = new[: max(20, n_reports // 20)]
    start = time.perf_counter()
    for e in sample:
        naive_best(c, e)
    naive = (time.perf_counter() - start) * len(new) / len(sample)
    return {"open_incidents": len(c.incidents), "reports": n_reports, "load_reports_per_s": round(added / load_s),
            "indexed_reports_per_s": round(n_reports / indexed), "naive_reports_per_s": round(n_reports / naive, 1),
            "speedup": round(naive / indexed, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--crowd", type=int, default=3)
    ap.add_argument("--open", type=int, default=100_000)
    ap.add_argument("--reports", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    result = {"machine": platform.platform(), "quality": quality(args.data, args.crowd, args.seed),
              "speed": speed(args.open, args.reports, args.seed)}
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results" / "incidents.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
