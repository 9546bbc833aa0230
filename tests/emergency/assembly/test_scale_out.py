"""Scale-out on the production shape (issue 16): two ``emergency worker`` processes and two API processes
(``emergency serve`` with ``EMERGENCY_RUN_WORKERS=false``) against a three-broker Apache Kafka cluster and PostGIS.

- the consumer groups share their partitions between the two workers (both hold some)
- 200 reports sent half to each API are in the picture once; every WebSocket client, on either API process, gets
  every report's change and no change twice
- an alert is fanned out once: a webhook subscriber inside it gets exactly one message, although both workers
  run the fan-out and the webhook channel

Every process is a real child process (``python -m emergency.assembly.cli``) sharing nothing but the cluster and
the database, as systemd units would.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import KafkaError

from emergency.auth.tokens import Role, create_token
from emergency.store import open_store
from tests.alerts.delivery.channels.test_webhook import Receiver
from tests.alerts.delivery.peers import INSIDE
from tests.conftest import ADMIN_TOKEN, REGION, _in_thread, _truncate, eventually
from tests.emergency.assembly.test_durability import alert_body
from tests.emergency.assembly.test_faults import OBSERVER_BUDGET, assert_complete, body
from tests.kafka import KafkaCluster

PROJECT_ROOT = Path(__file__).resolve().parents[3]
BOUND_S = 180.0  # four Python processes and three JVMs share two cores here
SECRET = "whsec_" + "c2NhbGUtb3V0LXNlY3JldC1zY2FsZS1vdXQtc2VjcmV0"
GROUPS = ("normaliser", "correlator", "projector")


@pytest.fixture(scope="module")
def cluster() -> Iterator[KafkaCluster]:
    c = KafkaCluster(3)
    c.launch()  # from the main thread: the brokers must not die with a helper thread
    try:
        _in_thread(c.wait_ready())
        yield c
    finally:
        _in_thread(c.stop())
        c.cleanup()


def spawn(command: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "emergency.assembly.cli", command], cwd=PROJECT_ROOT,
                            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **env},
                            stdout=subprocess.DEVNULL, stderr=log.open("ab"))


async def members_with_partitions(bootstrap: str, group: str) -> list[set[tuple[str, int]]]:
    """The partitions each member of consumer group ``group`` holds (empty members included)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_consumer_groups([group])
        [g] = described.groups
        out = []
        for m in g[5]:  # DescribeGroups: (error, group id, state, protocol type, protocol, members, ...)
            raw = m[-1]
            if not raw:
                out.append(set())
                continue
            assignment = ConsumerProtocolMemberAssignment.decode(raw)
            out.append({(topic, p) for topic, parts in assignment.assignment for p in parts})
        return out
    finally:
        await admin.close()


class Listener:
    """A /ws/cop client that records every change message it gets."""

    def __init__(self, url: str) -> None:
        self.url, self.changes, self.hello = url, [], asyncio.Event()

    async def run(self) -> None:
        async with websockets.connect(self.url, max_size=2**24) as ws:
            async for raw in ws:
                msg = json.loads(raw)
                if msg.get("type") == "hello":
                    self.hello.set()
                else:
                    self.changes.append(msg)

    def report_ids(self) -> set[str]:
        return {m["feature"]["id"] for m in self.changes if m["type"] == "upsert" and m["layer"] == "reports"}


