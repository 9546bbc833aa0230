"""Real parts for the delivery tests: a subscription directory kept in memory (or in a JSON file for a worker
subprocess), an HTTP peer counting raw requests per delivery id, and a channel that posts to it."""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from alerts.delivery.models import (
    SUBSCRIPTIONS_TOPIC,
    ChannelType,
    Contact,
    DeliveryJob,
    Receipt,
    Rendered,
    SendFailed,
    Target,
    TargetChannel,
)
from alerts.tiers import DEFAULT_TIERS, Tier
from emergency.config import Settings
from emergency.events import Envelope, Kind, Source, utcnow
from emergency.stream.producer import publish_all, start_producer, stop_producer

INSIDE = (45.5050, -122.6405)   # 40 m from the centre of the 0.5 km alert circle on SE Division St
OUTSIDE = (45.5230, -122.6760)  # downtown, about 3 km away


def point_target(sid: str, lat: float, lon: float, *, version: int = 1, tiers=DEFAULT_TIERS, confirmed: bool = True,
                 channel: ChannelType = ChannelType.webhook, radius_m: float | None = None,
                 languages: list[str] | None = None) -> Target:
    area: dict[str, Any] = {"type": "Point", "coordinates": [lon, lat]}
    if radius_m:
        area["radius_m"] = radius_m
    return Target(subscription_id=sid, version=version, areas=[area], tiers=sorted(tiers, key=lambda t: t.value),
                  languages=languages or ["en"],
                  channels=[TargetChannel(channel_id=f"{channel.value}-0", channel=channel, confirmed=confirmed)])


class MemoryDirectory:
    """A Directory over targets and contacts held here (the subscription repository stands in)."""

    def __init__(self, peer_url: str = "") -> None:
        self.targets_by_id: dict[str, Target] = {}
        self.codes: dict[tuple[str, str], str] = {}
        self.peer_url = peer_url

    def put(self, target: Target, code: str | None = None) -> None:
        self.targets_by_id[target.subscription_id] = target
        for ch in target.channels:
            if code and not ch.confirmed:
                self.codes[(target.subscription_id, ch.channel_id)] = code

    async def targets(self) -> list[Target]:
        return [t for t in self.targets_by_id.values() if not t.deleted]

    async def contact(self, subscription_id: str, channel_id: str, *, pending: bool = False) -> Contact | None:
        t = self.targets_by_id.get(subscription_id)
        ch = next((c for c in t.channels if c.channel_id == channel_id), None) if t and not t.deleted else None
        if ch is None or not (ch.confirmed or pending):
            return None
        return Contact(subscription_id=subscription_id, channel_id=channel_id, channel=ch.channel,
                       url=f"{self.peer_url}/hook/{subscription_id}")

    async def confirmation(self, subscription_id: str, channel_id: str) -> str | None:
        return self.codes.get((subscription_id, channel_id))


class FileDirectory(MemoryDirectory):
    """A MemoryDirectory read from a JSON file (for a worker subprocess)."""

    @classmethod
    def load(cls, path: Path) -> FileDirectory:
        doc = json.loads(path.read_text())
        d = cls(doc["peer_url"])
        for t in doc["targets"]:
            d.put(Target.model_validate(t))
        return d

    @staticmethod
    def save(path: Path, peer_url: str, targets: list[Target]) -> None:
        path.write_text(json.dumps({"peer_url": peer_url, "targets": [t.model_dump(mode="json") for t in targets]}))


async def publish_targets(settings: Settings, bootstrap: str, targets: list[Target]) -> None:
    """Journal-free: put subscription changes on alerts.subscriptions as the subscription domain does."""
    producer = await start_producer(settings, bootstrap)
    try:
        now = utcnow()
        await publish_all(producer, [
            (settings.topic(SUBSCRIPTIONS_TOPIC), t.subscription_id.encode(),
             Envelope(id=f"subscription:{t.subscription_id}", kind=Kind.subscription,
                      source=Source(type="subscription"), observed_at=now, received_at=now,
                      attributes=t.model_dump(mode="json")).to_json(), None)
            for t in targets], 10)
    finally:
        await stop_producer(producer)


class Peer:
    """An HTTP server on loopback counting raw POSTs per ``Idempotency-Key`` (the delivery id); ``fail`` answers
    503 to the first N requests."""

    def __init__(self, fail: int = 0) -> None:
        self.requests: Counter[str] = Counter()
        self.bodies: list[dict] = []
        self.order: list[str] = []
        self.fail = fail
        self.lock = threading.Lock()
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with peer.lock:
                    if peer.fail > 0:
                        peer.fail -= 1
                        status = 503
                    else:
                        key = self.headers.get("Idempotency-Key") or ""
                        peer.requests[key] += 1
                        peer.order.append(key)
                        peer.bodies.append(json.loads(body))
                        status = 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Peer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class PeerChannel:
    """A channel POSTing each delivery as JSON to its contact's URL with the delivery id as ``Idempotency-Key``."""

    per_process = False

    def __init__(self, type: ChannelType = ChannelType.webhook) -> None:
        self.type = type
        self.http = httpx.AsyncClient(timeout=10)

    async def send(self, job: DeliveryJob, contact: Contact, message: Rendered) -> Receipt:
        try:
            r = await self.http.post(contact.url or "", headers={"Idempotency-Key": job.delivery_id},
                                     json={"delivery_id": job.delivery_id, "msg_type": job.msg_type,
                                           "alert_version": job.alert_version, "priority": job.priority,
                                           "headline": message.headline, "text": message.wea_short,
                                           "ack_url": message.ack_url})
        except httpx.HTTPError as exc:
            raise SendFailed(f"peer unreachable: {type(exc).__name__}", retry=True) from None
        if r.status_code >= 300:
            raise SendFailed(f"peer answered {r.status_code}", retry=r.status_code >= 500 or r.status_code == 429)
        return Receipt(delivery_id=job.delivery_id, alert_id=job.alert_id, alert_version=job.alert_version,
                       channel=self.type, state="sent", at=utcnow())

    async def close(self) -> None:
        await self.http.aclose()


ALL_TIERS = frozenset(Tier)
