#!/usr/bin/env python
"""Pipeline benchmark: stream throughput against bare aiokafka, and intake-to-live-map latency.

Run from the project root with the project's virtualenv::

    python bench/pipeline.py                 # N=20,000 reports, 500 reports/s for 20 s
    python bench/pipeline.py --quick         # N=2,000, 5 s of load
    python bench/pipeline.py --reports 5000 --rate 300 --duration 10
    python bench/pipeline.py --engines tansu,kafka   # the same on Tansu, then on Apache Kafka

Both measurements run in the same invocation against one freshly started embedded Tansu
broker (``emergency.stream.broker.EmbeddedBroker``), or with ``--engines`` on each engine in turn
(Apache Kafka: one KRaft node from the jars ``bash .ci/kafka.sh`` caches), each against a
baseline on the same broker:

1. Throughput ratio. Baseline: bare aiokafka produces N citizen-report envelopes (acks=all)
   to a fresh 3-partition topic while one group consumer reads them back (commit at the end);
   rate = N / (first send -> last message consumed). System: the same N envelopes are
   journaled with ``Runtime.submit(event, "raw.citizen")`` and the rate is
   N / (first submit -> ``journal_counts().applied == N``), i.e. outbox -> relay -> raw.citizen
   -> normaliser -> cop.reports -> projector -> SQLite. Interleaved baseline, system, baseline,
   system (``--rounds``); the medians are compared. The baseline consumer uses the same
   ``fetch_max_wait_ms`` as the system's consumers (``--fetch-max-wait-ms``, default: the
   ``Settings`` default), since on Tansu it sets how long a parked fetch waits.

2. Latency at steady load. ``emergency serve`` runs in a subprocess (same broker, fresh SQLite,
   unique topic prefix); this process is the load generator: one WebSocket client on /ws/cop
   and an open-loop schedule of POST /api/v1/reports at ``--rate`` per second. Latency per
   report = 202 response received -> its delta (feature id) received on the WebSocket. The
   server gets ``EMERGENCY_FETCH_MAX_WAIT_MS`` = ``--fetch-max-wait-ms`` (default: Settings default).

Figures are printed and written to bench/results/pipeline.json; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import json
import math
import os
import platform
import random
import shutil
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
RESULTS = BENCH_DIR / "results" / "pipeline.json"

if str(ROOT) not in sys.path:  # the project is normally installed editable; this makes a plain checkout work too
    sys.path.insert(0, str(ROOT))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # noqa: E402

from emergency.assembly.runtime import Runtime  # noqa: E402
from emergency.collector import tune_collector  # noqa: E402
from emergency.config import Settings  # noqa: E402
from emergency.events import Envelope, new_id, utcnow  # noqa: E402
from emergency.stream.broker import EmbeddedBroker, free_port  # noqa: E402
from emergency.stream.topics import COP_REPORTS, RAW_CITIZEN  # noqa: E402
from feeds.citizen.models import CitizenReportIn  # noqa: E402
from feeds.citizen.service import citizen_event  # noqa: E402

# the project's consumers wait at most this long in a fetch (EMERGENCY_FETCH_MAX_WAIT_MS); the
# benchmark passes it explicitly everywhere, so an exported variable does not change a run silently.
# Checkouts from before that setting (e.g. fc98d04) used aiokafka's default, 500 ms.
_FETCH_FIELD = Settings.model_fields.get("fetch_max_wait_ms")
FETCH_MAX_WAIT_DEFAULT: int = _FETCH_FIELD.default if _FETCH_FIELD is not None else 500

# --------------------------------------------------------------------------------------------
# realistic citizen reports

CATEGORIES = ["blocked_road", "spot_fire", "smoke", "flooding", "damage", "needs_help", "other"]
WHAT = {
    "blocked_road": ["Large tree down across both lanes", "Power lines lying on the road",
                     "Two cars crashed and blocking the intersection", "Mud slide covering the road"],
    "spot_fire": ["Small grass fire spreading along the embankment", "Flames in the brush behind the houses",
                  "Embers landed and lit the bark dust near the playground"],
    "smoke": ["Thick grey smoke rising behind the school", "Strong smell of smoke and ash falling",
              "Black smoke column visible to the east"],
    "flooding": ["Water over the sidewalk and rising", "Storm drain overflowing into the street",
                 "Basement flooding on the whole block"],
    "damage": ["Roof partly torn off a house", "Cracks in the bridge railing after the quake",
               "Shop windows blown out along the street"],
    "needs_help": ["Elderly neighbour cannot leave her apartment", "Family with small kids stranded on the porch",
                   "Man with a leg injury waiting by the bus stop"],
    "other": ["Lots of people gathering at the park, unsure why", "Sirens for the past half hour",
              "Gas smell near the corner store"],
}
DETAIL = ["", " it is getting worse quickly", " cars are turning around", " please send someone soon",
          " about 20 minutes now, nobody there yet", " several neighbours are out watching"]
STREETS = ["SE Hawthorne Blvd", "NE Broadway", "SE Division St", "N Interstate Ave", "SW Naito Pkwy",
           "NE Sandy Blvd", "SE Belmont St", "N Lombard St", "SW Barbur Blvd", "NE Alberta St"]


def report_bodies(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` POST /api/v1/reports bodies around Portland (deterministic for a seed)."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        cat = rnd.choice(CATEGORIES)
        body: dict[str, Any] = {
            "category": cat,
            "lat": round(45.45 + rnd.random() * 0.15, 6),
            "lon": round(-122.75 + rnd.random() * 0.2, 6),
            "text": rnd.choice(WHAT[cat]) + rnd.choice(DETAIL),
            "location_text": f"{rnd.randint(100, 9999)} {rnd.choice(STREETS)}, Portland",
        }
        if rnd.random() < 0.6:
            body["contact"] = f"+1 503 555 {rnd.randint(0, 9999):04d}"
        out.append(body)
    return out


def report_envelopes(bodies: list[dict[str, Any]]) -> list[Envelope]:
    """The raw.citizen envelopes the intake API would make for these bodies."""
    now = utcnow()
    return [citizen_event(CitizenReportIn(**b), event_id=new_id("citizen"), source_type="citizen_api", now=now)
            for b in bodies]


# --------------------------------------------------------------------------------------------
# small helpers


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def cpu_seconds(pid: int | None = None) -> float:
    """User+system CPU seconds of a process (this one when pid is None), all threads."""
    path = f"/proc/{pid or 'self'}/stat"
    try:
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


class CpuMeter:
    """CPU use (in cores) of named processes between ``start()`` and ``stop()``."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = pids
        self._t0 = 0.0
        self._c0: dict[str, float] = {}
        self.result: dict[str, float] = {}

    def start(self) -> CpuMeter:
        self._t0 = time.perf_counter()
        self._c0 = {k: cpu_seconds(p) for k, p in self.pids.items()}
        return self

    def stop(self) -> dict[str, float]:
        dt = time.perf_counter() - self._t0
        self.result = {k: round((cpu_seconds(p) - self._c0[k]) / dt, 2) for k, p in self.pids.items()}
        return self.result


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def _pdeathsig() -> None:
    """In a child before exec: get SIGTERM if the bench dies, so no server is orphaned."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


async def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()


async def ticker(label: str, describe, every: float = 1.0) -> None:
    """Print ``label: describe()`` to stderr every ``every`` seconds until cancelled."""
    t0 = time.perf_counter()
    while True:
        await asyncio.sleep(every)
        try:
            text = describe()
            if asyncio.iscoroutine(text):
                text = await text
        except Exception as exc:  # progress must never break a measurement
            text = f"({type(exc).__name__})"
        log(f"{label} {time.perf_counter() - t0:5.1f}s {text}")


async def stop_process(proc: subprocess.Popen, grace_s: float = 20.0) -> int:
    """SIGINT (what Ctrl-C sends), then SIGKILL after ``grace_s``; returns the exit code (130 = Ctrl-C)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + grace_s
        while proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if proc.poll() is None:
            log(f"process {proc.pid} did not stop within {grace_s:g} s of SIGINT; killing it")
            proc.kill()
    return proc.wait(timeout=10)


