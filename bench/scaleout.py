#!/usr/bin/env python
"""Scale-out benchmark: pipeline throughput with one ``emergency worker`` process against two.

Run inside a PostgreSQL+PostGIS environment, from the project root::

    pg_virtualenv -t -v 15 .venv/bin/python bench/scaleout.py            # N=6,000 reports, 2 rounds
    pg_virtualenv -t -v 15 .venv/bin/python bench/scaleout.py --reports 2000 --rounds 1 --brokers 1

The production shape: an Apache Kafka cluster (``--brokers`` KRaft nodes, default 3, replication
min(3, brokers), from the jars ``bash .ci/kafka.sh`` caches) and PostGIS. For each run, K worker
processes (K = 1, then 2, interleaved over ``--rounds``) start on a fresh database and topic prefix with
their relays off, and the benchmark waits until they have joined the consumer groups; this process then
journals N citizen reports into the store (not timed), starts one outbox relay of its own and times
relay start → ``journal_counts().applied == N`` (relay → raw.citizen → normaliser → cop.reports →
correlator → cop.incidents → projector → PostGIS; the processors all in the workers). The relay is the
same single one for both K, so the ratio (the median rate with two workers over the median with one,
measured in the same run) is what a second worker adds to the processors; on a machine with fewer free
cores than processes it says what the machine had to spare, not what the code can do.

Progress goes to stderr; figures are printed and written to bench/results/scaleout.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results" / "scaleout.json"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from aiokafka.admin import AIOKafkaAdminClient  # noqa: E402
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment  # noqa: E402

from bench.pipeline import report_bodies, report_envelopes  # noqa: E402
from emergency.config import Settings  # noqa: E402
from emergency.metrics import Registry  # noqa: E402
from emergency.store import open_store  # noqa: E402
from emergency.stream.relay import OutboxRelay  # noqa: E402
from emergency.stream.topics import RAW_CITIZEN  # noqa: E402

GROUPS = ("normaliser", "correlator", "projector")


def log(msg: str) -> None:
    print(f"[scaleout {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pg_url(database: str) -> str:
    user, password = os.environ.get("PGUSER", "postgres"), os.environ.get("PGPASSWORD", "")
    host, port = os.environ.get("PGHOST", "localhost"), os.environ.get("PGPORT", "5432")
    auth = f"{user}:{password}@" if password else f"{user}@"
    if host.startswith("/"):
        return f"postgresql://{auth}/{database}?host={host}&port={port}"
    return f"postgresql://{auth}{host}:{port}/{database}"


async def fresh_database() -> str:
    import asyncpg

    name = f"emergency_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(pg_url(os.environ.get("PGDATABASE", "postgres")))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return pg_url(name)


async def joined(bootstrap: str, group: str, members: int) -> bool:
    """Whether consumer group ``group`` has ``members`` members that each hold partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        await admin.start()
        [described] = await admin.describe_consumer_groups([group])
        held = [ConsumerProtocolMemberAssignment.decode(m[-1]).assignment if m[-1] else [] for m in described.groups[0][5]]
        return len(held) == members and all(any(parts for _, parts in a) for a in held)
    except Exception:
        return False
    finally:
        await admin.close()


