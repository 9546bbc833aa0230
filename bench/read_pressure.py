#!/usr/bin/env python
"""Read pressure: intake latency while clients read the picture at their maximum, against intake alone.

Run from the project root with the project's virtualenv::

    python bench/read_pressure.py            # 10,000 reports in the picture, 3 phases of 15 s
    python bench/read_pressure.py --quick    # 2,000 reports, 5 s phases

One embedded Tansu broker and one ``emergency serve`` subprocess (fresh SQLite file) serve all
phases; this process is the load generator. The picture is first filled with ``--reports``
citizen reports (POST /api/v1/reports, then waited for until projected). Each phase sends an
open-loop schedule of ``POST /api/v1/reports`` at ``--rate`` per second (request i dispatched at
t0 + i/R whatever happened to earlier ones) for ``--duration`` seconds and records each 202's
latency (dispatch -> response):

1. **alone** (the baseline): nothing else;
2. **anonymous readers**: 8 clients (each from its own loopback address, 127.0.0.2-9, so each has
   its own read budget) loop ``GET /api/v1/reports?limit=<anonymous maximum>`` back to back,
   without pausing after a 429;
3. **coordinator readers**: 8 clients with a coordinator token loop the layer's own maximum
   (``limit=50000``).

The figure is intake p99 under each read load divided by intake p99 alone, measured in the same
run. Figures are printed and written to bench/results/read_pressure.json; progress goes to stderr.
``--server-root DIR`` runs the server from another checkout (e.g. a worktree of an older commit),
``--anon-limit`` sets what the anonymous readers ask for (default: the server's cap, 5000).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results" / "read_pressure.json"
for path in (ROOT, BENCH_DIR):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import httpx  # noqa: E402
from pipeline import FETCH_MAX_WAIT_DEFAULT, Server, _git_head, log, pct, report_bodies  # noqa: E402

from emergency.config import Settings  # noqa: E402
from emergency.layers import REGISTRY, REPORTS  # noqa: E402
from emergency.stream.broker import EmbeddedBroker  # noqa: E402

ADMIN = "bench-admin-token"
READERS = 8


async def fill(base: str, n: int, concurrency: int = 32) -> float:
    """POST ``n`` reports and wait until the picture holds them; returns the seconds it took."""
    t0 = time.perf_counter()
    bodies = report_bodies(n, seed=11)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=concurrency)) as c:
        queue = list(range(n))

        async def sender() -> None:
            while queue:
                r = await c.post("/api/v1/reports", json=bodies[queue.pop()])
                r.raise_for_status()

        await asyncio.gather(*(sender() for _ in range(concurrency)))
        while True:  # projected: the admin token reads without an anonymous budget
            r = await c.get("/api/v1/reports", params={"limit": 1}, headers={"Authorization": f"Bearer {ADMIN}"})
            if r.json()["total"] >= n:
                break
            await asyncio.sleep(0.2)
    return time.perf_counter() - t0


async def intake(base: str, rate: float, duration: float) -> tuple[list[float], Counter]:
    """Open-loop POST /api/v1/reports at ``rate``/s for ``duration`` s: sorted 202 latencies (ms), statuses."""
    bodies = report_bodies(int(rate * duration) + 1, seed=23)
    latencies: list[float] = []
    statuses: Counter = Counter()
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=httpx.Limits(max_connections=64)) as c:
        async def post(i: int) -> None:
            t = time.perf_counter()
            try:
                r = await c.post("/api/v1/reports", json=bodies[i])
                statuses[r.status_code] += 1
                if r.status_code == 202:
                    latencies.append((time.perf_counter() - t) * 1000)
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1

        t0 = time.perf_counter()
        tasks = []
        for i in range(int(rate * duration)):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(i)))
        await asyncio.gather(*tasks)
    return sorted(latencies), statuses


async def reader(base: str, address: str, limit: int, headers: dict[str, str], stop: asyncio.Event,
                 tally: Counter) -> None:
    """Loop GET /api/v1/reports?limit=``limit`` from ``address`` until ``stop``."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(base_url=base, timeout=120, transport=transport, headers=headers) as c:
        while not stop.is_set():
            try:
                async with c.stream("GET", "/api/v1/reports", params={"limit": limit}) as r:
                    async for chunk in r.aiter_raw():
                        tally["bytes"] += len(chunk)
                    tally[r.status_code] += 1
            except httpx.HTTPError as exc:
                tally[type(exc).__name__] += 1
                await asyncio.sleep(0.1)


def _readers_process(base: str, limit: int, headers: dict[str, str], stop, out) -> None:
    """In a child process (so reading does not slow this process's intake client): 8 readers until ``stop``."""
    async def run() -> Counter:
        done, tally = asyncio.Event(), Counter()

        async def watch() -> None:
            while not stop.is_set():
                await asyncio.sleep(0.05)
            done.set()

        await asyncio.gather(watch(), *(reader(base, f"127.0.0.{2 + k}", limit, headers, done, tally)
                                        for k in range(READERS)))
        return tally

    out.put(dict(asyncio.run(run())))