class PySpy:
    """``py-spy record`` (raw collapsed stacks) attached to a running process for a measured window.

    Started right before the window and stopped (SIGINT: py-spy then writes its output) right
    after it, so the profile holds only the timed part of a run: no start-up, warm-up or baseline.
    """

    def __init__(self, pid: int, output: Path, gil_only: bool, rate: int = 200) -> None:
        exe = shutil.which("py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
        if exe is None:
            raise RuntimeError("--pyspy needs py-spy (pip install py-spy into this virtualenv)")
        self.command = [exe, "record", "--pid", str(pid), "-r", str(rate), "-f", "raw", "-o", str(output),
                        *(["-g"] if gil_only else [])]
        self.output = output
        self.log = output.with_suffix(".pyspy.log")
        self.proc: subprocess.Popen | None = None

    async def start(self, timeout_s: float = 10.0) -> None:
        self.output.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         preexec_fn=_pdeathsig)
        deadline = time.monotonic() + timeout_s
        while b"Sampling" not in self.log.read_bytes():  # py-spy says so once it is attached
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"py-spy did not start: {self.log.read_text(errors='replace')[-500:]}")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            code = await stop_process(proc, grace_s=30)
            log(f"py-spy (exit {code}): profile in {self.output}" if self.output.exists() else
                f"py-spy (exit {code}) wrote no profile: {self.log.read_text(errors='replace')[-300:]}")


async def stop_task(task: asyncio.Task | None) -> None:
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# --------------------------------------------------------------------------------------------
# 1. throughput: bare aiokafka baseline


async def run_baseline(bootstrap: str, messages: list[tuple[bytes, bytes]], partitions: int,
                       broker_pid: int | None, label: str, fetch_max_wait_ms: int) -> dict[str, Any]:
    n = len(messages)
    run = uuid.uuid4().hex[:8]
    topic = f"bench{run}.baseline"
    await create_topic(bootstrap, topic, partitions)
    # same producer options as emergency.stream.producer.make_producer
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=2,
                                max_batch_size=256 * 1024, max_request_size=2 * 1024 * 1024,
                                request_timeout_ms=30_000)
    # same fetch_max_wait_ms as the system's consumers: on Tansu a parked fetch is answered only at
    # this deadline, so a different value would change the baseline's rate, not just the system's
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"bench{run}", enable_auto_commit=False,
                                auto_offset_reset="earliest", session_timeout_ms=2000, heartbeat_interval_ms=666,
                                fetch_max_wait_ms=fetch_max_wait_ms)
    state = {"sent": 0, "consumed": 0}
    progress = None
    try:
        await producer.start()
        await consumer.start()
        # warm-up: one message through, so the group join and connections are not timed
        await (await producer.send(topic, value=b'{"warmup":true}', key=b"warmup"))
        deadline = time.monotonic() + 60
        while not any((await consumer.getmany(timeout_ms=200)).values()):
            if time.monotonic() > deadline:
                raise RuntimeError("baseline consumer got no warm-up message within 60 s")

        async def consume() -> float:
            seen = 0
            while seen < n:
                batches = await consumer.getmany(timeout_ms=500, max_records=1000)
                for recs in batches.values():
                    seen += len(recs)
                state["consumed"] = seen
            return time.perf_counter()

        progress = asyncio.create_task(ticker(
            f"{label}:", lambda: f"sent {state['sent']}/{n}  consumed {state['consumed']}/{n}"))
        cpu = CpuMeter({"bench_process": None, "broker": broker_pid}).start()
        t0 = time.perf_counter()
        reader = asyncio.create_task(consume())
        futures = []
        for key, value in messages:
            futures.append(await producer.send(topic, value=value, key=key))
            state["sent"] += 1
        await asyncio.gather(*futures)
        t_acked = time.perf_counter()
        t_last = await asyncio.wait_for(reader, 300)
        cpu_use = cpu.stop()
        await consumer.commit()
        t_commit = time.perf_counter()
    finally:
        await stop_task(progress)
        await producer.stop()
        await consumer.stop()
    elapsed = t_last - t0
    out = {
        "kind": "baseline", "messages": n, "seconds": round(elapsed, 3), "rate": round(n / elapsed, 1),
        "all_acked_s": round(t_acked - t0, 3), "commit_ms": round((t_commit - t_last) * 1000, 1),
        "fetch_max_wait_ms": fetch_max_wait_ms, "cpu_cores": cpu_use,
    }
    log(f"{label}: {n} messages in {elapsed:.2f} s = {out['rate']:,.0f} msg/s "
        f"(all acked after {out['all_acked_s']:.2f} s; cpu {cpu_use})")
    return out


