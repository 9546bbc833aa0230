"""A running system (real broker, each store, real HTTP) for the subscription tests, and request bodies."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import System, running_system

PUBLIC_URL = "https://alerts.example.org"
SQUARE = {"type": "Polygon", "coordinates": [[[-122.70, 45.50], [-122.68, 45.50], [-122.68, 45.52], [-122.70, 45.52],
                                              [-122.70, 45.50]]]}


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def push_subscription(endpoint: str = "https://push.example.org/send/abc") -> dict:
    return {"endpoint": endpoint, "keys": {"p256dh": b64url(b"\x04" + os.urandom(64)), "auth": b64url(os.urandom(16))}}


def subscription_body(**over) -> dict:
    body = {
        "areas": [{"point": {"lat": 45.512, "lon": -122.65}, "radius_m": 1000}, {"polygon": SQUARE},
                  {"zone": "ORZ111"}],
        "channels": [{"type": "email", "address": "a@example.org"}, {"type": "sms", "number": "+15035550100"},
                     {"type": "webhook", "url": "https://hooks.example.org/alerts",
                      "secret": "whsec_" + base64.b64encode(b"k" * 32).decode()},
                     {"type": "mqtt"}, {"type": "webpush", "subscription": push_subscription()}],
        "languages": ["es", "en"],
        "tiers": {"test": True, "public_safety": False},
    }
    body.update(over)
    return body


async def _system(broker, store_url: str, tmp_path: Path, **extra) -> AsyncIterator[System]:
    values = {"subscribe_rate": "1000/minute", "webhook_allow_hosts": "127.0.0.1", "public_url": PUBLIC_URL, **extra}
    async with running_system(broker, store_url, tmp_path, **values) as sys_:
        yield sys_


@pytest.fixture
async def subs(broker, store_url, tmp_path) -> AsyncIterator[System]:
    """The system on each store, webhooks to 127.0.0.1 allowed, a generous creation rate."""
    async for s in _system(broker, store_url, tmp_path):
        yield s


@pytest.fixture
async def subs_sqlite(broker, sqlite_url, tmp_path) -> AsyncIterator[System]:
    """The same on SQLite only (for checks that do not depend on the store)."""
    async for s in _system(broker, sqlite_url, tmp_path):
        yield s


async def create(system: System, body: dict | None = None) -> dict:
    answer = await system.http.post("/api/v1/subscriptions", json=body or subscription_body())
    assert answer.status_code == 201, answer.text
    return answer.json()


def holder(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
