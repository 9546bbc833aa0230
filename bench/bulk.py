#!/usr/bin/env python
"""Bulk upload benchmark: rows/s from a file to the picture, as a ratio to reading the file alone.

Run from the project root with the project's virtualenv::

    python bench/bulk.py                # 10,000 shelters, GeoJSON and CSV
    python bench/bulk.py --rows 2000    # quicker

One process: a ``Runtime`` (its own embedded Tansu broker, a fresh SQLite store) and an agency
token. For each format the file is built once with geopandas; then, interleaved (``--rounds``):

- baseline: ``geopandas.read_file`` of the file (pyogrio; for CSV the bulk reader's own CSV path
  is what the system uses, so the baseline is ``pandas.read_csv`` + points);
- system: ``feeds.agency.flows.submit_bulk`` (read, validate, prepare, journal; each round
  re-uploads the same references, so later rounds are updates) and then until every journal row
  is applied, i.e. through relay -> raw.agency -> normaliser -> cop.reports -> projector -> SQLite.

Rates are rows / seconds; the medians are compared. Figures are printed and written to
bench/results/bulk.json; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results" / "bulk.json"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import geopandas as gpd  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import shapely  # noqa: E402

from emergency.assembly.runtime import Runtime  # noqa: E402
from emergency.auth.tokens import Role, create_token  # noqa: E402
from emergency.config import Settings  # noqa: E402
from feeds.agency.flows import submit_bulk  # noqa: E402


def frame(rows: int) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(7)
    lon = -122.65 + rng.uniform(-0.02, 0.02, rows)
    lat = 45.52 + rng.uniform(-0.02, 0.02, rows)
    return gpd.GeoDataFrame({"reference": [f"BENCH-{i}" for i in range(rows)],
                             "name": [f"Shelter {i}" for i in range(rows)],
                             "capacity": rng.integers(50, 500, rows), "occupancy": rng.integers(0, 50, rows)},
                            geometry=shapely.points(lon, lat), crs="EPSG:4326")


def files(rows: int, tmp: Path) -> dict[str, bytes]:
    f = frame(rows)
    f.to_file(tmp / "b.geojson", driver="GeoJSON", engine="pyogrio")
    csv = pd.DataFrame({**{c: f[c] for c in ("reference", "name", "capacity", "occupancy")},
                        "lat": f.geometry.y, "lon": f.geometry.x}).to_csv(index=False)
    return {"geojson": (tmp / "b.geojson").read_bytes(), "csv": csv.encode()}


def baseline(fmt: str, data: bytes, tmp: Path) -> float:
    start = time.perf_counter()
    if fmt == "geojson":
        path = tmp / "read.geojson"
        path.write_bytes(data)
        gpd.read_file(path, engine="pyogrio")
    else:
        table = pd.read_csv(io.BytesIO(data))
        gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs="EPSG:4326")
    return time.perf_counter() - start


async def system_round(runtime: Runtime, principal, fmt: str, data: bytes, rows: int) -> float:
    start = time.perf_counter()
    result = await submit_bulk(kind_path="shelters", data=data, principal=principal, submitter=runtime,
                               events=runtime.store, settings=runtime.settings)
    assert result.accepted == rows, result.results[:3]
    assert await runtime.wait_applied(timeout_s=600)
    return time.perf_counter() - start


async def main(args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-bulk-"))
    settings = Settings(data_dir=tmp, store_url=f"sqlite:///{tmp}/store.sqlite3", kafka_bootstrap="",
                        topic_prefix=f"b{uuid.uuid4().hex[:6]}.")
    runtime = await Runtime(settings).start()
    try:
        region = json.loads((ROOT / "sample_data" / "regions" / "portland" / "region.json").read_text())
        _, principal = await create_token(runtime.store, name="City of Portland", roles=[Role.agency],
                                          agency="City of Portland", jurisdiction=region["jurisdiction"])
        out: dict = {"rows": args.rows, "rounds": args.rounds, "machine": platform.platform(),
                     "at": datetime.now(UTC).isoformat(timespec="seconds"), "formats": {}}
        for fmt, data in files(args.rows, tmp).items():
            base, sys_ = [], []
            for n in range(args.rounds):
                base.append(baseline(fmt, data, tmp))
                sys_.append(await system_round(runtime, principal, fmt, data, args.rows))
                print(f"{fmt} round {n + 1}: read {base[-1]:.2f} s, to the picture {sys_[-1]:.2f} s", file=sys.stderr)
            b, s = statistics.median(base), statistics.median(sys_)
            out["formats"][fmt] = {"bytes": len(data), "read_rows_per_s": round(args.rows / b),
                                   "picture_rows_per_s": round(args.rows / s), "ratio": round(b / s, 4)}
        return out
    finally:
        await runtime.stop()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=10_000)
    p.add_argument("--rounds", type=int, default=3)
    figures = asyncio.run(main(p.parse_args()))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