# --------------------------------------------------------------------------------------------
# 1. throughput: the system's stream pipeline


async def run_system(bootstrap: str, events: list[Envelope], tmp_root: Path, submitters: int,
                     broker_pid: int | None, label: str, gateways: bool, fetch_max_wait_ms: int,
                     worker_process: bool = False, pyspy: tuple[Path, bool] | None = None) -> dict[str, Any]:
    """Journal ``events`` with ``Runtime.submit`` and time until all are applied.

    With ``worker_process`` the relay and the processors run in an ``emergency worker`` subprocess
    on the same SQLite file (this process only journals), to see what the second core buys.
    With ``pyspy`` = (stem, gil_only), py-spy profiles the timed window of this process (and of the
    worker process) into ``<stem>.bench.txt`` (``<stem>.worker.txt``).
    """
    n = len(events)
    workdir = Path(tempfile.mkdtemp(prefix="sys-", dir=tmp_root))
    store_url = f"sqlite:///{workdir / 'store.sqlite3'}"
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    settings = Settings(kafka_bootstrap=bootstrap, store_url=store_url, data_dir=workdir, topic_prefix=prefix,
                        fetch_max_wait_ms=fetch_max_wait_ms,
                        **({"run_workers": False, "run_relay": False} if worker_process else {}))
    runtime = Runtime(settings)
    progress = None
    worker: subprocess.Popen | None = None
    spies: list[PySpy] = []
    try:
        t_start = time.perf_counter()
        await runtime.start(gateways=gateways)
        if worker_process:
            env = {**os.environ, "EMERGENCY_KAFKA_BOOTSTRAP": bootstrap, "EMERGENCY_STORE_URL": store_url,
                   "EMERGENCY_DATA_DIR": str(workdir), "EMERGENCY_TOPIC_PREFIX": prefix,
                   "EMERGENCY_FETCH_MAX_WAIT_MS": str(fetch_max_wait_ms)}
            with (workdir / "worker.log").open("wb") as out:
                worker = subprocess.Popen([sys.executable, "-m", "emergency.assembly.cli", "worker"], cwd=ROOT, env=env,
                                          stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                          preexec_fn=_pdeathsig)
        store = runtime.store
        assert store is not None
        # warm-up: one report through the whole pipeline (group joins, connections) before timing
        warm = report_envelopes(report_bodies(1, seed=99))[0]
        await runtime.submit(warm, RAW_CITIZEN)
        if not await runtime.wait_applied(timeout_s=60, poll_s=0.05):
            raise RuntimeError("system warm-up report not applied within 60 s")
        warmup_s = time.perf_counter() - t_start
        target = n + 1
        submitted = 0
        last: dict[str, Any] = {}

        async def describe() -> str:
            c = last.get("counts")
            if c is None:
                return f"submitted {submitted}/{n}"
            return (f"submitted {submitted}/{n}  published {c.published - 1}  applied {c.applied - 1}/{n}")

        progress = asyncio.create_task(ticker(f"{label}:", describe))
        pids: dict[str, int | None] = {"bench_process": None, "broker": broker_pid}
        if worker is not None:
            pids["worker_process"] = worker.pid
        if pyspy is not None:
            stem, gil_only = pyspy
            spies.append(PySpy(os.getpid(), stem.with_name(stem.name + ".bench.txt"), gil_only))
            if worker is not None:
                spies.append(PySpy(worker.pid, stem.with_name(stem.name + ".worker.txt"), gil_only))
            for spy in spies:
                await spy.start()
        cpu = CpuMeter(pids).start()
        t0 = time.perf_counter()
        it = iter(events)

        async def submitter() -> None:
            nonlocal submitted
            for ev in it:
                await runtime.submit(ev, RAW_CITIZEN)
                submitted += 1

        subs = asyncio.gather(*(submitter() for _ in range(submitters)))
        t_submitted = None
        t_published = None
        deadline = time.perf_counter() + max(300.0, n / 50)
        while True:
            if t_submitted is None and subs.done():
                subs.result()
                t_submitted = time.perf_counter()
            counts = await store.journal_counts()
            last["counts"] = counts
            now = time.perf_counter()
            if t_published is None and counts.published >= target:
                t_published = now
            if counts.applied >= target:
                t_end = now
                break
            if now > deadline:
                raise RuntimeError(f"system run: only {counts.applied - 1} of {n} applied after {now - t0:.0f} s")
            await asyncio.sleep(0.1)
        await subs
        if t_submitted is None:
            t_submitted = t_end
        cpu_use = cpu.stop()
        for spy in spies:
            await spy.stop()
        events_in = runtime.metrics.events_in
        dead = sum(getattr(runtime.metrics.dead_letters, "_values", {}).values())
        stored = await store.count_events()
    finally:
        for spy in spies:
            await spy.stop()
        await stop_task(progress)
        await runtime.stop()
        if worker is not None:
            await stop_process(worker)
        shutil.rmtree(workdir, ignore_errors=True)
    elapsed = t_end - t0
    out = {
        "kind": "system", "messages": n, "seconds": round(elapsed, 3), "rate": round(n / elapsed, 1),
        "all_submitted_s": round(t_submitted - t0, 3), "submit_rate": round(n / (t_submitted - t0), 1),
        "all_published_s": round((t_published or t_end) - t0, 3), "startup_and_warmup_s": round(warmup_s, 2),
        "events_in_normaliser": int(events_in.value(topic=RAW_CITIZEN, group="normaliser")),
        "events_in_projector": int(events_in.value(topic=COP_REPORTS, group="projector")),
        "dead_letters": int(dead), "events_in_store": stored, "gateways": gateways, "submitters": submitters,
        "worker_process": worker_process, "fetch_max_wait_ms": fetch_max_wait_ms,
        "cpu_cores": cpu_use,
    }
    log(f"{label}: {n} reports applied in {elapsed:.2f} s = {out['rate']:,.0f} reports/s "
        f"(submitted after {out['all_submitted_s']:.2f} s, published after {out['all_published_s']:.2f} s; "
        f"cpu {cpu_use})")
    return out


