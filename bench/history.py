#!/usr/bin/env python
"""History benchmark: ``GET /api/v1/cop?at=`` (``emergency.cop.history.picture_at``) on a real SQLite store.

The Portland demo scenario is journaled (as ``emergency demo`` submits it, through the same flows), then
``--reports`` citizen reports (random categories, random points over inner Portland, a second apart); the time
to read the journal and rebuild the picture at the end (normalise, correlate, project, in memory) is printed,
best of ``--runs``, in wall-clock and in CPU seconds (the CPU figure is the one to compare on a shared machine):
first by a full replay (the baseline, no checkpoint), then from a checkpoint ``--tail`` journal rows before the
end, with the ratio of the two measured in the same run and whether both answers are the same.
Goal: <= 2 s for the demo plus 10,000 reports.

    python bench/history.py [--reports 10000] [--runs 3] [--tail 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from emergency.assembly.cli import DEFAULT_SCENARIO  # noqa: E402
from emergency.assembly.demo import store_demo_tokens  # noqa: E402
from emergency.auth.tokens import find_token  # noqa: E402
from emergency.collector import tune_collector  # noqa: E402
from emergency.config import Settings  # noqa: E402
from emergency.cop.checkpoints import CHECKPOINTS  # noqa: E402
from emergency.cop.history import picture_answer, picture_at  # noqa: E402
from emergency.events import Envelope, GeoPrecision, Kind, Source, utcnow  # noqa: E402
from emergency.store.factory import open_store  # noqa: E402
from emergency.stream.topics import RAW_CITIZEN  # noqa: E402
from feeds.scenario import load_scenario, replay  # noqa: E402
from mapping.live_map.views import region_info  # noqa: E402

CATEGORIES = ("smoke", "flooding", "damage", "blocked_road", "spot_fire", "needs_help")


class Journal:
    """The replay's target: every input straight into the store's journal (no broker)."""

    def __init__(self, store, settings) -> None:
        self.store, self.settings = store, settings

    async def submit(self, event, topic, *, on_conflict="keep"):
        return await self.store.accept(event, topic, None, on_conflict)


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(store_url=f"sqlite:///{tmp}/history.db", data_dir=Path(tmp))
        thresholds = tune_collector(settings.gc_gen0_threshold)  # as the server's processes run (Runtime.start)
        store = await open_store(settings.store_url)
        try:
            region = region_info(settings.region_dir)
            name = region.get("jurisdiction_agency", "Demo agency")
            tokens = await store_demo_tokens(store, secret=b"bench" * 8, agency=name,
                                             jurisdiction=region.get("jurisdiction"))
            alerter = await find_token(store, tokens["alert_originator"])
            agency = await find_token(store, tokens["agency"])
            demo = await replay(Journal(store, settings), load_scenario(DEFAULT_SCENARIO), speed=1e9,
                                agency=name, alerter=alerter, principal=agency)
            rng = random.Random(12)
            start = utcnow()
            for i in range(args.reports):
                cat = rng.choice(CATEGORIES)
                event = Envelope(id=f"citizen:bench-{i}", kind=Kind.citizen_report, category=cat,
                                 text=f"{cat.replace('_', ' ')} seen near block {rng.randint(1, 400)}",
                                 geometry={"type": "Point", "coordinates": [round(rng.uniform(-122.72, -122.55), 5),
                                                                            round(rng.uniform(45.47, 45.56), 5)]},
                                 geo_precision=GeoPrecision.exact, confidence=0.8,
                                 observed_at=start + timedelta(seconds=i), received_at=start + timedelta(seconds=i),
                                 source=Source(type="citizen", ref=f"bench-{i}"))
                await store.accept(event, RAW_CITIZEN, None)
            at = start + timedelta(seconds=args.reports + 1)
            checkpoints = store.repository(CHECKPOINTS)

            async def timed(when, **kw):
                best = best_cpu = float("inf")
                for _ in range(args.runs):
                    t0, c0 = time.perf_counter(), time.process_time()
                    picture = await picture_at(store=store, at=when, **kw)
                    answer = picture_answer(picture)
                    best = min(best, time.perf_counter() - t0)
                    best_cpu = min(best_cpu, time.process_time() - c0)
                return picture, answer, best, best_cpu

            await checkpoints.drop_all()
            picture, full, wall, cpu = await timed(at)  # the baseline: no checkpoint, none written
            counts = {k: v["returned"] for k, v in full["layers"].items() if v["returned"]}
            print(f"history: demo scenario ({demo} inputs) + {args.reports} reports = {picture.rows_read} journal "
                  f"rows -> {counts}")
            print(f"  garbage collector thresholds {thresholds} (EMERGENCY_GC_GEN0_THRESHOLD, as the server)")
            print(f"  full replay:      {wall:.2f} s, {cpu:.2f} s of CPU (best of {args.runs})")
            # a checkpoint ``--tail`` rows before the end (the most a replay reads past one when
            # EMERGENCY_HISTORY_CHECKPOINT_EVERY is that), written by a first ask at that time
            mid = start + timedelta(seconds=args.reports - args.tail)
            t0, c0 = time.perf_counter(), time.process_time()
            await picture_at(store=store, at=mid, every=1, keep=1)
            write_wall, write_cpu = time.perf_counter() - t0, time.process_time() - c0
            [info] = await checkpoints.listed()
            print(f"  first ask at a time {args.tail} rows before the end, writing a checkpoint there: {write_wall:.2f} s,"
                  f" {write_cpu:.2f} s of CPU; checkpoint at seq {info.seq}: {info.size / 1e6:.2f} MB "
                  f"({info.size / info.rows:.0f} bytes per journal row)")
            picture, fast, cwall, ccpu = await timed(at)
            assert picture.checkpoint_seq == info.seq, "the checkpoint was not used"
            same = json.dumps({k: v for k, v in fast.items() if not k.startswith(("journal_rows_replayed", "from_"))}) \
                == json.dumps({k: v for k, v in full.items() if not k.startswith(("journal_rows_replayed", "from_"))})
            print(f"  from checkpoint:  {cwall:.2f} s, {ccpu:.2f} s of CPU (best of {args.runs}; "
                  f"{picture.rows_replayed} rows replayed after it; same answer as the full replay: {same})")
            print(f"  ratio full / from checkpoint: {wall / cwall:.1f}x wall, {cpu / ccpu:.1f}x CPU "
                  f"(goal <= 2 s from checkpoint)")
        finally:
            await store.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reports", type=int, default=10_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--tail", type=int, default=1000, help="journal rows between the checkpoint and the asked time")
    asyncio.run(main(p.parse_args()))
