#!/usr/bin/env python
"""Report page load on a throttled connection: first load vs load from the service worker's cache.

``emergency serve`` runs in a subprocess (against an embedded Tansu broker, SQLite); Debian's Chromium (Playwright)
opens ``/report`` under Chromium's network emulation "Slow 3G" (CDP ``Network.emulateNetworkConditions``: 2,000 ms
round trip, 400 kbit/s down and up, DevTools' preset). "Interactive" is the page's own ``report-ready`` mark (the
form is rendered and takes input), from navigation start. First load: a fresh browser profile each run. From cache:
the same profile once its service worker controls the page, reloaded. Goal: interactive <= 3 s from cache.
Results go to stdout and bench/results/report_page.json.

    python bench/report_page.py [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))  # after the root: bench/feeds.py must not shadow feeds/

from pipeline import FETCH_MAX_WAIT_DEFAULT, Server, _git_head, log  # noqa: E402
from playwright.async_api import async_playwright  # noqa: E402

from emergency.stream.broker import EmbeddedBroker  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
        "--disable-component-update"]
SLOW_3G = {"offline": False, "latency": 2000, "downloadThroughput": 400 * 1000 / 8,
           "uploadThroughput": 400 * 1000 / 8}
READY = "() => { const m = performance.getEntriesByName('report-ready'); return m.length ? m[0].startTime : null; }"


async def throttled_load(context, url: str) -> tuple[float, int]:
    """Open ``url`` in a new page of ``context`` under Slow 3G: (ms to interactive, bytes over the network)."""
    page = await context.new_page()
    cdp = await context.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send("Network.emulateNetworkConditions", SLOW_3G)
    received = 0

    def on_finished(event: dict) -> None:
        nonlocal received
        received += int(event.get("encodedDataLength", 0))

    cdp.on("Network.loadingFinished", on_finished)
    await page.goto(url, wait_until="commit", timeout=120_000)
    await page.wait_for_function(f"({READY})() !== null", timeout=120_000)
    ready = await page.evaluate(f"({READY})()")
    await page.close()
    return ready, received


async def measure(base: str, runs: int) -> dict:
    first, cached, first_bytes, cached_bytes, from_worker = [], [], [], [], []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for i in range(runs):
                context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US")
                ms, n = await throttled_load(context, base + "/report")
                first.append(ms)
                first_bytes.append(n)
                warm = await context.new_page()  # let the worker install and precache, unthrottled
                await warm.goto(base + "/report")
                await warm.evaluate("navigator.serviceWorker.ready.then(() => true)")
                await warm.reload()
                from_worker.append(await warm.evaluate("!!navigator.serviceWorker.controller"))
                await warm.close()
                ms, n = await throttled_load(context, base + "/report")
                cached.append(ms)
                cached_bytes.append(n)
                await context.close()
                log(f"run {i + 1}/{runs}: first {first[-1]:.0f} ms, from cache {cached[-1]:.0f} ms")
        finally:
            await browser.close()
    return {"first_ms": [round(v) for v in first], "cached_ms": [round(v) for v in cached],
            "first_median_ms": round(statistics.median(first)), "cached_median_ms": round(statistics.median(cached)),
            "first_bytes_median": int(statistics.median(first_bytes)),
            "cached_bytes_median": int(statistics.median(cached_bytes)),
            "controlled_by_worker": all(from_worker),
            "ratio_first_over_cached": round(statistics.median(first) / statistics.median(cached), 1),
            "goal_cached_ms": 3000, "goal_met": statistics.median(cached) <= 3000}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="emergency-bench-report-page-"))
    broker = EmbeddedBroker()
    server = None
    try:
        server = Server(await broker.start(), tmp, FETCH_MAX_WAIT_DEFAULT)
        await server.start()
        result = {"meta": {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "cpus": os.cpu_count(),
                           "git": _git_head(), "python": platform.python_version(), "network": "Slow 3G",
                           "conditions": SLOW_3G, "runs": args.runs},
                  **await measure(server.base_url, args.runs)}
    finally:
        if server is not None:
            await server.stop()
        await broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    out = ROOT / "bench" / "results" / "report_page.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"report page under Slow 3G ({args.runs} runs, median): first load interactive in "
          f"{result['first_median_ms']} ms ({result['first_bytes_median'] / 1000:.0f} kB over the network), "
          f"from the service worker's cache in {result['cached_median_ms']} ms "
          f"({result['cached_bytes_median'] / 1000:.1f} kB); ratio {result['ratio_first_over_cached']}x; "
          f"goal <= 3000 ms from cache: {'met' if result['goal_met'] else 'NOT met'}")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