async def measure_throughput(args, bootstrap: str, broker_pid: int | None, tmp_root: Path) -> dict[str, Any]:
    log(f"throughput: preparing {args.reports} citizen-report envelopes; fetch_max_wait_ms={args.fetch_max_wait_ms} "
        f"({args.fetch_max_wait_source}) for the system's consumers and the baseline consumer alike")
    events = report_envelopes(report_bodies(args.reports))
    messages = [(e.id.encode(), e.to_json()) for e in events]
    sizes = [len(v) for _, v in messages]
    partitions = Settings(kafka_bootstrap=bootstrap).topic_partitions
    runs: list[dict[str, Any]] = []
    # The N prepared envelopes are ~9 objects each. Left to the collector, every full collection
    # walks them all (~65 ms at N=20,000, ~130 ms at 40,000): a pause that neither bare aiokafka
    # nor the system would have, and that fell into the ~0.35 s baseline window, understating the
    # baseline by up to a third. Freezing them keeps the benchmark's own fixtures out of the figures.
    gc.collect()
    gc.freeze()
    # the system's Runtime.start sets the collector thresholds (emergency/collector.py): set them
    # before the first round so every baseline and system run has the same ones
    tune_collector(Settings().gc_gen0_threshold)
    try:
        for r in range(args.rounds):
            runs.append(await run_baseline(bootstrap, messages, partitions, broker_pid, f"baseline #{r + 1}",
                                           args.fetch_max_wait_ms))
            runs.append(await run_system(
                bootstrap, events, tmp_root, args.submitters, broker_pid, f"system #{r + 1}",
                gateways=not args.no_gateways, fetch_max_wait_ms=args.fetch_max_wait_ms,
                worker_process=args.worker_process,
                pyspy=None if args.pyspy is None else
                (args.pyspy / f"system{r + 1}-{args.pyspy_mode}", args.pyspy_mode == "gil")))
    finally:
        gc.unfreeze()
    base = statistics.median(x["rate"] for x in runs if x["kind"] == "baseline")
    system = statistics.median(x["rate"] for x in runs if x["kind"] == "system")
    return {
        "reports": args.reports, "message_bytes_mean": round(statistics.mean(sizes), 1),
        "message_bytes_min": min(sizes), "message_bytes_max": max(sizes), "partitions": partitions,
        "fetch_max_wait_ms": args.fetch_max_wait_ms, "worker_process": args.worker_process,
        "gateways": not args.no_gateways, "gc_frozen_fixtures": True,
        "runs": runs, "baseline_median_rate": round(base, 1), "system_median_rate": round(system, 1),
        "ratio": round(system / base, 3), "target_ratio": 0.5,
    }


# --------------------------------------------------------------------------------------------
# 2. latency at steady load


