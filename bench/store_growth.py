#!/usr/bin/env python
"""SQLite store cost per report as the file grows (no broker, no Kafka): is a long run slower?

    python bench/store_growth.py [--reports 80000] [--block 10000] [--cache-kib 0]

Journals the benchmark's citizen reports through ``SQLiteStore`` the way the pipeline does
(``accept`` by 16 concurrent callers, relay ``due_for_publication`` + ``mark_published``,
projector ``upsert_events`` in batches of 500) and prints the cost per report of each step for
every ``--block`` reports. ``--cache-kib`` sets ``PRAGMA cache_size`` (0 = SQLite's default,
2000 KiB) to see whether a bigger page cache helps.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pipeline import report_bodies, report_envelopes  # noqa: E402
from emergency.events import utcnow  # noqa: E402
from emergency.store.sqlite import SQLiteStore  # noqa: E402


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reports", type=int, default=80_000)
    p.add_argument("--block", type=int, default=10_000)
    p.add_argument("--cache-kib", type=int, default=0)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="store-growth-") as tmp:
        store = SQLiteStore(f"sqlite:///{tmp}/store.sqlite3")
        await store.open()
        if args.cache_kib:
            await store._run(lambda c: c.execute(f"PRAGMA cache_size=-{args.cache_kib}"))
        events = report_envelopes(report_bodies(args.reports, seed=3))
        print(f"cache_size {args.cache_kib or 'default (2000)'} KiB; microseconds per report:")
        for b in range(0, len(events), args.block):
            chunk = events[b:b + args.block]
            t0 = time.perf_counter()
            for i in range(0, len(chunk), 16):
                await asyncio.gather(*(store.accept(e, "raw.citizen", e.id) for e in chunk[i:i + 16]))
            t1 = time.perf_counter()
            while rows := await store.due_for_publication(1000, utcnow() - timedelta(seconds=30)):
                await store.mark_published([r.seq for r in rows], utcnow())
            t2 = time.perf_counter()
            for i in range(0, len(chunk), 500):
                await store.upsert_events(chunk[i:i + 500])
            t3 = time.perf_counter()
            n = len(chunk)
            print(f"  reports {b + 1:>6}-{b + n:<6}  accept {1e6 * (t1 - t0) / n:6.1f}   relay select+mark "
                  f"{1e6 * (t2 - t1) / n:5.1f}   upsert {1e6 * (t3 - t2) / n:6.1f}", flush=True)
        await store.close()
        print(f"file: {os.path.getsize(f'{tmp}/store.sqlite3') / 1e6:.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