async def one_run(*, bootstrap: str, workers: int, n: int, tmp: Path) -> dict[str, Any]:
    store_url = await fresh_database()
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EMERGENCY_KAFKA_BOOTSTRAP": bootstrap,
           "EMERGENCY_STORE_URL": store_url, "EMERGENCY_TOPIC_PREFIX": prefix,
           "EMERGENCY_SESSION_TIMEOUT_MS": "6000", "EMERGENCY_RUN_DELIVERY": "false", "EMERGENCY_RUN_RELAY": "false"}
    procs = []
    store = await open_store(store_url)
    try:
        for i in range(workers):
            log_path = tmp / f"{prefix}worker{i}.log"
            procs.append(subprocess.Popen([sys.executable, "-m", "emergency.assembly.cli", "worker"], cwd=ROOT,
                                          env={**env, "EMERGENCY_DATA_DIR": str(tmp / f"{prefix}w{i}")},
                                          stdout=subprocess.DEVNULL, stderr=log_path.open("ab")))
        t = time.perf_counter()
        while not all([await joined(bootstrap, f"{prefix}{g}", workers) for g in GROUPS]):
            for p in procs:
                if p.poll() is not None:
                    raise RuntimeError(f"a worker exited with {p.returncode}; see {tmp}")
            if time.perf_counter() - t > 240:
                raise RuntimeError("the workers did not join their groups within 240 s")
            await asyncio.sleep(0.5)
        log(f"{workers} worker(s) joined their groups in {time.perf_counter() - t:.1f} s; journaling {n} reports")
        events = report_envelopes(report_bodies(n, seed=workers))
        t = time.perf_counter()
        for i in range(0, n, 64):
            await asyncio.gather(*(store.accept(e, RAW_CITIZEN, e.id) for e in events[i:i + 64]))
        journaled = time.perf_counter() - t
        settings = Settings(kafka_bootstrap=bootstrap, store_url=store_url, topic_prefix=prefix, data_dir=tmp)
        relay = OutboxRelay(settings=settings, bootstrap=bootstrap, store=store, metrics=Registry())
        start = time.perf_counter()
        relay_task = asyncio.create_task(relay.run())
        last = -1.0
        while (applied := (await store.journal_counts()).applied) < n:
            if time.perf_counter() - last > 2:
                log(f"  {applied:,}/{n:,} in the picture after {time.perf_counter() - start:.1f} s")
                last = time.perf_counter()
            if time.perf_counter() - start > 900:
                raise RuntimeError(f"only {applied} of {n} applied after 900 s")
            await asyncio.sleep(0.1)
        seconds = time.perf_counter() - start
        relay_task.cancel()
        await asyncio.gather(relay_task, return_exceptions=True)
        rate = n / seconds
        log(f"{workers} worker(s): {n:,} reports in {seconds:.1f} s = {rate:,.0f}/s (journaled in {journaled:.1f} s)")
        return {"workers": workers, "reports": n, "seconds": round(seconds, 2), "rate": round(rate, 1),
                "journaled_s": round(journaled, 2)}
    finally:
        await store.close()
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


async def amain(args) -> dict[str, Any]:
    from tests.kafka import KafkaCluster

    if "PGHOST" not in os.environ and "PGPORT" not in os.environ:
        raise SystemExit("run inside pg_virtualenv (or set PGHOST/PGPORT/PGUSER/PGPASSWORD): the workers share PostGIS")
    cluster = KafkaCluster(args.brokers)
    tmp = Path(tempfile.mkdtemp(prefix="emergency-scaleout-"))
    runs: list[dict[str, Any]] = []
    try:
        t = time.perf_counter()
        bootstrap = await cluster.start()
        log(f"Apache Kafka, {args.brokers} node(s), ready in {time.perf_counter() - t:.0f} s at {bootstrap}")
        for r in range(args.rounds):
            for workers in (1, 2):
                log(f"round {r + 1}/{args.rounds}: {workers} worker(s)")
                runs.append(await one_run(bootstrap=bootstrap, workers=workers, n=args.reports, tmp=tmp))
    finally:
        await cluster.stop()
        cluster.cleanup()
    one = statistics.median(x["rate"] for x in runs if x["workers"] == 1)
    two = statistics.median(x["rate"] for x in runs if x["workers"] == 2)
    return {"meta": {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "cpus": os.cpu_count(),
                     "python": platform.python_version(), "brokers": args.brokers, "argv": sys.argv[1:],
                     "load_average": os.getloadavg()},
            "runs": runs, "one_worker_rate": one, "two_workers_rate": two, "ratio": round(two / one, 3)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reports", type=int, default=6000, help="reports per run (default 6000)")
    p.add_argument("--rounds", type=int, default=2, help="1-worker/2-worker pairs, interleaved (default 2)")
    p.add_argument("--brokers", type=int, default=3, help="Kafka nodes (default 3: RF 3, min.insync 2)")
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    result = asyncio.run(amain(args))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nscale-out benchmark  {result['meta']['date']}  {result['meta']['cpus']} cores  "
          f"Apache Kafka x{args.brokers}, PostGIS  (load average {result['meta']['load_average'][0]:.1f})")
    for x in result["runs"]:
        print(f"   {x['workers']} worker(s)  {x['reports']:,} reports  {x['seconds']:7.1f} s  {x['rate']:9,.0f} reports/s")
    print(f"   median 1 worker {result['one_worker_rate']:,.0f}/s, 2 workers {result['two_workers_rate']:,.0f}/s: "
          f"ratio {result['ratio']:.2f} (2 = linear)")
    print(f"results written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
