#!/usr/bin/env python
"""Alert fan-out benchmark: issue → every delivery job produced, against bare aiokafka; WebSocket push latency.

Run from the project root with the project's virtualenv::

    python bench/fanout.py                 # 1,000,000 subscribers, an alert covering 100,000; 10,000 sockets
    python bench/fanout.py --quick         # 100,000 subscribers covering 10,000; 1,000 sockets

(a) Fan-out. ``--subscribers`` subscriptions (90 % points, 10 % drawn squares about 100 m wide, each with one
webhook channel) are spread uniformly over the Portland region and loaded into a ``Runtime`` (relay, projector,
fan-out; no channel workers) through its ``Directory`` rebuild. An alert polygon covering about
``--targeted`` of them is journaled with ``Runtime.submit``; the time measured runs from that call until the
broker acknowledged (acks=all) every delivery job on ``alerts.deliveries.p*`` (the fan-out's call returns):
journal → relay → alerts.issued → fan-out (index query, 1 ledger batch in SQLite, jobs and queued receipts).
Baseline in the same run, same broker: bare aiokafka (acks=all) producing as many messages of the jobs' size
to a fresh topic and awaiting every acknowledgement. Ratio = baseline time / fan-out time (goal ≥ 0.5).

(b) WebSocket push. ``emergency serve`` runs in a subprocess; ``--sockets`` clients connect to ``/ws/alerts``
inside the alert circle; latency per client = the 202 of ``POST /api/v1/alerts`` → the alert message received.

Figures are printed and written to bench/results/fanout.json; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results" / "fanout.json"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

REGION = json.loads((ROOT / "sample_data" / "regions" / "portland" / "region.json").read_text())
BOX = (-122.80, 45.43, -122.50, 45.60)  # lon/lat box the subscribers are spread over (WGS 84 degrees)


def log(msg: str) -> None:
    print(f"[fanout] {msg}", file=sys.stderr, flush=True)


def make_targets(n: int, seed: int = 11) -> list:
    """``n`` Targets: 90 % points, 10 % squares of about 100 m (WGS 84), one confirmed webhook channel each."""
    from alerts.delivery.models import ChannelType, Target, TargetChannel
    from alerts.tiers import DEFAULT_TIERS

    rng = np.random.default_rng(seed)
    lons = rng.uniform(BOX[0], BOX[2], n)
    lats = rng.uniform(BOX[1], BOX[3], n)
    tiers = sorted(DEFAULT_TIERS, key=lambda t: t.value)
    channels = [TargetChannel(channel_id="webhook-0", channel=ChannelType.webhook, confirmed=True)]
    out = []
    for i in range(n):
        lon, lat = float(lons[i]), float(lats[i])
        if i % 10 == 9:
            d = 0.0006
            area = {"type": "Polygon", "coordinates": [[[lon, lat], [lon + d, lat], [lon + d, lat + d],
                                                         [lon, lat + d], [lon, lat]]]}
        else:
            area = {"type": "Point", "coordinates": [lon, lat]}
        out.append(Target.model_construct(subscription_id=f"s{i}", version=1, areas=[area], tiers=tiers,
                                          languages=["en"], channels=channels, deleted=False))
    return out


def alert_polygon(share: float) -> dict[str, Any]:
    """A rectangle over the left ``share`` of the box (so it covers about that share of the subscribers)."""
    w = (BOX[2] - BOX[0]) * share
    x0, y0, y1 = BOX[0], BOX[1], BOX[3]
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x0 + w, y0], [x0 + w, y1], [x0, y1], [x0, y0]]]}


class BenchDirectory:
    def __init__(self, targets: list) -> None:
        self._targets = targets

    async def targets(self) -> list:
        return self._targets

    async def contact(self, subscription_id: str, channel_id: str, *, pending: bool = False):
        return None


async def bench_fanout(args, workdir: Path) -> dict[str, Any]:
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import NewTopic

    from alerts.delivery.models import ChannelType, DeliveryJob
    from alerts.models import AlertIn
    from alerts.service import alert_event
    from emergency.assembly.runtime import Runtime
    from emergency.config import Settings
    from emergency.events import utcnow
    from emergency.stream.broker import EmbeddedBroker
    from emergency.stream.topics import ALERTS_ISSUED, admin_client
    from mapping.targeting import TargetIndex

    broker = EmbeddedBroker()
    bootstrap = await broker.start()
    try:
        log(f"making {args.subscribers:,} subscriptions")
        targets = make_targets(args.subscribers)
        share = args.targeted / args.subscribers
        polygon = alert_polygon(share)
        check = TargetIndex()  # the expected count, computed apart from the system
        pts = [(t.areas[0]["coordinates"][1], t.areas[0]["coordinates"][0]) for t in targets
               if t.areas[0]["type"] == "Point"]
        check.add_points(range(len(pts)), np.array([p[0] for p in pts]), np.array([p[1] for p in pts]))
        for t in targets:
            if t.areas[0]["type"] != "Point":
                check.add_area(t.subscription_id, t.areas[0])
        expected = len(check.query(polygon))
        del check
        log(f"the alert covers {expected:,} of them")
        prefix = f"bf{uuid.uuid4().hex[:6]}."
        settings = Settings(kafka_bootstrap=bootstrap, store_url=f"sqlite:///{workdir / 'fanout.sqlite3'}",
                            data_dir=workdir, topic_prefix=prefix)
        runtime = Runtime(settings, directory=BenchDirectory(targets), channels={})
        t = time.perf_counter()
        await runtime.start(gateways=False)
        while runtime.fanout is None or len(runtime.fanout.index) < args.subscribers:
            await asyncio.sleep(0.1)
        load_s = time.perf_counter() - t
        log(f"runtime started, index of {len(runtime.fanout.index):,} loaded in {load_s:.1f} s")
        try:
            now = utcnow()
            alert = AlertIn.model_validate({"tier": "imminent_threat_severe", "headline": "Evacuate now",
                                            "area": {"polygon": polygon}, "expires": (now + timedelta(hours=2)).isoformat()})
            event = alert_event(alert, event_id=f"alert:bench-{uuid.uuid4().hex[:8]}", sender="County EM", now=now)
            done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            fan_out = runtime.fanout.fan_out

            async def observed(**kw) -> int:  # returns once the broker acknowledged every job (acks=all)
                n = await fan_out(**kw)
                if n and not done.done():
                    done.set_result(n)
                return n

            runtime.fanout.fan_out = observed
            t0 = time.perf_counter()
            await runtime.submit(event, ALERTS_ISSUED)
            produced = await asyncio.wait_for(done, 600)
            system_s = time.perf_counter() - t0
            if produced != expected:
                raise RuntimeError(f"{produced} jobs produced, {expected} expected")
            log(f"fan-out: {expected:,} jobs produced in {system_s:.2f} s")

            job = DeliveryJob(delivery_id="0" * 64, alert_id=event.id, alert_version=event.id, subscription_id="s123456",
                              channel_id="webhook-0", channel=ChannelType.webhook, priority=2, expires=now,
                              created_at=now).model_dump_json().encode()
            admin = admin_client(settings, bootstrap)
            await admin.start()
            baseline_topic = f"{prefix}bench.baseline"
            await admin.create_topics([NewTopic(baseline_topic, settings.topic_partitions, 1)])
            await admin.close()
            producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2,
                                        max_batch_size=256 * 1024, enable_idempotence=False)
            await producer.start()
            try:
                t0 = time.perf_counter()
                futures = [await producer.send(baseline_topic, key=f"s{i}".encode(), value=job) for i in range(expected)]
                await asyncio.gather(*futures)
                baseline_s = time.perf_counter() - t0
            finally:
                await producer.stop()
            log(f"bare aiokafka: {expected:,} messages in {baseline_s:.2f} s")
        finally:
            await runtime.stop()
        return {"subscribers": args.subscribers, "targeted": expected, "index_load_s": round(load_s, 2),
                "fanout_s": round(system_s, 3), "baseline_s": round(baseline_s, 3),
                "jobs_per_s": round(expected / system_s), "baseline_per_s": round(expected / baseline_s),
                "ratio": round(baseline_s / system_s, 3)}
    finally:
        await broker.stop()


async def bench_websocket(args, workdir: Path) -> dict[str, Any]:
    import httpx
    import websockets

    from emergency.stream.broker import EmbeddedBroker, free_port

    broker = EmbeddedBroker()
    bootstrap = await broker.start()
    port = free_port()
    admin = f"bench-admin-{uuid.uuid4().hex}"
    env = {**os.environ, "EMERGENCY_HOST": "127.0.0.1", "EMERGENCY_PORT": str(port), "EMERGENCY_DATA_DIR": str(workdir),
           "EMERGENCY_STORE_URL": f"sqlite:///{workdir / 'ws.sqlite3'}", "EMERGENCY_KAFKA_BOOTSTRAP": bootstrap,
           "EMERGENCY_TOPIC_PREFIX": f"bw{uuid.uuid4().hex[:6]}.", "EMERGENCY_ADMIN_TOKEN": admin,
           "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "emergency.assembly.cli", "serve"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    sockets: list = []
    try:
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            for _ in range(600):
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
            r = await http.post("/api/v1/admin/tokens", headers={"Authorization": f"Bearer {admin}"},
                                json={"name": "County EM", "roles": ["alert_originator"], "agency": "County EM",
                                      "jurisdiction": REGION["jurisdiction"]})
            r.raise_for_status()
            token = r.json()["token"]
            log(f"connecting {args.sockets:,} WebSocket clients")
            url = f"ws://127.0.0.1:{port}/ws/alerts?lat=45.5050&lon=-122.6405"
            for i in range(0, args.sockets, 200):
                sockets += await asyncio.gather(*(websockets.connect(url, open_timeout=60, max_queue=None)
                                                  for _ in range(min(200, args.sockets - i))))
            await asyncio.sleep(1.0)
            received: list[float] = []

            async def wait(ws) -> None:
                await ws.recv()
                received.append(time.perf_counter())

            waiters = [asyncio.create_task(wait(ws)) for ws in sockets]
            body = {"tier": "imminent_threat_severe", "headline": "Evacuate now: fire near SE Division St",
                    "area": {"circle": {"lat": 45.5047, "lon": -122.6400, "radius_km": 0.5}},
                    "expires": (datetime.now(UTC) + timedelta(hours=2)).isoformat()}
            r = await http.post("/api/v1/alerts", json=body, headers={"Authorization": f"Bearer {token}"})
            accepted = time.perf_counter()
            r.raise_for_status()
            await asyncio.wait_for(asyncio.gather(*waiters), 120)
        lat = sorted(t - accepted for t in received)
        q = statistics.quantiles(lat, n=100)
        return {"sockets": len(sockets), "received": len(lat), "p50_ms": round(q[49] * 1000, 1),
                "p99_ms": round(q[98] * 1000, 1), "max_ms": round(lat[-1] * 1000, 1)}
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        await broker.stop()


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--subscribers", type=int, default=1_000_000)
    p.add_argument("--targeted", type=int, default=100_000)
    p.add_argument("--sockets", type=int, default=10_000)
    p.add_argument("--quick", action="store_true", help="100,000 subscribers covering 10,000; 1,000 sockets")
    p.add_argument("--skip", choices=("fanout", "websocket"), action="append", default=[])
    args = p.parse_args()
    if args.quick:
        args.subscribers, args.targeted, args.sockets = 100_000, 10_000, 1_000
    results: dict[str, Any] = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
        if "fanout" not in args.skip:
            results["fanout"] = await bench_fanout(args, Path(tmp))
            print(json.dumps(results["fanout"]))
        if "websocket" not in args.skip:
            results["websocket"] = await bench_websocket(args, Path(tmp))
            print(json.dumps(results["websocket"]))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
