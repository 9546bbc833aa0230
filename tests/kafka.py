"""Apache Kafka brokers for the tests: KRaft nodes (broker + controller in one JVM) on free loopback ports.

The jars come from ``bash .ci/kafka.sh`` (Maven Central, cached in ``$EMERGENCY_KAFKA_HOME``, default
``~/.cache/emergency/kafka-4.1.1``). Without them the fixtures fail saying which command to run.
``KafkaCluster(n)`` has the same ``bootstrap`` / ``start()`` / ``stop()`` / ``running`` surface as
``EmbeddedBroker`` so the suites can run against either; ``stop()`` keeps the log directories, so a
restarted cluster still has its topics, data and committed offsets (unlike Tansu). Each node logs to
``<workdir>/node-<id>/server.log`` (log4j2).
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import signal
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from emergency.stream.broker import _die_with_parent, free_port, port_is_taken, wait_until_answering

KAFKA_HOME = Path(os.environ.get("EMERGENCY_KAFKA_HOME", Path.home() / ".cache/emergency/kafka-4.1.1"))
JVM_OPTS = ["-Xms64m", "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k",
            "-Djava.awt.headless=true"]

LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = info
logger.raft.name = org.apache.kafka.raft
logger.raft.level = warn
logger.state.name = state.change.logger
logger.state.level = warn
"""


def kafka_classpath() -> str:
    """The classpath of the cached Kafka jars; fails the test with the command to run when they are absent."""
    if not (KAFKA_HOME / ".complete").exists() or not list(KAFKA_HOME.glob("kafka_2.13-*.jar")):
        pytest.fail(f"Apache Kafka jars not found in {KAFKA_HOME}: run `bash .ci/kafka.sh` "
                    "(it fetches them from Maven Central; .ci/run does it before pytest)", pytrace=False)
    return str(KAFKA_HOME / "*")


