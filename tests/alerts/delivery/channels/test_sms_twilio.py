"""The Twilio-shaped SMS driver against a local peer speaking that REST API (Basic auth, form body, JSON answers)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from alerts.delivery.channels import sms
from alerts.delivery.channels.sms_twilio import TwilioChannel
from alerts.delivery.models import ChannelType, SendFailed
from emergency.config import Settings
from tests.alerts.delivery.channels.messages import contact, free_port, job, rendered

SID, TOKEN, NUMBER, FROM = "AC0123456789abcdef", "auth-token", "+15035550100", "+15035550199"


class Provider(ThreadingHTTPServer):
    """Keeps every message it accepted; answers with the next scripted (status, JSON, headers) first."""

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.script: list[tuple[int, dict, dict[str, str]]] = []
        self.messages: list[dict[str, str]] = []


class Handler(BaseHTTPRequestHandler):
    server: Provider

    def answer(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()}
        expected_auth = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        if self.path != f"/2010-04-01/Accounts/{SID}/Messages.json" or self.headers["Authorization"] != expected_auth:
            self.answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
            return
        if self.server.script:
            self.answer(*self.server.script.pop(0))
            return
        self.server.messages.append(form)
        self.answer(201, {"sid": f"SM{len(self.server.messages):032d}", "status": "queued", "to": form["To"]})

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def provider() -> Iterator[Provider]:
    server = Provider(free_port())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def channel(server: Provider, token: str = TOKEN) -> TwilioChannel:
    made = sms.from_settings(Settings(sms_gateway_url=f"twilio+http://{SID}:{token}@127.0.0.1:{server.server_address[1]}",
                                      sms_from=FROM))
    assert isinstance(made, TwilioChannel)
    return made


async def test_a_delivery_is_one_message_with_the_wea_text_and_the_sid_is_the_receipt(provider):
    ch = channel(provider)
    try:
        receipt = await ch.send(job(ChannelType.sms), contact(ChannelType.sms, number=NUMBER), rendered(wea_long=None))
    finally:
        await ch.close()
    assert receipt.state == "sent" and receipt.remote_id == "SM" + "0" * 31 + "1"
    [message] = provider.messages
    assert message["To"] == NUMBER and message["From"] == FROM
    assert message["Body"] == sms.sms_text(job=job(ChannelType.sms), message=rendered(wea_long=None))


async def test_errors_retry_or_not_as_the_provider_says(provider):
    provider.script = [(429, {"code": 20429, "status": 429}, {"Retry-After": "3"}),
                       (503, {"status": 503}, {}),
                       (400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400}, {}),
                       (400, {"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400}, {})]
    ch = channel(provider)
    to = contact(ChannelType.sms, number=NUMBER)
    failures = []
    try:
        for _ in range(4):
            with pytest.raises(SendFailed) as failed:
                await ch.send(job(ChannelType.sms), to, rendered())
            failures.append(failed.value)
    finally:
        await ch.close()
    assert [(f.retry, f.retry_after_s) for f in failures] == [(True, 3.0), (True, None), (False, None), (False, None)]
    assert "STOP" in failures[2].reason and "21211" in failures[3].reason
    assert all(NUMBER not in f.reason for f in failures) and provider.messages == []


async def test_wrong_credentials_are_not_retried(provider):
    ch = channel(provider, token="wrong")
    try:
        with pytest.raises(SendFailed) as failed:
            await ch.send(job(ChannelType.sms), contact(ChannelType.sms, number=NUMBER), rendered())
    finally:
        await ch.close()
    assert failed.value.retry is False and "401" in failed.value.reason


def test_the_driver_needs_credentials_and_a_sender():
    with pytest.raises(ValueError, match="ACCOUNT_SID"):
        sms.from_settings(Settings(sms_gateway_url="twilio+https://api.example.org", sms_from=FROM))
    with pytest.raises(ValueError, match="EMERGENCY_SMS_FROM"):
        sms.from_settings(Settings(sms_gateway_url=f"twilio+https://{SID}:{TOKEN}@api.example.org"))
