"""The whole system with alert delivery on: a subscription directory, an HTTP peer and a channel posting to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from alerts.delivery.models import ChannelType
from emergency.assembly.app import create_app
from emergency.assembly.runtime import Runtime
from emergency.auth.tokens import Role, create_token
from emergency.stream.broker import EmbeddedBroker, free_port
from tests.alerts.delivery.peers import MemoryDirectory, Peer, PeerChannel
from tests.conftest import ADMIN_TOKEN, REGION, System, make_settings


@dataclass
class Delivering:
    system: System
    directory: MemoryDirectory
    peer: Peer




async def start_delivering(broker: EmbeddedBroker, store_url: str, tmp_path: Path, peer: Peer, channels=None,
                           **settings) -> tuple[Delivering, asyncio.Task, uvicorn.Server]:
    s = make_settings(broker, store_url, tmp_path, delivery_retry_base_s=0.05, delivery_retry_max_s=0.2,
                      public_url="http://127.0.0.1:9", **settings)
    directory = MemoryDirectory(peer.url)
    channels = {ChannelType.webhook: PeerChannel()} if channels is None else channels
    runtime = Runtime(s, directory=directory, channels=channels)
    await runtime.start()
    app = create_app(runtime=runtime)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    tokens = {"admin": ADMIN_TOKEN}
    tokens["alert_originator"], _ = await create_token(runtime.store, name="County EM", roles=[Role.alert_originator],
                                                       agency="County EM", jurisdiction=REGION["jurisdiction"])
    tokens["national_authority"], _ = await create_token(runtime.store, name="FEMA", roles=[Role.national_authority])
    tokens["coordinator"], _ = await create_token(runtime.store, name="ECC", roles=[Role.coordinator])
    base = f"http://127.0.0.1:{port}"
    system = System(s, runtime, broker, base, httpx.AsyncClient(base_url=base, timeout=20), tokens)
    return Delivering(system, directory, peer), task, server


@pytest.fixture
async def delivering(broker: EmbeddedBroker, store_url: str, tmp_path: Path) -> AsyncIterator[Delivering]:
    """The system (on each store) with the fan-out and a webhook-type channel posting to a counting peer."""
    async with delivering_system(broker, store_url, tmp_path) as d:
        yield d


@asynccontextmanager
async def delivering_system(broker: EmbeddedBroker, store_url: str, tmp_path: Path, **kwargs):
    with Peer() as peer:
        d, task, server = await start_delivering(broker, store_url, tmp_path, peer, **kwargs)
        try:
            yield d
        finally:
            await d.system.http.aclose()
            server.should_exit = True
            await task
            await d.system.runtime.stop()