async def phase(base: str, args, limit: int | None, headers: dict[str, str]) -> dict[str, Any]:
    """One intake schedule, with 8 readers at ``limit`` in a child process (None: no readers)."""
    ctx = multiprocessing.get_context("spawn")
    stop, tally_q = ctx.Event(), ctx.Queue()
    proc = None
    if limit:
        proc = ctx.Process(target=_readers_process, args=(base, limit, headers, stop, tally_q), daemon=True)
        proc.start()
        await asyncio.sleep(3.0)  # the readers are under way
    t0 = time.perf_counter()
    latencies, statuses = await intake(base, args.rate, args.duration)
    elapsed = time.perf_counter() - t0
    out: dict[str, Any] = {"intake": pct(latencies), "intake_statuses": {str(k): v for k, v in statuses.items()},
                           "seconds": round(elapsed, 1)}
    if proc is not None:
        stop.set()
        tally = await asyncio.to_thread(tally_q.get, True, 120)
        proc.join(10)
        out["reads"] = {str(k): v for k, v in tally.items() if k != "bytes"}
        out["read_mb_per_s"] = round(tally.get("bytes", 0) / (elapsed + 3.0) / 1e6, 1)
        out["limit"] = limit
    return out


async def amain(args) -> dict[str, Any]:
    result: dict[str, Any] = {"meta": {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "cpus": os.cpu_count(), "git": _git_head(),
        "server_root": str(args.server_root), "reports": args.reports, "rate": args.rate,
        "duration_s": args.duration, "readers": READERS,
    }}
    tmp_root = Path(tempfile.mkdtemp(prefix="emergency-bench-"))
    broker = EmbeddedBroker()
    server = None
    try:
        bootstrap = await broker.start()
        server = Server(bootstrap, tmp_root, FETCH_MAX_WAIT_DEFAULT)
        server.env["EMERGENCY_ADMIN_TOKEN"] = ADMIN
        server.env.pop("PYTHONPATH", None)
        await _start(server, args.server_root)
        base = server.base_url
        async with httpx.AsyncClient(base_url=base, timeout=20) as c:
            r = await c.post("/api/v1/admin/tokens", json={"name": "bench coordinator", "roles": ["coordinator"]},
                             headers={"Authorization": f"Bearer {ADMIN}"})
            r.raise_for_status()
            coordinator = {"Authorization": f"Bearer {r.json()['token']}"}
        log(f"filling the picture with {args.reports} reports")
        result["meta"]["fill_s"] = round(await fill(base, args.reports), 1)
        log("phase 1: intake alone")
        result["alone"] = await phase(base, args, None, {})
        log(f"phase 2: intake with {READERS} anonymous readers at limit={args.anon_limit}")
        result["anonymous"] = await phase(base, args, args.anon_limit, {})
        log(f"phase 3: intake with {READERS} coordinator readers at limit={REGISTRY[REPORTS].max_limit}")
        result["coordinator"] = await phase(base, args, REGISTRY[REPORTS].max_limit, coordinator)
        alone = result["alone"]["intake"]["p99_ms"]
        for key in ("anonymous", "coordinator"):
            result[key]["p99_ratio"] = round(result[key]["intake"]["p99_ms"] / alone, 2)
    finally:
        if server is not None:
            await server.stop()
        await broker.stop()
        shutil.rmtree(tmp_root, ignore_errors=True)
    return result


async def _start(server: Server, root: Path) -> None:
    """``Server.start`` from ``root`` (another checkout may be measured with this one's load generator)."""
    import pipeline

    saved = pipeline.ROOT
    pipeline.ROOT = root
    try:
        await server.start()
    finally:
        pipeline.ROOT = saved


def print_summary(result: dict[str, Any]) -> None:
    a = result["alone"]["intake"]
    print(f"intake alone: p50 {a['p50_ms']} ms, p99 {a['p99_ms']} ms ({a['n']} accepted)")
    for key, label in (("anonymous", "anonymous"), ("coordinator", "coordinator")):
        p = result[key]
        i = p["intake"]
        print(f"with {READERS} {label} readers at limit={p['limit']}: intake p50 {i['p50_ms']} ms, p99 {i['p99_ms']} "
              f"ms ({i['n']} accepted, statuses {p['intake_statuses']}); p99 ratio {p['p99_ratio']}x; "
              f"reads {p['reads']}, {p['read_mb_per_s']} MB/s")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reports", type=int, help="reports in the picture before the phases (default 10000; --quick 2000)")
    p.add_argument("--rate", type=float, default=50.0, help="intake reports/s in each phase (default 50)")
    p.add_argument("--duration", type=float, help="seconds per phase (default 15; --quick 5)")
    p.add_argument("--anon-limit", type=int, default=Settings.model_fields["anon_max_limit"].default,
                   help="limit the anonymous readers ask for (default: the anonymous cap)")
    p.add_argument("--server-root", type=Path, default=ROOT, help="checkout the server runs from (default: this one)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    args.reports = args.reports or (2000 if args.quick else 10_000)
    args.duration = args.duration or (5.0 if args.quick else 15.0)
    result = asyncio.run(amain(args))
    print_summary(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
