#!/usr/bin/env python
"""Channel throughput: each delivery channel's messages/s against its local peer, against a bare client of that peer.

Run from the project root with the project's virtualenv::

    python bench/channels.py             # N=1,000 messages per side per channel, 32 at a time
    python bench/channels.py --quick     # N=100

For each channel in ``alerts/delivery/channels/`` (WebSocket aside: it is the live-session push measured by
``bench/fanout.py`` (b)) the same run measures, against the same local peer, with the same concurrency
(``asyncio.Semaphore(--concurrency)``):

- **peer**: a bare client sending N prepared messages of the same size as fast as it can — ``aiosmtplib.send``
  (a connection per mail, as the channel does), ``httpx.AsyncClient.post``/``get`` (``aiohttp`` for Web Push, the
  library pywebpush sends with), one ``aiomqtt`` client
  publishing QoS 1;
- **channel**: the channel's ``send(job, contact, message)`` called N times (rendering, signing, encryption,
  SSRF check and all), each job with its own delivery id.

Peers: email — an ``aiosmtpd`` Controller (its own thread) accepting every mail; webhook — an aiohttp server
answering 200 without checking signatures; MQTT — Debian ``mosquitto`` started by
``emergency.assembly.demo.LocalMosquitto``; Web Push — an aiohttp push service answering 201 without decrypting
(the bare client posts a body of the encrypted size, without VAPID or encryption); Mastodon — an aiohttp
``POST /api/v1/statuses`` answering a status; SMS — an aiohttp stand-in for Kannel's HTTP front end
(``GET /cgi-bin/sendsms`` → ``202 0: Accepted for delivery``), not Kannel itself (no bearerbox, no SMSC).
The HTTP peers run in the benchmark's event loop (both sides share it alike). Ratio = channel / peer.

Figures are printed as a table and written to bench/results/channels.json; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results" / "channels.json"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CAP_SAMPLE = ROOT / "tests" / "data" / "cap" / "spec_examples" / "oasiscap_v1dot2_appendix_a4.xml"
AREA = {"type": "Polygon", "coordinates": [[[-122.67, 45.505], [-122.64, 45.505], [-122.64, 45.52],
                                            [-122.67, 45.52], [-122.67, 45.505]]]}  # lon/lat, WGS 84 degrees
CHANNELS = ("email", "webhook", "mqtt", "webpush", "mastodon", "sms")


def log(msg: str) -> None:
    print(f"[channels] {msg}", file=sys.stderr, flush=True)


def make_job(channel, i: int):
    """Delivery job ``i`` of a severe imminent-threat alert (its own delivery id) on ``channel``."""
    from alerts.delivery.models import DeliveryJob
    from emergency.events import utcnow

    now = utcnow()
    sub, cid = f"sub-{i}", f"{channel.value}-0"
    return DeliveryJob(delivery_id=hashlib.sha256(f"alert:bench|{sub}|{cid}".encode()).hexdigest(),
                       alert_id="alert:bench", alert_version="alert:bench", msg_type="Alert", subscription_id=sub,
                       channel_id=cid, channel=channel, language="en", priority=1,
                       expires=now + timedelta(hours=1), created_at=now)


def make_rendered():
    """The rendered message every delivery carries (an Actual Public CAP alert, so Mastodon posts it)."""
    from alerts.delivery.models import Rendered

    cap = ('<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>alert:bench</identifier>'
           "<status>Actual</status><msgType>Alert</msgType><scope>Public</scope></alert>")
    if CAP_SAMPLE.exists():  # a realistic size for the attachment/payload, with Actual/Public kept
        cap = CAP_SAMPLE.read_text(encoding="utf-8")
    headline = "Flash flood warning for SE Portland"
    return Rendered(headline=headline, description="Water over the roads near the river.",
                    instruction="Move to higher ground now.",
                    wea_short="Flash flood warning SE Portland. Move to higher ground now.",
                    wea_long="Flash flood warning for SE Portland until 6 PM. Water is over the roads near the river. "
                             "Move to higher ground now. Do not drive through flooded roads.",
                    cap_xml=cap,
                    geojson={"type": "Feature", "id": "alert:bench", "geometry": AREA,
                             "properties": {"headline": headline, "tier": "imminent_threat_severe"}},
                    link="http://127.0.0.1:8000/api/v1/alerts/alert:bench.xml")


def push_subscription(endpoint: str) -> dict[str, Any]:
    """A browser-made push subscription: a P-256 public key and a 16-byte auth secret (base64url)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    def b64e(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    pub = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return {"endpoint": endpoint, "keys": {"p256dh": b64e(pub), "auth": b64e(os.urandom(16))}}


async def timed(n: int, concurrency: int, one: Callable[[int], Awaitable[Any]]) -> float:
    """Seconds for ``one(i)`` for i in range(n), at most ``concurrency`` at a time."""
    sem = asyncio.Semaphore(concurrency)

    async def run(i: int) -> None:
        async with sem:
            await one(i)

    t0 = time.perf_counter()
    await asyncio.gather(*(run(i) for i in range(n)))
    return time.perf_counter() - t0


class HttpPeers:
    """The HTTP peers on one aiohttp server (127.0.0.1): webhook, push service, Mastodon API, sendsms stand-in."""

    def __init__(self) -> None:
        from emergency.stream.broker import free_port

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.counts: dict[str, int] = {}
        self._runner = None

    async def start(self) -> HttpPeers:
        from aiohttp import web

        def counted(name: str, answer: Callable[[], web.Response]):
            async def handler(request: web.Request) -> web.Response:
                await request.read()
                self.counts[name] = self.counts.get(name, 0) + 1
                return answer()
            return handler

        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/hook", counted("webhook", lambda: web.Response(status=200)))
        app.router.add_post("/push/{id}", counted("webpush", lambda: web.Response(
            status=201, headers={"Location": f"{self.base}/message/1"})))
        app.router.add_post("/api/v1/statuses", counted("mastodon", lambda: web.json_response(
            {"id": str(self.counts.get("mastodon", 0)), "visibility": "public"})))
        app.router.add_get("/cgi-bin/sendsms", counted("sms", lambda: web.Response(
            status=202, text="0: Accepted for delivery")))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def bench_channel(name: str, args, workdir: Path, http: HttpPeers) -> dict[str, Any]:
    """Peer maximum and channel rate for one channel."""
    import aiohttp
    import aiomqtt
    import aiosmtplib
    import httpx

    from alerts.delivery.models import ChannelType, Contact

    n, conc = args.messages, args.concurrency
    ctype = ChannelType(name)
    message = make_rendered()
    jobs = [make_job(ctype, i) for i in range(n + args.warmup)]
    cleanup: list[Callable[[], Awaitable[Any]]] = []
    client = httpx.AsyncClient(timeout=30, trust_env=False, limits=httpx.Limits(max_connections=conc))
    cleanup.append(client.aclose)
    try:
        if name == "email":
            from aiosmtpd.controller import Controller

            from alerts.delivery.channels.email import EmailChannel, build_message
            from emergency.stream.broker import free_port

            class Sink:
                received = 0

                async def handle_DATA(self, server, session, envelope) -> str:
                    Sink.received += 1
                    return "250 Message accepted"

            controller = Controller(Sink(), hostname="127.0.0.1", port=free_port())
            controller.start()
            cleanup.append(lambda: asyncio.to_thread(controller.stop))
            channel = EmailChannel(url=f"smtp://127.0.0.1:{controller.port}", sender="Alerts <alerts@example.org>",
                                   public_url="http://127.0.0.1:8000")
            contact = Contact(subscription_id="sub-0", channel_id="email-0", channel=ctype, address="a@example.org",
                              unsubscribe_url="http://127.0.0.1:8000/api/v1/subscriptions/sub-0/unsubscribe?t=x")
            raw = bytes(build_message(job=jobs[0], contact=contact, message=message, sender=channel.sender,
                                      public_url=channel.public_url))

            async def bare(i: int) -> None:
                await aiosmtplib.send(raw, sender="alerts@example.org", recipients=["a@example.org"],
                                      hostname="127.0.0.1", port=controller.port, timeout=30)
        elif name == "webhook":
            from alerts.delivery.channels.webhook import WebhookChannel, payload

            channel = WebhookChannel(allow_hosts=frozenset({"127.0.0.1"}))
            contact = Contact(subscription_id="sub-0", channel_id="webhook-0", channel=ctype,
                              url=f"{http.base}/hook", secret="whsec_" + base64.b64encode(os.urandom(24)).decode())
            body = payload(job=jobs[0], message=message).encode()

            async def bare(i: int) -> None:
                (await client.post(f"{http.base}/hook", content=body,
                                   headers={"Content-Type": "application/json"})).raise_for_status()
        elif name == "mqtt":
            from alerts.delivery.channels.mqtt import MqttChannel, MqttTopics, mqtt_payload
            from emergency.assembly.demo import LocalMosquitto

            broker = LocalMosquitto(workdir / "mosquitto").start()
            cleanup.append(lambda: asyncio.to_thread(broker.stop))
            channel = MqttChannel(host="127.0.0.1", port=broker.port, topics=MqttTopics(prefix="alerts", region="portland"))
            contact = Contact(subscription_id="sub-0", channel_id="mqtt-0", channel=ctype, cell="8528f003fffffff")
            body = mqtt_payload(jobs[0], message)
            topic = channel.topics.cell(contact.cell)
            mq = aiomqtt.Client("127.0.0.1", broker.port, protocol=aiomqtt.ProtocolVersion.V5, timeout=30)
            await mq.__aenter__()
            cleanup.append(lambda: mq.__aexit__(None, None, None))

            async def bare(i: int) -> None:
                await mq.publish(topic, body, qos=1, timeout=30)
        elif name == "webpush":
            from alerts.delivery.channels.webpush import WebPushChannel, push_payload
            from emergency.store import open_store

            store = await open_store(f"sqlite:///{workdir / 'webpush.sqlite3'}")
            cleanup.append(store.close)
            channel = WebPushChannel(store=store, subject="mailto:ops@example.org", allow_hosts=frozenset({"127.0.0.1"}))
            contact = Contact(subscription_id="sub-0", channel_id="webpush-0", channel=ctype,
                              push=push_subscription(f"{http.base}/push/sub-0"))
            # aes128gcm adds a 86-byte header (salt, record size, key) and a 17-byte tag/padding to the plaintext
            body = os.urandom(len(push_payload(jobs[0], message)) + 103)
            session = aiohttp.ClientSession()  # the channel's HTTP library (pywebpush on aiohttp), so like with like
            cleanup.append(session.close)

            async def bare(i: int) -> None:
                async with session.post(f"{http.base}/push/sub-0", data=body,
                                        headers={"TTL": "3600", "Content-Encoding": "aes128gcm"}) as r:
                    r.raise_for_status()
        elif name == "mastodon":
            from alerts.delivery.channels.mastodon import MastodonChannel, status_text

            channel = MastodonChannel(base_url=http.base, token="bench-token")
            contact = Contact(subscription_id="broadcast", channel_id="mastodon-0", channel=ctype)
            status = {"status": status_text(jobs[0], message), "visibility": "public", "language": "en"}

            async def bare(i: int) -> None:
                (await client.post(f"{http.base}/api/v1/statuses", json=status,
                                   headers={"Authorization": "Bearer bench-token"})).raise_for_status()
        elif name == "sms":
            from alerts.delivery.channels.sms import KannelChannel

            channel = KannelChannel(gateway_url=f"{http.base}/cgi-bin/sendsms?username=bench&password=bench",
                                    sender="+15035550000", public_url="http://127.0.0.1:8000", key=b"k" * 32)
            contact = Contact(subscription_id="sub-0", channel_id="sms-0", channel=ctype, number="+15035550100")
            query = channel.params(job=jobs[0], contact=contact, message=message)

            async def bare(i: int) -> None:
                (await client.get(f"{http.base}/cgi-bin/sendsms", params=query)).raise_for_status()
        else:
            raise ValueError(name)
        cleanup.append(channel.close)  # closed first, before its peer stops

        async def through_channel(i: int) -> None:
            await channel.send(jobs[args.warmup + i], contact, message)

        async def warm(i: int) -> None:
            await bare(i)
            await channel.send(jobs[i], contact, message)

        await timed(args.warmup, conc, warm)
        peer_s = await timed(n, conc, bare)
        log(f"{name}: peer {n:,} in {peer_s:.2f} s")
        channel_s = await timed(n, conc, through_channel)
        log(f"{name}: channel {n:,} in {channel_s:.2f} s")
        return {"channel": name, "messages": n, "concurrency": conc, "peer_per_s": round(n / peer_s, 1),
                "channel_per_s": round(n / channel_s, 1), "ratio": round(peer_s / channel_s, 3)}
    finally:
        for close in reversed(cleanup):
            try:
                await close()
            except Exception as exc:  # noqa: BLE001 - a peer that fails to stop must not hide the figures
                log(f"{name}: cleanup: {type(exc).__name__}: {exc}")


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--messages", "-n", type=int, default=1_000, help="messages per side per channel")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--only", choices=CHANNELS, action="append", default=[])
    p.add_argument("--quick", action="store_true", help="N=100, 5 warm-up messages")
    args = p.parse_args()
    import aiomqtt  # noqa: F401 - its import sets the "mqtt" logger to WARNING

    logging.getLogger("mqtt").setLevel(logging.ERROR)  # aiomqtt warns at every publish beyond 10 in flight
    if args.quick:
        args.messages, args.warmup = 100, 5
    from emergency.assembly.demo import mosquitto_binary

    names = [c for c in CHANNELS if not args.only or c in args.only]
    if "mqtt" in names and mosquitto_binary() is None:
        log("mqtt: skipped, mosquitto is not installed (Debian: apt-get install mosquitto)")
        names.remove("mqtt")
    results: dict[str, Any] = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
                               "rows": []}
    with tempfile.TemporaryDirectory(prefix="bench-channels-") as tmp:
        http = await HttpPeers().start()
        try:
            for name in names:
                results["rows"].append(await bench_channel(name, args, Path(tmp), http))
        finally:
            await http.stop()
    print(f"{'channel':<10} {'peer msg/s':>11} {'channel msg/s':>14} {'ratio':>7}   (N={args.messages:,}, "
          f"{args.concurrency} at a time)")
    for r in results["rows"]:
        print(f"{r['channel']:<10} {r['peer_per_s']:>11,.0f} {r['channel_per_s']:>14,.0f} {r['ratio']:>7.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