async def test_two_workers_and_two_api_processes_share_the_work_and_give_each_delta_and_alert_once(
        cluster, postgis_database, tmp_path):
    await _truncate(postgis_database)
    hook = Receiver(_free_port())
    hook.secret = SECRET
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    prefix = f"t{uuid.uuid4().hex[:6]}."
    common = {
        "EMERGENCY_KAFKA_BOOTSTRAP": cluster.bootstrap, "EMERGENCY_STORE_URL": postgis_database,
        "EMERGENCY_TOPIC_PREFIX": prefix, "EMERGENCY_ADMIN_TOKEN": ADMIN_TOKEN,
        "EMERGENCY_READ_BUDGET": OBSERVER_BUDGET, "EMERGENCY_SUBSCRIBE_RATE": "1000/minute",
        "EMERGENCY_WEBHOOK_ALLOW_HOSTS": "127.0.0.1", "EMERGENCY_BROKER_TIMEOUT_S": "10",
        "EMERGENCY_SESSION_TIMEOUT_MS": "6000", "EMERGENCY_LIVE_POLL_S": "0.2",
        "EMERGENCY_DELIVERY_RETRY_BASE_S": "0.2",
        "EMERGENCY_INTAKE_RATE": "100000/minute",  # every report comes from 127.0.0.1 here
    }
    procs: list[tuple[subprocess.Popen, Path]] = []
    ports = [_free_port(), _free_port()]
    listeners: list[Listener] = []
    tasks: list[asyncio.Task] = []
    https: list[httpx.AsyncClient] = []
    try:
        for i, port in enumerate(ports):
            log = tmp_path / f"api-{i}.log"
            env = {**common, "EMERGENCY_DATA_DIR": str(tmp_path / f"a{i}"), "EMERGENCY_HOST": "127.0.0.1",
                   "EMERGENCY_PORT": str(port), "EMERGENCY_RUN_WORKERS": "false",
                   "EMERGENCY_PUBLIC_URL": f"http://127.0.0.1:{port}"}
            procs.append((spawn("serve", env, log), log))
        # idle connections are dropped after 1 s, well before uvicorn's 5 s keep-alive ends them from its side: a
        # request never goes out on a connection the server is closing at that moment (httpx.ReadError)
        https = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{p}", timeout=30,
                                   limits=httpx.Limits(keepalive_expiry=1.0)) for p in ports]

        async def all_up() -> bool:
            for proc, log in procs:
                assert proc.poll() is None, log.read_text()[-3000:]
            try:
                return all([(await h.get("/readyz")).status_code == 200 for h in https])
            except httpx.TransportError:
                return False
        await eventually(all_up, timeout=BOUND_S, interval=0.3)

        # a webhook subscriber inside the alert to come, made before the workers start, so both workers' fan-out
        # index holds it from their first read of the subscriptions (a later one reaches them by their tails)
        sub = {"areas": [{"point": {"lat": INSIDE[0], "lon": INSIDE[1]}, "radius_m": 100}],
               "channels": [{"type": "webhook", "url": f"http://127.0.0.1:{hook.server_port}/hook/in",
                             "secret": SECRET}], "languages": ["en"]}
        r = await https[1].post("/api/v1/subscriptions", json=sub)
        assert r.status_code == 201, r.text

        for i in range(2):
            log = tmp_path / f"worker-{i}.log"
            procs.append((spawn("worker", {**common, "EMERGENCY_DATA_DIR": str(tmp_path / f"w{i}")}, log), log))

        # the workers share each processor's partitions: two members, both holding some
        async def shared() -> bool:
            for group in GROUPS:
                for proc, log in procs:
                    assert proc.poll() is None, log.read_text()[-3000:]
                try:
                    members = await members_with_partitions(cluster.bootstrap, f"{prefix}{group}")
                except KafkaError:  # the group's coordinator is still being chosen
                    return False
                if len(members) != 2 or not all(members):
                    return False
            return True
        await eventually(shared, timeout=BOUND_S, interval=0.5)

        for port in ports:  # two map clients on each API process
            for _ in range(2):
                listener = Listener(f"ws://127.0.0.1:{port}/ws/cop")
                listeners.append(listener)
                tasks.append(asyncio.create_task(listener.run()))
        for listener in listeners:
            await asyncio.wait_for(listener.hello.wait(), 30)

        accepted: set[str] = set()

        async def send(i: int) -> None:
            try:
                r = await https[i % 2].post("/api/v1/reports", json=body(i))
            except httpx.TransportError as exc:  # say what the API process said, not only that it hung up
                proc, log = procs[i % 2]
                raise AssertionError(f"API {i % 2} (exit {proc.poll()}): {exc!r}\n{log.read_text()[-3000:]}") from exc
            assert r.status_code == 202, r.text
            accepted.add(r.json()["id"])
        for start in range(0, 200, 20):
            await asyncio.gather(*(send(i) for i in range(start, start + 20)))
        await assert_complete(https[0], accepted, timeout=BOUND_S)
        await assert_complete(https[1], accepted, timeout=BOUND_S)
        await eventually(lambda: all(accepted <= lst.report_ids() for lst in listeners), timeout=BOUND_S)
        for lst in listeners:  # each change once: no seq twice on any client, in seq order
            seqs = [m["seq"] for m in lst.changes]
            assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)), Counter(seqs).most_common(3)

        # the alert: both workers run the fan-out and the webhook channel, the subscriber gets it once
        store = await open_store(postgis_database)
        try:
            originator, _ = await create_token(store, name="County EM", roles=[Role.alert_originator],
                                               agency="County EM", jurisdiction=REGION["jurisdiction"])
        finally:
            await store.close()
        issued = await https[0].post("/api/v1/alerts", json=alert_body(),
                                     headers={"Authorization": f"Bearer {originator}"})
        assert issued.status_code == 202, issued.text
        alert_id = issued.json()["id"]

        def got() -> list[dict]:
            return [p for p in hook.verified if p.get("alert", {}).get("id") == alert_id]
        auth = {"Authorization": f"Bearer {originator}"}

        async def finished() -> dict | None:
            r = await https[1].get(f"/api/v1/alerts/{alert_id}/deliveries", headers=auth)
            hook_row = r.json()["channels"].get("webhook") if r.status_code == 200 else None
            return hook_row if hook_row and hook_row["queued"] == 0 and hook_row["sent"] == 1 else None
        row = await eventually(finished, timeout=BOUND_S, interval=0.5)
        assert row["targeted"] == 1 and row["failed"] == 0  # one ledger row although two workers fanned out
        await eventually(lambda: _upsert_of(listeners, alert_id), timeout=BOUND_S)
        assert len(got()) == 1, got()  # the ledger says sent once; the peer saw it once
        assert len(set(hook.ids)) == len(hook.ids)  # no delivery retried either
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for h in https:
            await h.aclose()
        for proc, _ in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        hook.shutdown()
        hook.server_close()
    for proc, log in procs:  # each stopped cleanly on SIGTERM, as a process manager stops it (uvicorn re-raises
        text = log.read_text()  # the signal after its graceful shutdown, so serve ends with -SIGTERM)
        assert proc.returncode in (0, -signal.SIGTERM) and "Traceback" not in text, text[-3000:]


def _upsert_of(listeners: list[Listener], event_id: str) -> bool:
    return all(any(m["type"] == "upsert" and m["feature"]["id"] == event_id for m in lst.changes)
               for lst in listeners)


def _free_port() -> int:
    from emergency.stream.broker import free_port

    return free_port()
