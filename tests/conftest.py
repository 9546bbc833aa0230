"""Shared fixtures: a real Tansu broker (and Apache Kafka, tests/kafka.py), real SQLite and PostGIS stores, a real HTTP server.

PostGIS comes from the environment that ``pg_virtualenv`` sets up (PGHOST, PGPORT, PGUSER,
PGPASSWORD); ``bash .ci/run`` runs the suite inside it. Without it, the PostGIS tests fail
with a message saying so: they are never skipped.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from playwright.async_api import async_playwright

from emergency.assembly.app import create_app
from emergency.assembly.runtime import Runtime
from emergency.auth.tokens import Role, create_token
from emergency.config import PROJECT_ROOT, Settings
from emergency.stream.broker import EmbeddedBroker, free_port
from tests.kafka import KafkaCluster

REGION = json.loads((PROJECT_ROOT / "sample_data" / "regions" / "portland" / "region.json").read_text())
ADMIN_TOKEN = "test-admin-token"


def pg_base_url() -> str:
    """URL of the PostgreSQL server of the surrounding pg_virtualenv (without database)."""
    if "PGHOST" not in os.environ and "PGPORT" not in os.environ:
        pytest.fail("PostGIS tests need a PostgreSQL server: run the suite with `bash .ci/run` "
                    "(it wraps pytest in pg_virtualenv), or set PGHOST/PGPORT/PGUSER/PGPASSWORD")
    user = os.environ.get("PGUSER", "postgres")
    password = os.environ.get("PGPASSWORD", "")
    host = os.environ.get("PGHOST", "localhost")
    port = os.environ.get("PGPORT", "5432")
    auth = f"{user}:{password}@" if password else f"{user}@"
    if host.startswith("/"):
        return f"postgresql://{auth}/%s?host={host}&port={port}"
    return f"postgresql://{auth}{host}:{port}/%s"


@pytest.fixture(scope="session")
def postgis_database() -> str:
    """A fresh database with PostGIS for this test session; returns its URL."""
    import asyncpg

    base = pg_base_url()
    name = f"emergency_test_{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        conn = await asyncpg.connect(base % os.environ.get("PGDATABASE", "postgres"))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    # may be requested from inside a running event loop: create the database on another thread
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, create()).result()
    return base % name


async def _truncate(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                  "AND tablename <> 'spatial_ref_sys'")
        if tables:  # every table of the store, whatever later features added
            await conn.execute("TRUNCATE " + ", ".join(f'"{t[0]}"' for t in tables) + " RESTART IDENTITY")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgis"])
async def store_url(request, tmp_path: Path) -> str:
    """Each backend in turn: a new SQLite file, or the session's PostGIS database emptied."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    url = request.getfixturevalue("postgis_database")
    await _truncate(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.sqlite3'}"


@pytest.fixture
async def broker() -> AsyncIterator[EmbeddedBroker]:
    """A real embedded Tansu broker on a free loopback port, stopped afterwards."""
    b = EmbeddedBroker()
    await b.start()
    yield b
    await b.stop()


def _in_thread(coro) -> Any:
    """Run ``coro`` to completion on a loop of its own (session fixtures may be set up inside a running loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaCluster]:
    """One Apache Kafka broker (KRaft, broker + controller) for the whole session, stopped at its end.

    Tests share it: each one uses a topic prefix (and so consumer groups) of its own (``make_settings``).
    A test that stops it must start it again (``await broker.start()``) before it ends.
    """
    cluster = KafkaCluster(1)
    cluster.launch()  # from this (the main) thread: the broker must not die with a helper thread
    try:
        _in_thread(cluster.wait_ready())
    except BaseException:
        _in_thread(cluster.stop())
        raise
    yield cluster
    _in_thread(cluster.stop())
    cluster.cleanup()


@pytest.fixture(params=["tansu", "kafka"])
async def either_broker(request) -> AsyncIterator[EmbeddedBroker | KafkaCluster]:
    """Each engine in turn: a fresh embedded Tansu broker, then the session's Apache Kafka broker.

    Suites that must hold on both engines override ``broker`` with it (``broker = either_broker`` fixture).
    """
    if request.param == "tansu":
        b = EmbeddedBroker()
        await b.start()
        yield b
        await b.stop()
        return
    cluster = request.getfixturevalue("kafka_broker")
    if not cluster.running:  # a test before stopped it and failed before starting it again
        await cluster.start()
    yield cluster
    if not all(n.running for n in cluster.nodes):
        await cluster.start()


def forgets_on_restart(broker: EmbeddedBroker | KafkaCluster) -> bool:
    """True for the embedded broker (memory only: a restart loses topics, data and offsets), False for Kafka."""
    return isinstance(broker, EmbeddedBroker)


def make_settings(broker: EmbeddedBroker, store_url: str, tmp_path: Path, **extra) -> Settings:
    values = dict(
        kafka_bootstrap=broker.bootstrap, store_url=store_url, data_dir=tmp_path,
        topic_prefix=f"t{uuid.uuid4().hex[:6]}.", admin_token=ADMIN_TOKEN,
        broker_check_interval_s=0.3, broker_timeout_s=5.0, session_timeout_ms=2000, republish_after_s=30.0,
        intake_rate="100000/minute", intake_contact_rate="100000/minute",  # tests send many reports from 127.0.0.1
    )
    values.update(extra)
    return Settings(**values)


@dataclass
class System:
    """The whole system running against real parts, served over real HTTP on loopback."""

    settings: Settings
    runtime: Runtime
    broker: EmbeddedBroker
    base_url: str
    http: httpx.AsyncClient
    tokens: dict[str, str]

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://")

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


async def start_system(settings: Settings, broker: EmbeddedBroker,
                       port: int | None = None) -> tuple[System, asyncio.Task, uvicorn.Server]:
    """The system on ``settings`` served on ``port`` (a free one unless given: a peer that must know the
    address first, Kannel's get-url, gets it beforehand)."""
    runtime = await Runtime(settings).start()
    app = create_app(runtime=runtime)
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    assert runtime.store is not None
    tokens = {"admin": ADMIN_TOKEN}
    tokens["agency"], _ = await create_token(runtime.store, name="City of Portland", roles=[Role.agency],
                                             agency="City of Portland", jurisdiction=REGION["jurisdiction"])
    tokens["alert_originator"], _ = await create_token(runtime.store, name="County EM",
                                                       roles=[Role.alert_originator], agency="County EM",
                                                       jurisdiction=REGION["jurisdiction"])
    tokens["coordinator"], _ = await create_token(runtime.store, name="ECC", roles=[Role.coordinator])
    tokens["collector"], _ = await create_token(runtime.store, name="Collector", roles=[Role.collector])
    base = f"http://127.0.0.1:{port}"
    http = httpx.AsyncClient(base_url=base, timeout=20)
    return System(settings, runtime, broker, base, http, tokens), task, server


@asynccontextmanager
async def running_system(broker: EmbeddedBroker, store_url: str, tmp_path: Path, **extra) -> AsyncIterator[System]:
    """The system with settings of its own (``make_settings`` plus ``extra``), stopped on leaving."""
    sys_, task, server = await start_system(make_settings(broker, store_url, tmp_path, **extra), broker)
    try:
        yield sys_
    finally:
        await sys_.http.aclose()
        server.should_exit = True
        await task
        await sys_.runtime.stop()


@pytest.fixture
async def system(broker: EmbeddedBroker, sqlite_url: str, tmp_path: Path) -> AsyncIterator[System]:
    """The system on SQLite (the embedded default) with an external test broker."""
    sys_, task, server = await start_system(make_settings(broker, sqlite_url, tmp_path), broker)
    yield sys_
    await sys_.http.aclose()
    server.should_exit = True
    await task
    await sys_.runtime.stop()


async def eventually(check, timeout: float = 20.0, interval: float = 0.05):
    """Poll ``check()`` (sync or async) until it returns a truthy value; fail after ``timeout`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = None
    while loop.time() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (last value {last!r})")


PORTLAND_POINT = {"lat": 45.5122, "lon": -122.6587}  # SE Hawthorne Blvd near the river


def phone_leaks(text: str, number: str) -> list[str]:
    """The forms of phone ``number`` found in ``text``: its last seven digits bare, spaced or dashed.

    Never a bare fragment such as "555": event ids are random hex and hold such runs by chance.
    """
    digits = re.sub(r"\D", "", number)[-7:]
    forms = (digits, f"{digits[:3]} {digits[3:]}", f"{digits[:3]}-{digits[3:]}")
    return [form for form in forms if form in text]


def report_body(**over) -> dict:
    body = {"category": "smoke", "text": "Smoke rising behind the school", **PORTLAND_POINT}
    body.update(over)
    return body


# ---------------------------------------------------------------- a real, offline browser

CHROMIUM = "/usr/bin/chromium"  # Debian's chromium, driven by Playwright; never a downloaded browser
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
]


def local_only(offsite: list[str]):
    """A Playwright route handler that lets requests to 127.0.0.1 through and aborts (and notes) every other."""

    async def guard(route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:
            offsite.append(route.request.url)
            await route.abort()

    return guard


@asynccontextmanager
async def offline_page(*, width: int = 1280, height: int = 800, init_script: str | None = None,
                       **context_options: Any) -> AsyncIterator[tuple[Any, list[str], list[str]]]:
    """One Chromium page that may reach 127.0.0.1 only (its service workers too): yields (page, off-host requests
    it aborted, page errors). ``context_options`` go to Playwright's ``new_context`` (locale, geolocation,
    permissions); ``init_script`` runs before every page script."""
    offsite: list[str] = []
    errors: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": width, "height": height}, **context_options)
            await context.route("**/*", local_only(offsite))
            if init_script:
                await context.add_init_script(init_script)
            page = await context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            yield page, offsite, errors
        finally:
            await browser.close()


@asynccontextmanager
async def offline_context(**options: Any) -> AsyncIterator[tuple[Any, list[str], list[str]]]:
    """A Chromium context (``options`` as Playwright's ``new_context``: locale, geolocation, permissions...) whose
    pages may reach 127.0.0.1 only: yields (context, off-host requests it aborted, page errors)."""
    offsite: list[str] = []
    errors: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(**options)
            await context.route("**/*", local_only(offsite))
            context.on("weberror", lambda e: errors.append(str(e.error)))
            yield context, offsite, errors
        finally:
            await browser.close()
