"""A running system with a real SMTP peer (aiosmtpd) and a registry officer's token, for the registry and
facilities tests; helpers to read every topic of the embedded broker and to register people."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from aiokafka import AIOKafkaConsumer
from aiosmtpd.controller import Controller

from emergency.auth.tokens import Role, create_token
from emergency.stream.topics import ALL_TOPICS
from tests.alerts.test_delivery_end_to_end import Mailbox
from tests.conftest import make_settings, start_system

CHECKIN_LINK = re.compile(r"(https?://\S+/api/v1/registry/checkins/(chk-[0-9a-f]+\.(?:safe|help)\.[0-9a-f]+))")


async def mailed_system(broker, sqlite_url, tmp_path, **extra):
    """The system on SQLite with email through aiosmtpd; (system, mailbox, stop)."""
    from emergency.stream.broker import free_port

    box = Mailbox()
    smtp = Controller(box, hostname="127.0.0.1", port=free_port())
    smtp.start()
    settings = make_settings(broker, sqlite_url, tmp_path, smtp_url=f"smtp://127.0.0.1:{smtp.port}",
                             delivery_retry_base_s=0.2, notice_timer_s=0.2, **extra)
    system, task, server = await start_system(settings, broker)
    system.tokens["registry_officer"], _ = await create_token(system.runtime.store, name="Register Ready desk",
                                                              roles=[Role.registry_officer])

    async def stop() -> None:
        await system.http.aclose()
        server.should_exit = True
        await task
        await system.runtime.stop()
        smtp.stop()

    return system, box, stop


@pytest.fixture
async def mailed(broker, sqlite_url, tmp_path):
    system, box, stop = await mailed_system(broker, sqlite_url, tmp_path)
    try:
        yield system, box
    finally:
        await stop()


@pytest.fixture
async def mailed_short_timer(broker, sqlite_url, tmp_path):
    """The same, with check-ins falling silent after 1 s and facility escalations after 1 s."""
    system, box, stop = await mailed_system(broker, sqlite_url, tmp_path, registry_checkin_timeout_s=1.0,
                                            facility_escalation_s=1.0)
    try:
        yield system, box
    finally:
        await stop()


def registrant_body(name: str, lat: float, lon: float, **over) -> dict:
    body = {"name": name, "lat": lat, "lon": lon, "needs": ["mobility"],
            "channels": [{"type": "email", "address": f"{name.lower().replace(' ', '.')}@example.org"}],
            "caregiver": {"name": "Sam Carer", "phone": "+15035550142", "relation": "son"},
            "consent": {"given": True, "at": "2026-11-30T10:00:00Z"}}
    body.update(over)
    return body


async def register(system, body: dict) -> dict:
    r = await system.http.post("/api/v1/registry/registrants", json=body, headers=system.auth("registry_officer"))
    assert r.status_code == 201, r.text
    return r.json()


def mail_text(msg) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content()


def links_in(msg) -> dict[str, str]:
    """{"safe": path, "help": path} of a check-in message (the links' paths: the test server is not on
    EMERGENCY_PUBLIC_URL)."""
    return {m.group(2).split(".")[1]: urlsplit(m.group(1)).path for m in CHECKIN_LINK.finditer(mail_text(msg))}


async def read_all_topics(system) -> list[bytes]:
    """Every message on every topic of this system (embedded broker), keys, values and headers."""
    s = system.settings
    consumer = AIOKafkaConsumer(*(s.topic(t) for t in ALL_TOPICS), bootstrap_servers=system.runtime.bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False, group_id=None)
    await consumer.start()
    out: list[bytes] = []
    try:
        empty = 0
        while empty < 3:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            if not batch:
                empty += 1
                continue
            empty = 0
            for recs in batch.values():
                for r in recs:
                    out.append((r.key or b"") + b"|" + (r.value or b"") + b"|" +
                               b"|".join(v for _, v in (r.headers or ())))
    finally:
        await consumer.stop()
    return out