class Server:
    """``emergency serve`` in a subprocess on a free loopback port, against an existing broker.

    ``fetch_max_wait_ms`` is passed as ``EMERGENCY_FETCH_MAX_WAIT_MS`` (``Settings.fetch_max_wait_ms``,
    used by every consumer of the project: the group workers and the gateway tail).
    """

    def __init__(self, bootstrap: str, workdir: Path, fetch_max_wait_ms: int) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.topic_prefix = f"bench{uuid.uuid4().hex[:8]}."
        self.env = {
            **os.environ,
            "EMERGENCY_HOST": "127.0.0.1", "EMERGENCY_PORT": str(self.port),
            "EMERGENCY_DATA_DIR": str(workdir), "EMERGENCY_STORE_URL": f"sqlite:///{workdir / 'store.sqlite3'}",
            "EMERGENCY_KAFKA_BOOTSTRAP": bootstrap, "EMERGENCY_TOPIC_PREFIX": self.topic_prefix,
            "EMERGENCY_FETCH_MAX_WAIT_MS": str(fetch_max_wait_ms), "PYTHONUNBUFFERED": "1",
            "EMERGENCY_INTAKE_RATE": "100000000/minute",  # the load comes from one address
        }
        self.command = [sys.executable, "-m", "emergency.assembly.cli", "serve"]
        self.logfile = workdir / "server.log"
        self.proc: subprocess.Popen | None = None

    async def start(self, timeout_s: float = 60.0) -> None:
        import httpx

        with self.logfile.open("wb") as out:
            self.proc = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT, preexec_fn=_pdeathsig)
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited with code {self.proc.returncode}: {self.log_tail()}")
                try:
                    r = await client.get("/readyz")
                    if r.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"server not ready within {timeout_s:.0f} s: {self.log_tail()}")

    def log_tail(self, lines: int = 5) -> str:
        try:
            return " | ".join(self.logfile.read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return ""

    async def stop(self) -> int | None:
        """SIGINT (what Ctrl-C sends), then SIGKILL after 20 s; returns the exit code (130 = stopped by Ctrl-C)."""
        proc, self.proc = self.proc, None
        return None if proc is None else await stop_process(proc)


async def observe_topics(bootstrap: str, topics: list[str], seen: dict[str, dict[str, float]],
                         ready: asyncio.Event) -> None:
    """Record, per topic, the producer timestamp (CreateTime, epoch s) of the first record of each key.

    Keys are event ids on raw.citizen (relay) and cop.reports (normaliser), so this splits the
    delta latency into stages without touching the server. Tails from the current end.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="latest")
    await consumer.start()
    try:
        await consumer.topics()
        tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        ready.set()
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for tp, recs in batches.items():
                d = seen.setdefault(tp.topic, {})
                for r in recs:
                    if r.key is not None:
                        d.setdefault(r.key.decode(errors="replace"), r.timestamp / 1000)
    finally:
        await consumer.stop()


def pct(values: list[float]) -> dict[str, float | None]:
    """p50/p90/p99/max of sorted values (ms), rounded."""
    return {"n": len(values), "p50_ms": round(percentile(values, 50), 1), "p90_ms": round(percentile(values, 90), 1),
            "p99_ms": round(percentile(values, 99), 1), "max_ms": round(values[-1], 1) if values else None}


async def measure_latency(args, bootstrap: str, broker_pid: int | None, tmp_root: Path) -> dict[str, Any]:
    import httpx
    from websockets.asyncio.client import connect

    workdir = Path(tempfile.mkdtemp(prefix="lat-", dir=tmp_root))
    server = Server(bootstrap, workdir, args.fetch_max_wait_ms)
    rate, duration, drain = args.rate, args.duration, args.drain
    total = int(round(rate * duration))
    bodies = [json.dumps(b).encode() for b in report_bodies(total + 1, seed=11)]
    headers = {"content-type": "application/json"}

    arrivals: dict[str, tuple[float, float]] = {}   # feature id -> delta received (perf_counter, wall)
    responses: dict[str, tuple[float, float]] = {}  # event id -> 202 received (perf_counter, wall)
    sent_at: dict[str, float] = {}                  # event id -> request dispatched (perf_counter)
    scheduled_lag: list[float] = []                 # dispatch time - scheduled time
    conn_wait: list[float] = []                     # dispatch -> a connection free to send it
    seen: dict[str, dict[str, float]] = {}          # topic -> event id -> record CreateTime (wall)
    raw_topic, cop_topic = server.topic_prefix + RAW_CITIZEN, server.topic_prefix + COP_REPORTS
    errors: dict[str, int] = {}
    state = {"dispatched": 0, "done": 0}
    ws = reader = progress = observer = None
    clients: list[httpx.AsyncClient] = []
    senders: list[asyncio.Task] = []
    try:
        log(f"latency: starting `emergency serve` on port {server.port} "
            f"(EMERGENCY_FETCH_MAX_WAIT_MS={args.fetch_max_wait_ms})")
        git_at_server_start = _git_head()  # the server imports the project code now, not at benchmark start
        await server.start()
        assert server.proc is not None
        ws = await connect(server.base_url.replace("http://", "ws://") + "/ws/cop", max_size=None,
                           ping_interval=None)

        async def read_deltas() -> None:
            async for msg in ws:
                now = (time.perf_counter(), time.time())
                try:
                    fid = json.loads(msg)["feature"]["id"]
                except (ValueError, KeyError, TypeError):
                    continue
                arrivals.setdefault(fid, now)

        reader = asyncio.create_task(read_deltas())
        # several small pools rather than one big one: with a single 64-connection httpx pool the
        # client itself saturated a core and fell behind the schedule (see bench/README.md)
        per_client = max(1, args.connections // args.clients)
        clients = [httpx.AsyncClient(base_url=server.base_url, timeout=30,
                                     limits=httpx.Limits(max_connections=per_client,
                                                         max_keepalive_connections=per_client))
                   for _ in range(args.clients)]
        # warm-up: one report through the whole path (group joins, tail at the end of its topics)
        r = await clients[0].post("/api/v1/reports", content=bodies[-1], headers=headers)
        r.raise_for_status()
        warm_id = r.json()["id"]
        deadline = time.monotonic() + 60
        while warm_id not in arrivals:
            if time.monotonic() > deadline:
                raise RuntimeError(f"warm-up delta not received within 60 s: {server.log_tail()}")
            await asyncio.sleep(0.02)
        if args.breakdown:
            observed = asyncio.Event()
            observer = asyncio.create_task(observe_topics(bootstrap, [raw_topic, cop_topic], seen, observed))
            await asyncio.wait_for(observed.wait(), 30)
        log(f"latency: warm-up report reached the live map; sending {total} reports at {rate:g}/s "
            f"over {args.connections} connections ({args.clients} clients)")

        # The generator puts each request on one FIFO at its scheduled time; one sender per connection
        # takes the next one when its previous request is answered. So no httpx pool ever has a request
        # waiting for a connection: httpcore's pool does work proportional to its waiting requests on
        # every request and response, and once a backlog formed (e.g. a neighbour took a core for a
        # second) the generator became CPU-bound on that and never caught up (60 s runs, see README).
        pending: asyncio.Queue[tuple[int, float]] = asyncio.Queue()

        async def post(client: httpx.AsyncClient, i: int, t_dispatch: float) -> None:
            conn_wait.append(time.perf_counter() - t_dispatch)
            try:
                resp = await client.post("/api/v1/reports", content=bodies[i], headers=headers)
                t_resp = (time.perf_counter(), time.time())
                if resp.status_code == 202:
                    eid = resp.json()["id"]
                    responses[eid] = t_resp
                    sent_at[eid] = t_dispatch
                else:
                    errors[f"HTTP {resp.status_code}"] = errors.get(f"HTTP {resp.status_code}", 0) + 1
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            finally:
                state["done"] += 1

        async def sender(client: httpx.AsyncClient) -> None:
            while True:
                i, t_dispatch = await pending.get()
                try:
                    await post(client, i, t_dispatch)
                finally:
                    pending.task_done()

        def describe() -> str:
            got = sum(1 for e in responses if e in arrivals)
            return (f"dispatched {state['dispatched']}/{total}  202s {len(responses)}  "
                    f"in flight {state['dispatched'] - state['done']}  deltas {got}/{len(responses)}")

        progress = asyncio.create_task(ticker("latency:", describe))
        senders = [asyncio.create_task(sender(clients[j % len(clients)])) for j in range(per_client * len(clients))]
        cpu = CpuMeter({"server": server.proc.pid, "broker": broker_pid, "load_generator": None}).start()
        t0 = time.perf_counter() + 0.05
        for i in range(total):
            at = t0 + i / rate
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            t_dispatch = time.perf_counter()
            scheduled_lag.append(t_dispatch - at)
            pending.put_nowait((i, t_dispatch))
            state["dispatched"] += 1
        t_dispatched = time.perf_counter()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(pending.join(), 60)
        unanswered = state["dispatched"] - state["done"]
        if unanswered:  # still queued or in flight 60 s after the last dispatch: count them as errors
            errors["no response 60 s after the last dispatch"] = unanswered
            log(f"latency: {unanswered} requests unanswered 60 s after the last dispatch; giving up on them")
        for t in senders:
            t.cancel()
        await asyncio.gather(*senders, return_exceptions=True)
        t_responses = time.perf_counter()
        cpu_use = cpu.stop()
        # drain: wait up to `drain` seconds after the last response for the outstanding deltas
        drain_deadline = t_responses + drain
        while time.perf_counter() < drain_deadline and any(e not in arrivals for e in responses):
            await asyncio.sleep(0.05)
        t_drained = time.perf_counter()
        if observer is not None:  # let the observer catch up with what it has not read yet
            until = time.perf_counter() + 3
            while time.perf_counter() < until and any(
                    e not in seen.get(cop_topic, {}) for e in responses if e in arrivals):
                await asyncio.sleep(0.05)
    finally:
        for t in senders:
            t.cancel()
        await asyncio.gather(*senders, return_exceptions=True)
        await stop_task(progress)
        await stop_task(reader)
        await stop_task(observer)
        if ws is not None:
            await ws.close()
        for c in clients:
            await c.aclose()
        exit_code = await server.stop()
        server_log = server.log_tail(10)
        shutil.rmtree(workdir, ignore_errors=True)

    lat = sorted((arrivals[e][0] - t[0]) * 1000 for e, t in responses.items() if e in arrivals)
    http = sorted((responses[e][0] - sent_at[e]) * 1000 for e in responses)
    lag = sorted(x * 1000 for x in scheduled_lag)
    waits = sorted(x * 1000 for x in conn_wait)
    missing = sum(1 for e in responses if e not in arrivals)
    send_window = t_dispatched - t0
    # per-second latency profile (by 202 time), to see whether a queue builds up during the run
    buckets: dict[int, list[float]] = {}
    for e, t in responses.items():
        if e in arrivals:
            buckets.setdefault(int(t[0] - t0), []).append((arrivals[e][0] - t[0]) * 1000)
    per_second = [{"second": sec, **pct(sorted(buckets[sec]))} for sec in sorted(buckets)]
    # stage breakdown from the records' producer timestamps (ms resolution, same machine clock)
    stages = None
    if args.breakdown:
        raw_ts, cop_ts = seen.get(raw_topic, {}), seen.get(cop_topic, {})
        both = [e for e in responses if e in arrivals and e in raw_ts and e in cop_ts]

        def split(e: str) -> tuple[float, float, float]:
            return ((raw_ts[e] - responses[e][1]) * 1000, (cop_ts[e] - raw_ts[e]) * 1000,
                    (arrivals[e][1] - cop_ts[e]) * 1000)

        parts = {e: split(e) for e in both}
        stages = {
            "observed": len(both),
            "202_to_relay_send": pct(sorted(v[0] for v in parts.values())),
            "relay_send_to_normaliser_send": pct(sorted(v[1] for v in parts.values())),
            "normaliser_send_to_ws_delta": pct(sorted(v[2] for v in parts.values())),
        }
        # the same split per second of the run (p50, ms), to see which stage a slow second came from
        by_sec: dict[int, list[tuple[float, float, float]]] = {}
        for e, v in parts.items():
            by_sec.setdefault(int(responses[e][0] - t0), []).append(v)
        for row in per_second:
            vs = by_sec.get(row["second"])
            if vs:
                row["stages_p50_ms"] = [round(statistics.median(x[i] for x in vs), 1) for i in range(3)]
                row["stages_p99_ms"] = [round(percentile(sorted(x[i] for x in vs), 99), 1) for i in range(3)]

    return {
        "target_rate": rate, "duration_s": duration, "connections": args.connections, "clients": args.clients,
        "fetch_max_wait_ms": args.fetch_max_wait_ms, "git_at_server_start": git_at_server_start, "scheduled": total,
        "dispatch_rate": round(total / send_window, 1) if send_window > 0 else None,
        "accepted": len(responses), "accepted_rate": round(len(responses) / (t_responses - t0), 1),
        "errors": errors, "deltas_received": len(lat), "deltas_missing_after_drain": missing,
        "drain_s": drain, "drain_used_s": round(t_drained - t_responses, 2),
        "delta_latency": {**pct(lat), "min_ms": round(lat[0], 1) if lat else None,
                          "mean_ms": round(statistics.mean(lat), 1) if lat else None},
        "stages": stages, "http_202_latency": pct(http), "schedule_lag": pct(lag), "connection_wait": pct(waits),
        "cpu_cores": cpu_use, "server_exit_code": exit_code, "server_log_tail": server_log, "per_second": per_second,
        "target_p99_ms": 500,
    }


# --------------------------------------------------------------------------------------------


def print_summary(result: dict[str, Any]) -> None:
    print()
    print(f"pipeline benchmark  {result['meta']['date']}  {result['meta']['cpus']} cores  "
          f"python {result['meta']['python']}")
    by_engine = result.get("by_engine") or {"tansu": result}
    for engine, part in by_engine.items():
        print(f"\n=== broker: {engine} ===")
        _print_engine(part)
    if len(by_engine) > 1:
        print("\nengines side by side (each ratio against bare aiokafka on the same broker):")
        for engine, part in by_engine.items():
            tp, lat = part.get("throughput"), part.get("latency")
            print(f"   {engine:6s} throughput {tp['system_median_rate'] if tp else float('nan'):10,.0f} reports/s"
                  f" (ratio {tp['ratio'] if tp else float('nan'):.3f})   202 -> delta p50/p99 "
                  f"{lat['delta_latency']['p50_ms'] if lat else '-'} / {lat['delta_latency']['p99_ms'] if lat else '-'} ms")
    print(f"\nresults written to {RESULTS}")


def _print_engine(result: dict[str, Any]) -> None:
    tp, lat = result.get("throughput"), result.get("latency")
    if tp:
        mode = ("system: relay + processors in an `emergency worker` subprocess" if tp["worker_process"] else
                f"system: one process, gateway tail {'on' if tp['gateways'] else 'off'}")
        print(f"\n1. throughput, {tp['reports']} citizen reports (~{tp['message_bytes_mean']:.0f} B), "
              f"{tp['partitions']} partitions; {mode}")
        print(f"   fetch_max_wait_ms = {tp['fetch_max_wait_ms']} for the system's consumers AND the baseline consumer "
              f"(same value on both sides, so the ratio compares like with like)")
        for r in tp["runs"]:
            extra = (f"all acked {r['all_acked_s']:.2f} s" if r["kind"] == "baseline" else
                     f"submitted {r['all_submitted_s']:.2f} s ({r['submit_rate']:,.0f}/s), "
                     f"published {r['all_published_s']:.2f} s")
            print(f"   {r['kind']:8s} {r['rate']:10,.0f} msg/s   {r['seconds']:7.2f} s   {extra}   cpu {r['cpu_cores']}")
        print(f"   baseline median  {tp['baseline_median_rate']:10,.0f} msg/s")
        print(f"   system median    {tp['system_median_rate']:10,.0f} msg/s")
        print(f"   ratio system/baseline  {tp['ratio']:.3f}   (target >= {tp['target_ratio']})")
    if lat:
        d = lat["delta_latency"]
        print(f"\n2. latency, POST /api/v1/reports at {lat['target_rate']:g}/s for {lat['duration_s']:g} s "
              f"-> delta on /ws/cop  (server consumers: fetch_max_wait_ms={lat['fetch_max_wait_ms']})")
        print(f"   dispatched {lat['scheduled']} at {lat['dispatch_rate']}/s, accepted {lat['accepted']} "
              f"({lat['accepted_rate']}/s), errors {lat['errors'] or 0}")
        print(f"   202 -> delta  p50 {d['p50_ms']} ms  p90 {d['p90_ms']} ms  p99 {d['p99_ms']} ms  "
              f"max {d['max_ms']} ms   (target p99 <= {lat['target_p99_ms']} ms)")
        if lat.get("stages"):
            st = lat["stages"]
            for key, label in (("202_to_relay_send", "202 -> relay send"),
                               ("relay_send_to_normaliser_send", "relay -> normaliser send"),
                               ("normaliser_send_to_ws_delta", "normaliser -> WS delta")):
                v = st[key]
                print(f"     {label:26s} p50 {v['p50_ms']} ms  p90 {v['p90_ms']} ms  p99 {v['p99_ms']} ms  "
                      f"max {v['max_ms']} ms")
        h = lat["http_202_latency"]
        print(f"   send -> 202   p50 {h['p50_ms']} ms  p90 {h['p90_ms']} ms  p99 {h['p99_ms']} ms  max {h['max_ms']} ms")
        s = lat["schedule_lag"]
        print(f"   schedule lag  p50 {s['p50_ms']} ms  p99 {s['p99_ms']} ms  max {s['max_ms']} ms")
        w = lat.get("connection_wait")
        if w:
            print(f"   wait for a free connection  p50 {w['p50_ms']} ms  p99 {w['p99_ms']} ms  max {w['max_ms']} ms")
        print(f"   deltas missing after {lat['drain_s']:g} s drain: {lat['deltas_missing_after_drain']}   "
              f"cpu (cores) {lat['cpu_cores']}")


async def amain(args) -> dict[str, Any]:
    result: dict[str, Any] = {"meta": {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "cpus": os.cpu_count(),
        "python": platform.python_version(), "machine": platform.machine(), "argv": sys.argv[1:],
        "git": _git_head(), "root": str(ROOT), "loop": type(asyncio.get_running_loop()).__module__,
        "fetch_max_wait_ms": args.fetch_max_wait_ms, "fetch_max_wait_ms_source": args.fetch_max_wait_source,
        "engines": args.engines,
    }}
    tmp_root = Path(tempfile.mkdtemp(prefix="emergency-bench-"))
    try:
        for engine in args.engines:  # one after the other in the same run, each with its own baseline
            broker = EmbeddedBroker() if engine == "tansu" else _kafka_broker()
            try:
                t = time.perf_counter()
                bootstrap = await broker.start()
                broker_pid = _broker_pid(broker)
                log(f"{engine} broker on {bootstrap} (pid {broker_pid}), ready in {time.perf_counter() - t:.2f} s")
                part: dict[str, Any] = {}
                if not args.skip_throughput:
                    part["throughput"] = await measure_throughput(args, bootstrap, broker_pid, tmp_root)
                if not args.skip_latency:
                    part["latency"] = await measure_latency(args, bootstrap, broker_pid, tmp_root)
            finally:
                await broker.stop()
            result.setdefault("by_engine", {})[engine] = part
            if engine == args.engines[0]:
                result.update(part)  # the first engine's figures where earlier runs kept theirs
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    return result


def _kafka_broker():
    """One Apache Kafka broker (KRaft) from the jars ``bash .ci/kafka.sh`` caches, as the tests start it."""
    from tests.kafka import KafkaCluster

    return KafkaCluster(1)


def _broker_pid(broker) -> int | None:
    proc = getattr(broker, "process", None) or next((n.process for n in getattr(broker, "nodes", [])), None)
    return proc.pid if proc is not None else None


def _git_head() -> str | None:
    """Short HEAD commit, with "+dirty" when tracked project files (outside bench/) have changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench"],
                               cwd=ROOT, capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ("+dirty" if dirty else "")) or None


