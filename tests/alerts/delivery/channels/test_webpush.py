"""Web Push against a local push service speaking RFC 8030/8291/8292: it checks the VAPID JWT (ES256 signature,
``aud`` = its origin, ``exp`` within 24 h, the key the browser subscribed with), decrypts the aes128gcm body with
the subscriber's private key (generated here as a browser would: P-256 + 16-byte auth secret) and keeps
undelivered messages by ``Topic`` (a newer one replaces an older one)."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import http_ece
import pytest
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from alerts.delivery.channels.vapid import VAPID_KEYS, application_server_key, ensure_vapid
from alerts.delivery.channels.webpush import WebPushChannel, push_topic
from alerts.delivery.models import ChannelType, SendFailed
from emergency.store import open_store
from emergency.stream.broker import free_port
from tests.alerts.delivery.channels.samples import contact, job, rendered
from tests.conftest import System


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Browser:
    """A subscriber's push subscription as a browser makes it: a P-256 key pair and a 16-byte auth secret."""

    endpoint: str
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    def subscription(self) -> dict:
        pub = self.key.public_key().public_bytes(serialization.Encoding.X962,
                                                 serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "keys": {"p256dh": b64e(pub), "auth": b64e(self.auth)}}


class PushService:
    """A push service on 127.0.0.1: POST /push/{id} → 201, the plaintext kept per subscription by Topic."""

    def __init__(self) -> None:
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.browsers: dict[str, Browser] = {}
        self.server_key: str | None = None       # the applicationServerKey browsers subscribed with
        self.held: dict[str, list[dict]] = {}    # undelivered messages per subscription
        self.refusals: list[str] = []
        self.answer: dict[str, int] = {}         # a status to answer per subscription (410 gone, 429, 503)
        self.posts = 0

    def browser(self, name: str) -> Browser:
        self.browsers[name] = Browser(f"{self.origin}/push/{name}")
        return self.browsers[name]

    def _check_vapid(self, header: str) -> str | None:
        """Why the Authorization header is refused (RFC 8292), or None."""
        scheme, _, params = header.partition(" ")
        if scheme.lower() != "vapid":
            return "scheme"
        parts = dict(p.strip().split("=", 1) for p in params.split(","))
        token, key = parts.get("t", ""), parts.get("k", "")
        if key != self.server_key:
            return "not the key the subscription was made with"
        head, payload, sig = token.split(".")
        pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64d(key))
        raw = b64d(sig)
        if json.loads(b64d(head)) != {"typ": "JWT", "alg": "ES256"} or len(raw) != 64:
            return "JWT header"
        try:
            pub.verify(encode_dss_signature(int.from_bytes(raw[:32]), int.from_bytes(raw[32:])),
                       f"{head}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return "signature"
        claims = json.loads(b64d(payload))
        if claims.get("aud") != self.origin:
            return f"aud {claims.get('aud')}"
        if not time.time() < claims.get("exp", 0) <= time.time() + 24 * 3600:
            return "exp"
        if not claims.get("sub"):
            return "sub"
        return None

    async def handle(self, request: web.Request) -> web.Response:
        self.posts += 1
        name = request.match_info["name"]
        if name in self.answer:
            return web.Response(status=self.answer[name])
        why = self._check_vapid(request.headers.get("Authorization", ""))
        if why:
            self.refusals.append(why)
            return web.Response(status=401, text=why)
        if request.headers.get("Content-Encoding") != "aes128gcm":
            return web.Response(status=415)
        b = self.browsers[name]
        plain = http_ece.decrypt(await request.read(), private_key=b.key, auth_secret=b.auth, version="aes128gcm")
        msg = {"payload": json.loads(plain), "topic": request.headers.get("Topic"),
               "urgency": request.headers.get("Urgency"), "ttl": int(request.headers["TTL"])}
        inbox = self.held.setdefault(name, [])
        inbox[:] = [m for m in inbox if not msg["topic"] or m["topic"] != msg["topic"]]  # RFC 8030 §5.4
        inbox.append(msg)
        return web.Response(status=201, headers={"Location": f"{self.origin}/message/{self.posts}"})


@pytest.fixture
async def push_service() -> AsyncIterator[PushService]:
    svc = PushService()
    app = web.Application()
    app.router.add_post("/push/{name}", svc.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", svc.port).start()
    yield svc
    await runner.cleanup()


@pytest.fixture
async def channel(sqlite_url, push_service) -> AsyncIterator[WebPushChannel]:
    store = await open_store(sqlite_url)
    gone: list[tuple[str, str]] = []
    ch = WebPushChannel(store=store, subject="mailto:ops@example.org", allow_hosts=frozenset({"127.0.0.1"}),
                        on_gone=lambda s, c: gone.append((s, c)))
    ch.noted = gone  # type: ignore[attr-defined]
    push_service.server_key = application_server_key(await ensure_vapid(store))
    yield ch
    await ch.close()
    await store.close()


async def test_vapid_key_is_created_once_and_kept(store_url):
    store = await open_store(store_url)
    try:
        assert await store.repository(VAPID_KEYS).get("webpush") is None
        first = application_server_key(await ensure_vapid(store))
        assert first == application_server_key(await ensure_vapid(store))
        raw = b64d(first)
        assert len(raw) == 65 and raw[0] == 4  # an uncompressed P-256 point
    finally:
        await store.close()
    again = await open_store(store_url)
    try:
        assert application_server_key(await ensure_vapid(again)) == first
        other = await again.repository(VAPID_KEYS).put_if_absent("webpush", "-----BEGIN nothing-----")
        assert other.startswith("-----BEGIN PRIVATE KEY-----")  # the first key stays
    finally:
        await again.close()


async def test_push_is_vapid_signed_encrypted_and_decrypted_by_the_subscriber(channel, push_service):
    browser = push_service.browser("inside")
    j = job(ChannelType.webpush, priority=0, expires_in_s=1800)
    receipt = await channel.send(j, contact(ChannelType.webpush, push=browser.subscription()), rendered())
    assert receipt.state == "sent" and receipt.delivery_id == j.delivery_id
    assert receipt.remote_id is None and "127.0.0.1" not in receipt.model_dump_json()  # no endpoint on a topic
    assert push_service.refusals == []
    [msg] = push_service.held["inside"]
    assert msg["payload"] == {"delivery_id": j.delivery_id, "alert_id": "alert:flood-1",
                              "alert_version": "alert:flood-1", "msg_type": "Alert",
                              "headline": "Flash flood warning for SE Portland",
                              "wea": "Flash flood warning SE Portland. Move to higher ground now.",
                              "link": "http://127.0.0.1:8000/api/v1/alerts/alert:flood-1.xml"}
    assert msg["topic"] == push_topic("alert:flood-1") and len(msg["topic"]) == 32
    assert msg["urgency"] == "high"
    assert 1700 <= msg["ttl"] <= 1800
    await channel.send(job(ChannelType.webpush, alert_id="alert:x", priority=4),
                       contact(ChannelType.webpush, push=browser.subscription()), rendered())
    assert push_service.held["inside"][-1]["urgency"] == "normal"


async def test_a_resend_or_newer_version_replaces_the_undelivered_one(channel, push_service):
    """The crash window: the push service took the message but the ledger was not marked; the resend has the
    same Topic, so the subscriber gets one message, not two. An Update also replaces the Alert still held."""
    sub = contact(ChannelType.webpush, push=push_service.browser("b").subscription())
    first = job(ChannelType.webpush)
    await channel.send(first, sub, rendered())
    await channel.send(first, sub, rendered())
    update = job(ChannelType.webpush, version="alert:flood-1:2", msg_type="Update")
    await channel.send(update, sub, rendered(headline="Flash flood warning extended"))
    [held] = push_service.held["b"]
    assert push_service.posts == 3
    assert held["payload"]["delivery_id"] == update.delivery_id and held["payload"]["msg_type"] == "Update"


async def test_gone_subscription_is_not_retried_and_noted_busy_service_is_retried(channel, push_service):
    for name, status, retry in (("gone", 410, False), ("missing", 404, False), ("busy", 429, True),
                                ("down", 503, True)):
        sub = push_service.browser(name).subscription()
        push_service.answer[name] = status
        with pytest.raises(SendFailed) as err:
            await channel.send(job(ChannelType.webpush), contact(ChannelType.webpush, channel_id=name, push=sub),
                               rendered())
        assert err.value.retry is retry and str(status) in err.value.reason, name
    assert channel.gone == {("sub-1", "gone"), ("sub-1", "missing")} == set(channel.noted)


async def test_endpoints_on_private_addresses_are_refused_without_a_call(sqlite_url, push_service):
    store = await open_store(sqlite_url)
    ch = WebPushChannel(store=store, subject="mailto:ops@example.org")  # no allow list
    try:
        for endpoint in (f"{push_service.origin}/push/a", "http://10.1.2.3/push/a", "http://169.254.169.254/x",
                         "ftp://push.example.org/a"):
            sub = {**push_service.browser("a").subscription(), "endpoint": endpoint}
            with pytest.raises(SendFailed) as err:
                await ch.send(job(ChannelType.webpush), contact(ChannelType.webpush, push=sub), rendered())
            assert err.value.retry is False and "refused" in err.value.reason
        assert push_service.posts == 0
    finally:
        await ch.close()
        await store.close()


async def test_expired_alert_is_not_pushed(channel, push_service):
    sub = contact(ChannelType.webpush, push=push_service.browser("late").subscription())
    with pytest.raises(SendFailed) as err:
        await channel.send(job(ChannelType.webpush, expires_in_s=-5), sub, rendered())
    assert err.value.retry is False and push_service.posts == 0


async def test_vapid_route_gives_the_stored_public_key(system: System):
    r = await system.http.get("/api/v1/webpush/vapid")
    assert r.status_code == 200
    assert r.json() == {"applicationServerKey": application_server_key(await ensure_vapid(system.runtime.store))}
