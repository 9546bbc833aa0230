#!/usr/bin/env python
"""History benchmark: ``GET /api/v1/cop?at=`` (``emergency.cop.history.picture_at``) on a real SQLite store.

The Portland demo scenario is journaled (as ``emergency demo`` submits it, through the same flows), then
``--reports`` citizen reports (random categories, random points over inner Portland, a second apart); the time
to read the journal and rebuild the picture at the end (normalise, correlate, project, in memory) is printed,
best of ``--runs``, in wall-clock and in CPU seconds (the CPU figure is the one to compare on a shared machine).
Goal: <= 2 s for the demo plus 10,000 reports.

    python bench/history.py [--reports 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
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
from emergency.config import Settings  # noqa: E402
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
            best = best_cpu = float("inf")
            for _ in range(args.runs):
                t0, c0 = time.perf_counter(), time.process_time()
                picture = await picture_at(store=store, at=at)
                answer = picture_answer(picture)
                best = min(best, time.perf_counter() - t0)
                best_cpu = min(best_cpu, time.process_time() - c0)
            counts = {k: v["returned"] for k, v in answer["layers"].items() if v["returned"]}
            print(f"history: demo scenario ({demo} inputs) + {args.reports} reports = {picture.rows_read} journal "
                  f"rows -> {counts}; rebuilt in {best:.2f} s, {best_cpu:.2f} s of CPU (best of {args.runs}; "
                  f"goal <= 2 s)")
        finally:
            await store.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reports", type=int, default=10_000)
    p.add_argument("--runs", type=int, default=3)
    asyncio.run(main(p.parse_args()))
