"""Issue → subscribers, end to end through the real API, the real fan-out, the real channel workers and real
peers (aiosmtpd for email, a Standard Webhooks receiver, mosquitto for the MQTT broadcast): one subscriber inside the alert and one outside, each
with an email and a webhook channel. Inside gets exactly one message per channel per version, outside none; an
unconfirmed address gets only its confirmation; Update and Cancel reach the original recipient."""

from __future__ import annotations

import asyncio
import base64
import email
import json
import re
import threading
from email import policy

import aiomqtt
import pytest
from aiosmtpd.controller import Controller

from alerts.subscriptions.repository import SUBSCRIPTIONS
from emergency.assembly.demo import LocalMosquitto
from tests.alerts.delivery.channels.test_webhook import Receiver
from tests.alerts.delivery.peers import INSIDE, OUTSIDE
from tests.conftest import eventually, make_settings, start_system
from tests.emergency.assembly.test_durability import alert_body

SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()


class Mailbox:
    """An aiosmtpd handler keeping every message by recipient."""

    def __init__(self) -> None:
        self.by_rcpt: dict[str, list[email.message.EmailMessage]] = {}

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's name
        msg = email.message_from_bytes(envelope.content, policy=policy.default)
        for rcpt in envelope.rcpt_tos:
            self.by_rcpt.setdefault(rcpt, []).append(msg)
        return "250 OK"

    def count(self, rcpt: str) -> int:
        return len(self.by_rcpt.get(rcpt, []))


@pytest.fixture
async def delivered(broker, sqlite_url, tmp_path):
    from emergency.stream.broker import free_port

    box = Mailbox()
    smtp = Controller(box, hostname="127.0.0.1", port=free_port())
    smtp.start()
    hook = Receiver(free_port())
    hook.secret = SECRET
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    mqtt = LocalMosquitto(tmp_path / "mosquitto").start()
    heard: list[tuple[str, dict]] = []

    async def listen() -> None:
        async with aiomqtt.Client("127.0.0.1", mqtt.port) as client:
            await client.subscribe("alerts/#", qos=1)
            listening.set()
            async for message in client.messages:
                if message.payload:
                    heard.append((str(message.topic), json.loads(message.payload)))

    listening = asyncio.Event()
    listener = asyncio.create_task(listen())
    await asyncio.wait_for(listening.wait(), 10)
    settings = make_settings(broker, sqlite_url, tmp_path, smtp_url=f"smtp://127.0.0.1:{smtp.port}",
                             mqtt_url=mqtt.url,
                             webhook_allow_hosts="127.0.0.1", subscribe_rate="1000/minute",
                             delivery_retry_base_s=0.2)
    system, task, server = await start_system(settings, broker)
    try:
        yield system, box, hook, heard
    finally:
        listener.cancel()
        await system.http.aclose()
        server.should_exit = True
        await task
        await system.runtime.stop()
        hook.shutdown()
        hook.server_close()
        smtp.stop()
        mqtt.stop()


async def subscribe(system, hook: Receiver, name: str, lat: float, lon: float) -> dict:
    body = {"areas": [{"point": {"lat": lat, "lon": lon}, "radius_m": 100}],
            "channels": [{"type": "email", "address": f"{name}@example.org"},
                         {"type": "webhook", "url": f"http://127.0.0.1:{hook.server_port}/hook/{name}",
                          "secret": SECRET}],
            "languages": ["en"]}
    r = await system.http.post("/api/v1/subscriptions", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def code_in(msg) -> str:
    text = msg.get_body(preferencelist=("plain",)).get_content()
    [code] = re.findall(r"code\D*?(\d{6,8})", text)
    return code


def webhook_alerts(hook: Receiver, alert_id: str) -> list[dict]:
    return [p for p in hook.verified if p.get("alert", {}).get("id") == alert_id]


async def test_each_channel_gets_each_version_once_inside_none_outside(delivered):
    system, box, hook, heard = delivered
    inside = await subscribe(system, hook, "inside", *INSIDE)
    outside = await subscribe(system, hook, "outside", *OUTSIDE)
    assert inside["pending_confirmation"] == ["email"]

    # the unconfirmed addresses get their confirmation and nothing else
    await eventually(lambda: box.count("inside@example.org") == 1 and box.count("outside@example.org") == 1)
    first = await system.http.post("/api/v1/alerts", json=alert_body(), headers=system.auth("alert_originator"))
    assert first.status_code == 202, first.text
    first_id = first.json()["id"]
    await eventually(lambda: len(webhook_alerts(hook, first_id)) == 1)  # the webhook needs no confirmation

    repo = system.runtime.store.repository(SUBSCRIPTIONS)
    for name, sub in (("inside", inside), ("outside", outside)):
        [mail] = box.by_rcpt[f"{name}@example.org"]
        r = await system.http.post(f"/api/v1/subscriptions/{sub['id']}/confirm",
                                   json={"channel": "email", "code": code_in(mail)},
                                   headers={"Authorization": f"Bearer {sub['token']}"})
        assert r.status_code == 200, r.text
        version = (await repo.target(sub["id"])).version
        await eventually(lambda sid=sub["id"], v=version: system.runtime.fanout.index._versions.get(sid) == v)
    second = await system.http.post("/api/v1/alerts", json=alert_body(), headers=system.auth("alert_originator"))
    second_id = second.json()["id"]
    await eventually(lambda: box.count("inside@example.org") == 2 and len(webhook_alerts(hook, second_id)) == 1)
    alert_mail = box.by_rcpt["inside@example.org"][1]
    assert alert_mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Evacuate now" in alert_mail["Subject"]

    cancel = await system.http.post(f"/api/v1/alerts/{second_id}/cancel", json={"note": "All clear."},
                                    headers=system.auth("alert_originator"))
    assert cancel.status_code == 202, cancel.text
    await eventually(lambda: box.count("inside@example.org") == 3 and len(webhook_alerts(hook, second_id)) == 2)
    assert [p["msg_type"] for p in webhook_alerts(hook, second_id)] == ["Alert", "Cancel"]

    # nothing more arrives: exactly once per version and channel inside, nothing outside
    report = await system.http.get(f"/api/v1/alerts/{second_id}/deliveries", headers=system.auth("coordinator"))
    assert report.status_code == 200, report.text
    assert box.count("outside@example.org") == 1  # only its confirmation
    assert len(hook.verified) == 3  # inside: the first alert, the second, its Cancel; outside: nothing
    assert len(hook.ids) == len(set(hook.ids))  # every webhook-id once
    # MQTT is a broadcast: one message per version on the region's topic (and its cells), each id once
    await eventually(lambda: len([t for t, _ in heard if t.endswith("/all")]) == 3)
    on_all = [payload for t, payload in heard if t.endswith("/all")]
    assert len({p["id"] for p in on_all}) == 3
    assert "inside@example.org" not in report.text