def main(argv: list[str] | None = None) -> int:
    global RESULTS
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reports", type=int, help="N for the throughput runs (default 20000; --quick 2000)")
    p.add_argument("--rate", type=float, default=500.0, help="reports/s for the latency run (default 500)")
    p.add_argument("--duration", type=float, help="seconds of load for the latency run (default 20; --quick 5)")
    p.add_argument("--drain", type=float, default=10.0, help="seconds to wait for outstanding deltas (default 10)")
    p.add_argument("--connections", type=int, default=64, help="HTTP connections, one sender task each (default 64)")
    p.add_argument("--clients", type=int, default=8,
                   help="httpx.AsyncClient instances sharing --connections (default 8)")
    p.add_argument("--rounds", type=int, default=2, help="baseline/system pairs, interleaved (default 2)")
    p.add_argument("--submitters", type=int, default=16,
                   help="concurrent Runtime.submit callers in the system run (default 16)")
    p.add_argument("--no-gateways", action="store_true",
                   help="system run without the live-map gateway tail (default: with it, as `emergency serve`)")
    p.add_argument("--worker-process", action="store_true",
                   help="system run with relay, normaliser and projector in an `emergency worker` subprocess "
                        "(this process only journals; gateways off)")
    p.add_argument("--no-breakdown", dest="breakdown", action="store_false",
                   help="latency run without the stage breakdown (an extra tail consumer on two topics)")
    p.add_argument("--fetch-max-wait-ms", type=int, metavar="MS",
                   help="EMERGENCY_FETCH_MAX_WAIT_MS for the system (in-process Runtime, worker and server "
                        f"subprocesses) and fetch_max_wait_ms of the baseline consumer (default: the Settings "
                        f"default, {FETCH_MAX_WAIT_DEFAULT})")
    p.add_argument("--pyspy", type=Path, metavar="DIR",
                   help="profile the timed window of each system run with py-spy (raw collapsed stacks, 200 Hz) "
                        "into DIR/system<round>-<mode>.bench.txt (and .worker.txt with --worker-process); "
                        "summarise with bench/pyspy_summary.py")
    p.add_argument("--pyspy-mode", choices=("gil", "all"), default="gil",
                   help="gil: only samples holding the GIL (where the CPU goes, default); all: every non-idle "
                        "thread (shows the SQLite thread too)")
    p.add_argument("--engines", default="tansu",
                   help="brokers to run on, one after the other in this run: tansu (embedded), kafka (Apache Kafka "
                        "4.x, one KRaft node, from `bash .ci/kafka.sh`'s jars), or tansu,kafka (default tansu)")
    p.add_argument("--quick", action="store_true", help="small run: 2,000 reports, 5 s of load")
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--skip-latency", action="store_true")
    p.add_argument("--output", type=Path, default=RESULTS, help="JSON output (default bench/results/pipeline.json)")
    args = p.parse_args(argv)
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if not args.engines or set(args.engines) - {"tansu", "kafka"}:
        p.error("--engines: a comma-separated list of tansu and kafka")
    if _FETCH_FIELD is None and args.fetch_max_wait_ms is not None:
        p.error("this checkout's Settings has no fetch_max_wait_ms (its consumers use aiokafka's 500 ms)")
    args.fetch_max_wait_source = ("--fetch-max-wait-ms" if args.fetch_max_wait_ms is not None else
                                  "Settings default" if _FETCH_FIELD is not None else
                                  "aiokafka default; this checkout has no EMERGENCY_FETCH_MAX_WAIT_MS")
    if args.fetch_max_wait_ms is None:
        args.fetch_max_wait_ms = FETCH_MAX_WAIT_DEFAULT
    if args.fetch_max_wait_ms < 1:
        p.error("--fetch-max-wait-ms must be >= 1")
    if args.worker_process:
        args.no_gateways = True
    if args.reports is None:
        args.reports = 2000 if args.quick else 20_000
    if args.duration is None:
        args.duration = 5.0 if args.quick else 20.0
    RESULTS = args.output.resolve()
    try:
        result = asyncio.run(amain(args))
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print_summary(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
