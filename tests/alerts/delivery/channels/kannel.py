"""A real Kannel for the tests: bearerbox + smsbox from a generated kannel.conf on free loopback ports, two
``fake`` SMS centres, and Kannel's own ``fakesmsc`` as the phone network.

SMSC ``mt`` takes what we send (the long-running ``fakesmsc`` prints every message it gets on stdout and acks it,
which makes bearerbox report type 8 then type 1 to our dlr-url). SMSC ``mo`` is where a test injects a message
from a phone (a second ``fakesmsc`` with one message): Kannel's sms-service passes it to our inbound URL and
routes our reply back to that SMSC, where the injecting ``fakesmsc`` prints it.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.alerts.delivery.channels.messages import free_port

BEARERBOX = "/usr/sbin/bearerbox"
SMSBOX = "/usr/sbin/smsbox"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
USER, PASSWORD = "alerts", "kannel-test-password"

CONF = """\
group = core
admin-port = {admin}
admin-interface = 127.0.0.1
admin-password = {password}
smsbox-port = {smsbox}
box-allow-ip = 127.0.0.1
log-file = "{dir}/bearerbox.log"
log-level = 1
dlr-storage = internal
sms-resend-freq = 1

group = smsc
smsc = fake
smsc-id = mt
allowed-smsc-id = mt
port = {mt}
connect-allow-ip = 127.0.0.1

group = smsc
smsc = fake
smsc-id = mo
allowed-smsc-id = mo
port = {mo}
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {smsbox}
sendsms-port = {sendsms}
sendsms-interface = 127.0.0.1
log-file = "{dir}/smsbox.log"
log-level = 1
mo-recode = true

group = sendsms-user
username = {user}
password = {password}
concatenation = true
max-messages = 10

group = sms-service
keyword = default
get-url = "{get_url}"
max-messages = 3
concatenation = true
omit-empty = true
catch-all = true
"""


async def _lines(stream: asyncio.StreamReader, into: list[str]) -> None:
    while line := await stream.readline():
        into.append(line.decode("utf-8", "replace").rstrip("\n"))


@dataclass
class Kannel:
    """A running Kannel; ``received`` is what the ``mt`` fakesmsc printed."""

    dir: Path
    admin: int
    sendsms: int
    mt: int
    mo: int
    received: list[str] = field(default_factory=list)
    procs: list[asyncio.subprocess.Process] = field(default_factory=list)
    readers: list[asyncio.Task] = field(default_factory=list)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.sendsms}/cgi-bin/sendsms?username={USER}&password={PASSWORD}&smsc=mt"

    def messages(self) -> list[str]:
        """The messages the ``mt`` SMSC got: fakesmsc's ``Got message N: <from to type text>`` lines."""
        return [line.split(": <", 1)[1].rstrip(">") for line in self.received if "Got message" in line]

    async def start_process(self, *args: str, out: list[str] | None = None) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        self.procs.append(proc)
        self.readers.append(asyncio.create_task(_lines(proc.stdout, out if out is not None else [])))
        return proc

    async def status(self) -> str:
        async with httpx.AsyncClient(timeout=2) as http:
            answer = await http.get(f"http://127.0.0.1:{self.admin}/status.txt", params={"password": PASSWORD})
            return answer.text

    async def inject(self, sender: str, receiver: str, text: str, *, expect_reply: bool,
                     timeout_s: float = 20.0) -> list[str]:
        """Send ``text`` from ``sender`` to ``receiver`` through SMSC ``mo``; the replies the phone got."""
        out: list[str] = []
        proc = await self.start_process(FAKESMSC, "-H", "127.0.0.1", "-r", str(self.mo), "-m", "1", "-i", "0.1",
                                        f"{sender} {receiver} text {text}", out=out)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        try:
            while loop.time() < deadline:
                if any("sent message 1" in line for line in out) and not expect_reply:
                    break
                if expect_reply and any("Got message" in line for line in out):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"fakesmsc on mo: no {'reply' if expect_reply else 'send'} in {timeout_s} s: {out}")
        finally:
            if not expect_reply:  # let bearerbox read the message before the connection goes
                await asyncio.sleep(0.5)
            proc.terminate()
            await proc.wait()
            await asyncio.sleep(0.3)  # bearerbox sees the EOF and accepts the next injector
        return [line.split(": <", 1)[1].rstrip(">") for line in out if "Got message" in line]

    async def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.returncode is None:
                proc.terminate()
        for proc in reversed(self.procs):
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)


def installed() -> bool:
    return all(shutil.which(p) or Path(p).exists() for p in (BEARERBOX, SMSBOX, FAKESMSC))


@contextlib.asynccontextmanager
async def running_kannel(tmp: Path, *, get_url: str) -> AsyncIterator[Kannel]:
    """bearerbox, smsbox and the ``mt`` fakesmsc, up and connected; stopped afterwards."""
    assert installed(), "Debian packages kannel and kannel-extras are needed (see .ci/run)"
    tmp.mkdir(parents=True, exist_ok=True)
    k = Kannel(dir=tmp, admin=free_port(), sendsms=free_port(), mt=free_port(), mo=free_port())
    smsbox = free_port()
    conf = tmp / "kannel.conf"
    conf.write_text(CONF.format(admin=k.admin, smsbox=smsbox, sendsms=k.sendsms, mt=k.mt, mo=k.mo, dir=tmp,
                                user=USER, password=PASSWORD, get_url=get_url.replace('"', "%22")))
    logs: list[str] = []
    try:
        await k.start_process(BEARERBOX, "-v", "2", str(conf), out=logs)
        await _eventually_status(k, lambda s: "running" in s, logs)
        await k.start_process(SMSBOX, "-v", "2", str(conf), out=logs)
        await k.start_process(FAKESMSC, "-H", "127.0.0.1", "-r", str(k.mt), "-m", "0", "1 2 text unused",
                              out=k.received)
        await _eventually_status(k, lambda s: "smsbox:" in s.lower() or "(on 127.0.0.1)" in s.lower(), logs)
        await _eventually_status(k, lambda s: any("mt" in line and "online" in line for line in s.splitlines()), logs)
        await _eventually_sendsms(k, logs)
        yield k
    finally:
        await k.stop()


async def _eventually_status(k: Kannel, check, logs: list[str], timeout_s: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    last = ""
    while loop.time() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            last = await k.status()
            if check(last):
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"Kannel did not come up: {last}\n" + "\n".join(logs[-30:]))


async def _eventually_sendsms(k: Kannel, logs: list[str], timeout_s: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            async with httpx.AsyncClient(timeout=2) as http:
                await http.get(f"http://127.0.0.1:{k.sendsms}/")
                return
        await asyncio.sleep(0.1)
    raise AssertionError("smsbox's sendsms port did not open\n" + "\n".join(logs[-30:]))
