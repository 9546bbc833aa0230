"""The webhook channel against a real local HTTP server that verifies Standard Webhooks signatures."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook

from alerts.delivery.channels.webhook import from_settings, retry_after_s
from alerts.delivery.models import ChannelType, SendFailed
from emergency.config import Settings
from emergency.events import utcnow
from tests.alerts.delivery.channels.messages import contact, free_port, job, rendered

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class Receiver(ThreadingHTTPServer):
    """Answers each POST with the next scripted (status, headers); keeps the verified payloads."""

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.script: list[tuple[int, dict[str, str]]] = []
        self.verified: list[dict] = []
        self.ids: list[str] = []
        self.bad_signatures = 0
        self.secret: str | bytes = SECRET


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            data = Webhook(self.server.secret).verify(body, headers)
        except Exception:
            self.server.bad_signatures += 1
            self.send_response(401)
            self.end_headers()
            return
        status, extra = self.server.script.pop(0) if self.server.script else (200, {})
        if status == 200:
            self.server.verified.append(data)
        self.server.ids.append(headers["webhook-id"])
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(free_port())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def url(server: Receiver, path: str = "/hook") -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def allowed():
    return from_settings(Settings(webhook_allow_hosts="127.0.0.1"))


async def test_a_delivery_is_signed_and_carries_the_feature_and_the_cap_xml_and_a_503_is_retried(receiver):
    receiver.script = [(503, {})]
    channel = allowed()
    to = contact(ChannelType.webhook, url=url(receiver), secret=SECRET)
    try:
        with pytest.raises(SendFailed) as failed:
            await channel.send(job(ChannelType.webhook, delivery_id="ab12"), to, rendered())
        assert failed.value.retry is True and "503" in failed.value.reason
        receipt = await channel.send(job(ChannelType.webhook, delivery_id="ab12"), to, rendered())
    finally:
        await channel.close()
    assert receipt.state == "sent" and receipt.delivery_id == "ab12"
    assert receiver.bad_signatures == 0
    assert receiver.ids == ["ab12", "ab12"]  # the retry carries the same webhook-id, the receiver's idempotency key
    [data] = receiver.verified
    assert data["type"] == "alert" and data["delivery_id"] == "ab12" and data["msg_type"] == "Alert"
    assert data["alert"] == rendered().geojson and "KAR0-0306112239-SW" in data["cap_xml"]


async def test_a_secret_without_the_whsec_prefix_signs_with_its_bytes(receiver):
    raw = "not-base64 secret"
    receiver.secret = raw.encode()
    channel = allowed()
    try:
        await channel.send(job(ChannelType.webhook), contact(ChannelType.webhook, url=url(receiver), secret=raw),
                           rendered())
    finally:
        await channel.close()
    assert receiver.bad_signatures == 0 and len(receiver.verified) == 1


async def test_410_is_not_retried_and_429_passes_retry_after(receiver):
    receiver.script = [(410, {}), (429, {"Retry-After": "7"}), (302, {"Location": "http://169.254.169.254/"})]
    channel = allowed()
    to = contact(ChannelType.webhook, url=url(receiver), secret=SECRET)
    try:
        with pytest.raises(SendFailed) as gone:
            await channel.send(job(ChannelType.webhook), to, rendered())
        with pytest.raises(SendFailed) as busy:
            await channel.send(job(ChannelType.webhook), to, rendered())
        with pytest.raises(SendFailed) as moved:
            await channel.send(job(ChannelType.webhook), to, rendered())
    finally:
        await channel.close()
    assert gone.value.retry is False and "410" in gone.value.reason
    assert busy.value.retry is True and busy.value.retry_after_s == 7.0
    assert moved.value.retry is False and "redirect" in moved.value.reason
    assert receiver.verified == []


async def test_a_private_address_is_refused_before_any_call_unless_allowed(receiver):
    channel = from_settings(Settings(webhook_allow_hosts=""))
    try:
        for target in (url(receiver), "http://169.254.169.254/latest/meta-data", "http://10.0.0.1/hook",
                       "http://[::ffff:127.0.0.1]:9/hook", "file:///etc/passwd"):
            with pytest.raises(SendFailed) as refused:
                await channel.send(job(ChannelType.webhook), contact(ChannelType.webhook, url=target, secret=SECRET),
                                   rendered())
            assert refused.value.retry is False and "refused" in refused.value.reason, target
    finally:
        await channel.close()
    assert receiver.ids == [] and receiver.bad_signatures == 0


async def test_a_peer_that_does_not_answer_is_retried():
    channel = allowed()
    try:
        with pytest.raises(SendFailed) as failed:
            await channel.send(job(ChannelType.webhook),
                               contact(ChannelType.webhook, url=f"http://127.0.0.1:{free_port()}/", secret=SECRET),
                               rendered())
    finally:
        await channel.close()
    assert failed.value.retry is True


def test_retry_after_reads_seconds_and_dates():
    now = utcnow()
    assert retry_after_s("120", now=now) == 120.0
    assert retry_after_s(None, now=now) is None and retry_after_s("soon", now=now) is None
    later = now.timestamp() + 60
    from email.utils import formatdate
    assert 55 <= retry_after_s(formatdate(later, usegmt=True), now=now) <= 61
    assert json.dumps(retry_after_s("0", now=now)) == "0.0"


async def test_a_peer_that_never_answers_times_out_and_is_retried():
    import socket
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        channel = from_settings(Settings(webhook_allow_hosts="127.0.0.1", webhook_timeout_s=0.3))
        try:
            with pytest.raises(SendFailed) as failed:
                await channel.send(job(ChannelType.webhook),
                                   contact(ChannelType.webhook, url=f"http://127.0.0.1:{silent.getsockname()[1]}/",
                                           secret=SECRET), rendered())
        finally:
            await channel.close()
    assert failed.value.retry is True and "timed out" in failed.value.reason