@dataclass
class KafkaNode:
    node_id: int
    port: int
    controller_port: int
    dir: Path
    process: subprocess.Popen | None = None
    host: str = "127.0.0.1"  # where it listens; another address when the cluster has a partitionable node
    netns: str | None = None  # the network namespace it runs in (the partitionable node)

    @property
    def log(self) -> Path:
        return self.dir / "server.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class KafkaCluster:
    """``size`` KRaft nodes, each broker and controller; with 3 nodes: 3 voters, RF 3, min.insync.replicas 2."""

    size: int = 1
    workdir: Path | None = None
    start_timeout_s: float = 90.0
    #: index of a node that runs in a network namespace of its own, so that ``partition()`` can cut it off
    partitionable: int | None = None
    nodes: list[KafkaNode] = field(default_factory=list)
    _tmp: tempfile.TemporaryDirectory | None = field(default=None, repr=False)
    _net: NetnsLink | None = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        return ",".join(f"{n.host}:{n.port}" for n in self.nodes)

    @property
    def port(self) -> int:
        """The first node's client port."""
        return self.nodes[0].port

    @property
    def running(self) -> bool:
        return any(n.running for n in self.nodes)

    @property
    def replication(self) -> int:
        return min(3, self.size)

    def _prepare(self) -> None:
        cp = kafka_classpath()
        if self.workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="kafka-")
            self.workdir = Path(self._tmp.name)
        self.nodes = [KafkaNode(i + 1, free_port(), free_port(), self.workdir / f"node-{i + 1}")
                      for i in range(self.size)]
        if self.partitionable is not None:
            self._net = NetnsLink.create()
            for i, n in enumerate(self.nodes):
                n.host = self._net.inside if i == self.partitionable else self._net.outside
                n.netns = self._net.name if i == self.partitionable else None
        voters = ",".join(f"{n.node_id}@{n.host}:{n.controller_port}" for n in self.nodes)
        # what ``StorageTool random-uuid`` prints (a Kafka Uuid: 16 random bytes, URL-safe base64), without a JVM
        # (one in 32 starts with "-": passed as --cluster-id=ID so the tool's parser does not take it for an option)
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        rf = self.replication
        for n in self.nodes:
            n.dir.mkdir(parents=True)
            (n.dir / "log4j2.properties").write_text(LOG4J2.format(log=n.log))
            props = {
                "process.roles": "broker,controller",
                "node.id": n.node_id,
                "controller.quorum.voters": voters,
                "listeners": f"PLAINTEXT://{n.host}:{n.port},CONTROLLER://{n.host}:{n.controller_port}",
                "advertised.listeners": f"PLAINTEXT://{n.host}:{n.port}",
                "controller.listener.names": "CONTROLLER",
                "inter.broker.listener.name": "PLAINTEXT",
                "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "log.dirs": n.dir / "data",
                "num.partitions": 3,
                "default.replication.factor": rf,
                "min.insync.replicas": max(1, rf - 1),
                "offsets.topic.replication.factor": rf,
                "offsets.topic.num.partitions": 5,
                "transaction.state.log.replication.factor": rf,
                "transaction.state.log.min.isr": max(1, rf - 1),
                "transaction.state.log.num.partitions": 3,
                "share.coordinator.state.topic.replication.factor": rf,
                "share.coordinator.state.topic.min.isr": max(1, rf - 1),
                "group.initial.rebalance.delay.ms": 0,
                # a killed broker is fenced (its leaderships moved) after 3 s instead of 9
                "broker.session.timeout.ms": 3000,
                "broker.heartbeat.interval.ms": 500,
                "group.min.session.timeout.ms": 500,
                "num.network.threads": 2,
                "num.io.threads": 2,
                "num.recovery.threads.per.data.dir": 1,
                "background.threads": 2,
                "log.flush.interval.messages": 1_000_000,
                "controlled.shutdown.max.retries": 1,
                "unclean.leader.election.enable": "false",
            }
            (n.dir / "server.properties").write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        formats = [subprocess.Popen(["java", *JVM_OPTS, "-cp", cp, "kafka.tools.StorageTool", "format",
                                     f"--cluster-id={cluster_id}", "-c", str(n.dir / "server.properties")],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for n in self.nodes]
        for n, proc in zip(self.nodes, formats):
            out, _ = proc.communicate()
            if proc.returncode:
                raise RuntimeError(f"kafka-storage format of node {n.node_id} failed: {out.decode(errors='replace')}")

    def _launch(self, n: KafkaNode) -> None:
        if port_is_taken(n.host, n.port):
            raise RuntimeError(f"kafka node {n.node_id}: port {n.port} is already in use")
        out = open(n.dir / "stdout.log", "ab")
        n.process = subprocess.Popen(
            [*(["ip", "netns", "exec", n.netns] if n.netns else []), "java", *JVM_OPTS, f"-Dlog4j2.configurationFile={n.dir / 'log4j2.properties'}",
             "-cp", str(KAFKA_HOME / "*"), "kafka.Kafka", str(n.dir / "server.properties")],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent)
        out.close()

    def launch(self) -> None:
        """Start the processes of every stopped node (formatting them the first time), without waiting.

        Call it from the thread that lives as long as the brokers should: they get SIGTERM when it ends
        (PR_SET_PDEATHSIG follows the forking thread), so none is left behind by a dead test run.
        """
        if not self.nodes:
            self._prepare()
        for n in self.nodes:
            if not n.running:
                self._launch(n)

    async def start(self) -> str:
        """Start every stopped node and wait until all of them answer metadata."""
        self.launch()
        try:
            await self.wait_ready()
        except BaseException:
            await self.stop()
            raise
        return self.bootstrap

    async def wait_ready(self, nodes: list[KafkaNode] | None = None) -> None:
        """Until each of ``nodes`` (default: all running ones) listens and the cluster answers metadata."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout_s
        for n in nodes or [n for n in self.nodes if n.running]:
            while not port_is_taken(n.host, n.port):
                if n.process is not None and n.process.poll() is not None:
                    raise RuntimeError(f"kafka node {n.node_id} exited with code {n.process.returncode} at start; "
                                       f"see {n.log}:\n{_tail(n.log)}")
                if loop.time() > deadline:
                    raise RuntimeError(f"kafka node {n.node_id} did not listen within {self.start_timeout_s:.0f} s; "
                                       f"see {n.log}:\n{_tail(n.log)}")
                await asyncio.sleep(0.1)
            await wait_until_answering(f"{n.host}:{n.port}", max(1.0, deadline - loop.time()))
        await self._wait_brokers(deadline)

    async def _wait_brokers(self, deadline: float) -> None:
        """Until the cluster metadata lists every running node as a broker."""
        from aiokafka.admin import AIOKafkaAdminClient

        loop = asyncio.get_running_loop()
        want = {n.node_id for n in self.nodes if n.running}
        seen: set[int] = set()
        while loop.time() < deadline:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.live_bootstrap, request_timeout_ms=3000)
            try:
                await admin.start()
                seen = {b["node_id"] for b in (await admin.describe_cluster())["brokers"]}
                if want <= seen:
                    return
            except Exception:
                pass
            finally:
                await admin.close()
            await asyncio.sleep(0.2)
        raise RuntimeError(f"kafka brokers {sorted(want - seen)} did not register in time")

    @property
    def live_bootstrap(self) -> str:
        return ",".join(f"{n.host}:{n.port}" for n in self.nodes if n.running) or self.bootstrap

    def signal_node(self, index: int, sig: signal.Signals = signal.SIGKILL) -> KafkaNode:
        """Send ``sig`` to node ``index`` (0-based) without waiting; the test decides what to wait for."""
        n = self.nodes[index]
        assert n.process is not None
        n.process.send_signal(sig)
        return n

    async def stop_node(self, index: int, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 30.0) -> None:
        """Stop node ``index`` with ``sig`` (SIGKILL after ``timeout_s``) and reap it."""
        n = self.nodes[index]
        proc, n.process = n.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while proc.poll() is None and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

    async def start_node(self, index: int) -> None:
        """Start node ``index`` again (same ports, same log directory) and wait until it answers."""
        n = self.nodes[index]
        if not n.running:
            self._launch(n)
        await self.wait_ready([n])

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Stop every node (SIGTERM, all at once, then SIGKILL after ``timeout_s``: the last ones of a quorum
        cannot finish a controlled shutdown); the log directories stay. Safe to call twice."""
        await asyncio.gather(*(self.stop_node(i, timeout_s=timeout_s) for i in range(len(self.nodes))))

    def partition(self) -> None:
        """Cut the partitionable node off the network (its link goes down): it keeps running, unreachable, and
        reaches nobody — a network partition, not a crash."""
        assert self._net is not None, "KafkaCluster(partitionable=...) was not asked for"
        self._net.set(up=False)

    def heal(self) -> None:
        """End the partition: the node's link comes back up."""
        assert self._net is not None
        self._net.set(up=True)

    def cleanup(self) -> None:
        """Remove the working directory (after ``stop()``) and the network namespace, if any."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        if self._net is not None:
            self._net.delete()
            self._net = None


@dataclass
class NetnsLink:
    """A network namespace joined to this one by a veth pair (a /30: ``outside`` here, ``inside`` there).

    Needs root (CAP_NET_ADMIN); the tests run as root. Nodes outside listen on ``outside`` (an address of
    this host, reached through the local route whatever the link does), the node inside on ``inside``;
    ``set(up=False)`` takes the link down inside the namespace, so nothing passes either way.
    """

    name: str
    outside: str
    inside: str

    @classmethod
    def create(cls) -> NetnsLink:
        tag = uuid.uuid4().hex[:6]
        third, fourth = secrets.randbelow(250) + 1, secrets.randbelow(63) * 4
        link = cls(f"kafka-{tag}", f"10.213.{third}.{fourth + 1}", f"10.213.{third}.{fourth + 2}")
        steps = [["ip", "netns", "add", link.name],
                 ["ip", "link", "add", f"kh{tag}", "type", "veth", "peer", "name", f"kn{tag}"],
                 ["ip", "link", "set", f"kn{tag}", "netns", link.name],
                 ["ip", "addr", "add", f"{link.outside}/30", "dev", f"kh{tag}"],
                 ["ip", "link", "set", f"kh{tag}", "up"],
                 ["ip", "netns", "exec", link.name, "ip", "addr", "add", f"{link.inside}/30", "dev", f"kn{tag}"],
                 ["ip", "netns", "exec", link.name, "ip", "link", "set", "lo", "up"],
                 ["ip", "netns", "exec", link.name, "ip", "link", "set", f"kn{tag}", "up"]]
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True)
            if done.returncode:
                link.delete()
                raise RuntimeError(f"network namespace for the partition test: `{' '.join(step)}` failed: "
                                   f"{done.stderr.strip()} (needs root with CAP_NET_ADMIN, as CI runs)")
        return link

    @property
    def tag(self) -> str:
        return self.name.removeprefix("kafka-")

    def set(self, *, up: bool) -> None:
        subprocess.run(["ip", "netns", "exec", self.name, "ip", "link", "set", f"kn{self.tag}",
                        "up" if up else "down"], check=True, capture_output=True)

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)  # takes the veth pair with it
        subprocess.run(["ip", "link", "del", f"kh{self.tag}"], capture_output=True)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
