"""External feeds: CPU time of one poll cycle of 50 feeds with no changes (every answer 304), as a ratio to
a bare httpx conditional-GET loop over the same feeds in the same run; and, with ``--replay``, the
VicEmergency snapshots of ``../shared/data/feeds/vicemergency`` (not redistributable; says when absent)
polled in time order, the journaled versions compared with an independent diff of the raw snapshots.

- server: a threaded ``http.server`` in a *separate process* (its CPU is not counted), 50 paths each serving
  the USGS fixture with an ETag, answering ``If-None-Match`` with 304;
- baseline: one ``httpx.AsyncClient`` (same limits and timeout as the poller), the 50 conditional GETs at
  once (``asyncio.gather``), ETags kept in a dict;
- poller: ``FeedPoller.poll`` for the 50 feeds at once, as the poller's loop runs them: each loads its state
  from the store's cursors (SQLite file), sends the conditional GET, counts the 304, saves the state.
CPU = ``time.process_time()`` of this process over one cycle; rounds alternate; the ratio is of medians.

    .venv/bin/python bench/feed_polling.py [--feeds 50] [--rounds 20] [--replay] [--captures]

``--captures`` reads every capture of ``../shared/data/feeds`` and ``../shared/data/cap/sample/feeds`` (when
present) through format detection and the parsers, with the region's zones, and prints format, items and
unlocated items per file.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from emergency.config import Settings  # noqa: E402
from emergency.metrics import Registry  # noqa: E402
from emergency.store import open_store  # noqa: E402
from emergency.store.base import Accepted, OnConflict  # noqa: E402
from feeds.external.models import FeedConfig  # noqa: E402
from feeds.external.poller import USER_AGENT, FeedPoller  # noqa: E402

BODY = (ROOT / "tests" / "data" / "feeds" / "usgs_fixture_small.geojson").read_bytes()
REPLAY = Path("/work/shared/data/feeds/vicemergency/sample")
RESULTS = ROOT / "bench" / "results" / "feeds.json"


def serve(port_out, bodies_dir: str | None) -> None:
    """The feed server (child process): ``/f/<n>`` the fixture; ``/replay`` the file named in ``current``."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    etag = '"' + hashlib.sha256(BODY).hexdigest()[:16] + '"'

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            body, tag = BODY, etag
            if self.path == "/replay" and bodies_dir:
                body = Path(Path(bodies_dir, "current").read_text()).read_bytes()
                tag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if self.headers.get("If-None-Match") == tag:
                self.send_response(304)
                self.send_header("ETag", tag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("ETag", tag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_out.put(server.server_address[1])
    server.serve_forever()


class Journal:
    """A submitter that journals straight into the store (no broker: the cycle under test publishes nothing)."""

    def __init__(self, store) -> None:
        self.store, self.count = store, 0

    async def submit(self, event, topic: str, *, on_conflict: OnConflict = "keep") -> Accepted:
        self.count += 1
        return await self.store.accept(event, topic, event.id, on_conflict)


async def bare_cycle(client: httpx.AsyncClient, urls: list[str], etags: dict[str, str]) -> None:
    async def one(url: str) -> None:
        headers = {"If-None-Match": etags[url]} if url in etags else {}
        r = await client.get(url, headers=headers)
        if r.status_code == 200:
            etags[url] = r.headers["etag"]
        elif r.status_code != 304:
            raise RuntimeError(f"{url}: HTTP {r.status_code}")

    await asyncio.gather(*(one(u) for u in urls))


async def cycles(port: int, n_feeds: int, rounds: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-feeds-"))
    settings = Settings(store_url=f"sqlite:///{tmp / 'store.sqlite3'}", data_dir=tmp)
    store = await open_store(settings.resolved_store_url())
    journal = Journal(store)
    poller = FeedPoller(settings=settings, store=store, submitter=journal, metrics=Registry())
    feeds = [FeedConfig(f"feed{n:02d}", f"http://127.0.0.1:{port}/f/{n}", 60) for n in range(n_feeds)]
    t = settings.feed_timeout_s
    bare = httpx.AsyncClient(timeout=httpx.Timeout(t, connect=min(t, 5.0)), limits=httpx.Limits(max_connections=32),
                             headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip"})
    etags: dict[str, str] = {}
    try:
        await asyncio.gather(*(poller.poll(f) for f in feeds))  # prime: 200s, every item journaled once
        await bare_cycle(bare, [f.url for f in feeds], etags)
        primed = journal.count
        for _ in range(3):  # warm-up: connections open, caches filled
            await asyncio.gather(*(poller.poll(f) for f in feeds))
            await bare_cycle(bare, [f.url for f in feeds], etags)
        cpu = {"bare": [], "poller": []}
        wall = {"bare": [], "poller": []}
        for _ in range(rounds):
            for side in ("bare", "poller"):
                c0, w0 = time.process_time(), time.perf_counter()
                if side == "bare":
                    await bare_cycle(bare, [f.url for f in feeds], etags)
                else:
                    states = await asyncio.gather(*(poller.poll(f) for f in feeds))
                    assert all(s.failures == 0 for s in states)
                cpu[side].append(time.process_time() - c0)
                wall[side].append(time.perf_counter() - w0)
        assert journal.count == primed, "a 304 cycle journaled something"
        not_modified = sum(poller.metrics.feed_not_modified.value(feed=f.name) for f in feeds)
    finally:
        await bare.aclose()
        await poller.close()
        await store.close()
    med = {k: statistics.median(v) for k, v in cpu.items()}
    return {"feeds": n_feeds, "rounds": rounds, "journaled_at_prime": primed, "not_modified": not_modified,
            "cpu_ms_per_cycle": {k: round(v * 1000, 2) for k, v in med.items()},
            "wall_ms_per_cycle": {k: round(statistics.median(v) * 1000, 2) for k, v in wall.items()},
            "cpu_ratio": round(med["poller"] / med["bare"], 2)}


def raw_diff(prev: dict[str, str], doc: dict) -> tuple[dict[str, str], Counter]:
    """An independent diff of two snapshots: features by id, compared by their raw JSON."""
    now = {}
    for f in doc["features"]:
        p = f.get("properties") or {}
        fid = str(p.get("id") or p.get("sourceId"))
        now.setdefault(fid, json.dumps(f, sort_keys=True))
    c = Counter(new=sum(1 for i in now if i not in prev), ended=sum(1 for i in prev if i not in now),
                raw_changed=sum(1 for i in now if i in prev and prev[i] != now[i]))
    return now, c


async def replay(port: int, bodies: Path, snapshots: list[Path]) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-feeds-replay-"))
    settings = Settings(store_url=f"sqlite:///{tmp / 'store.sqlite3'}", data_dir=tmp)
    store = await open_store(settings.resolved_store_url())
    journal = Journal(store)
    metrics = Registry()
    poller = FeedPoller(settings=settings, store=store, submitter=journal, metrics=metrics)
    feed = FeedConfig("vic", f"http://127.0.0.1:{port}/replay", 60)
    prev: dict[str, str] = {}
    rows, mismatches = [], 0
    try:
        for path in snapshots:
            (bodies / "current").write_text(str(path))
            before = {c: metrics.feed_changes.value(feed="vic", change=c) for c in ("new", "changed", "ended")}
            state = await poller.poll(feed)
            got = {c: int(metrics.feed_changes.value(feed="vic", change=c) - before[c])
                   for c in ("new", "changed", "ended")}
            prev, want = raw_diff(prev, json.loads(path.read_bytes()))
            ok = (got["new"] + state.unlocated >= want["new"] and got["ended"] <= want["ended"] + want["new"]
                  and got["changed"] <= want["raw_changed"])
            exact = got["new"] == want["new"] and got["ended"] == want["ended"]
            mismatches += not exact
            rows.append({"snapshot": path.name, "items": state.items, "unlocated": state.unlocated, **got,
                         "expected_new": want["new"], "expected_ended": want["ended"],
                         "raw_changed": want["raw_changed"], "exact": exact, "plausible": ok})
    finally:
        await poller.close()
        await store.close()
    return {"snapshots": len(rows), "journaled": journal.count, "new_and_ended_exact": len(rows) - mismatches,
            "rows": rows}


def captures() -> list[dict]:
    """Every shared capture through detection and its parser (with the Portland region's zones)."""
    from feeds.external.formats import parse
    from feeds.external.service import region_zones
    from mapping.regions import load_region

    zones = region_zones(region=load_region(ROOT / "sample_data" / "regions" / "portland"))
    shared = REPLAY.parents[1]
    files = sorted(p for p in shared.glob("*/sample/*") if p.is_file()) if shared.is_dir() else []
    cap_feeds = shared.parent / "cap" / "sample" / "feeds"
    files += sorted(cap_feeds.glob("*")) if cap_feeds.is_dir() else []
    if not files:
        print(f"captures: {shared} is absent; skipped")
    rows = []
    for path in files:
        try:
            parsed = parse(path.read_bytes(), zones=zones)
            row = {"file": path.name, "format": parsed.format, "items": len(parsed.items),
                   "unlocated": parsed.unlocated}
        except ValueError as exc:
            row = {"file": path.name, "error": str(exc)[:120]}
        rows.append(row)
        print("  " + "  ".join(f"{k}={v}" for k, v in row.items()))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--feeds", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--replay", action="store_true", help="also replay the VicEmergency snapshots (shared data)")
    ap.add_argument("--captures", action="store_true", help="also parse every shared capture (shared data)")
    ap.add_argument("--output", type=Path, default=RESULTS)
    args = ap.parse_args()
    bodies = Path(tempfile.mkdtemp(prefix="bench-feeds-bodies-"))
    q = multiprocessing.get_context("spawn").Queue()
    child = multiprocessing.get_context("spawn").Process(target=serve, args=(q, str(bodies)), daemon=True)
    child.start()
    try:
        port = q.get(timeout=30)
        out = {"cycle": asyncio.run(cycles(port, args.feeds, args.rounds))}
        c = out["cycle"]
        print(f"{c['feeds']} feeds, all 304, {c['rounds']} rounds: CPU per cycle poller "
              f"{c['cpu_ms_per_cycle']['poller']} ms vs bare httpx {c['cpu_ms_per_cycle']['bare']} ms "
              f"(ratio {c['cpu_ratio']}); wall {c['wall_ms_per_cycle']['poller']} vs "
              f"{c['wall_ms_per_cycle']['bare']} ms; nothing journaled")
        if args.replay:
            snapshots = sorted(REPLAY.glob("replay_*/events_*.geojson")) if REPLAY.is_dir() else []
            if not snapshots:
                print(f"replay: {REPLAY} is absent (the VicEmergency snapshots are not redistributable); skipped")
            else:
                r = asyncio.run(replay(port, bodies, snapshots))
                out["replay"] = r
                for row in r["rows"]:
                    print(f"  {row['snapshot']}: items {row['items']:4d} (+{row['unlocated']} unlocated)  "
                          f"new {row['new']:3d}/{row['expected_new']:3d}  ended {row['ended']:3d}/"
                          f"{row['expected_ended']:3d}  changed {row['changed']:3d} (raw {row['raw_changed']:3d})"
                          + ("" if row["exact"] else "  <- new/ended differ"))
                print(f"replay: {r['snapshots']} snapshots, {r['journaled']} versions journaled; new and ended "
                      f"exactly as the raw diff in {r['new_and_ended_exact']}/{r['snapshots']}")
        if args.captures:
            out["captures"] = captures()
    finally:
        child.terminate()
        child.join(5)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
