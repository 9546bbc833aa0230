"""The HTTP edge: a half-sent body times out with 408 and the connection is closed; unparseable bodies."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from emergency.stream.broker import EmbeddedBroker
from tests.conftest import System, make_settings, start_system


@pytest.fixture
async def quick_timeout(broker: EmbeddedBroker, sqlite_url: str, tmp_path: Path) -> AsyncIterator[System]:
    sys_, task, server = await start_system(make_settings(broker, sqlite_url, tmp_path, body_timeout_s=0.5), broker)
    yield sys_
    await sys_.http.aclose()
    server.should_exit = True
    await task
    await sys_.runtime.stop()


async def _raw(system: System, head: bytes, body: bytes) -> tuple[bytes, bool]:
    """Send ``head`` and part of a body, then wait: (what the server answered, whether it closed the connection)."""
    url = urlsplit(system.base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(head + body)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(65536), 30)  # bounded so old code fails instead of hanging
        closed = await asyncio.wait_for(reader.read(1), 30) == b""
        return answer, closed
    finally:
        writer.close()


async def test_a_half_sent_body_gets_408_naming_body_and_the_connection_is_closed(quick_timeout: System):
    head = (b"POST /api/v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 200\r\n\r\n")
    answer, closed = await _raw(quick_timeout, head, b'{"category": "smo')
    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 408 Request Timeout", answer
    body = json.loads(rest.split(b"\r\n\r\n", 1)[1])
    assert body["detail"].startswith("body: not received in full within 0.5 s")
    assert closed
    # the server still answers everyone else
    assert (await quick_timeout.http.get("/healthz")).status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/agency/road-closures", "/api/v1/alerts", "/api/v1/admin/tokens"])
@pytest.mark.parametrize("body", [b'{"reason": ', b'{"reason": "\xff"}', b""])
async def test_a_missing_token_is_answered_401_before_the_body_is_parsed(system: System, path: str, body: bytes):
    r = await system.http.post(path, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 401, r.text
    assert r.json()["detail"] == "Authorization: a bearer token is required"
    assert r.headers["WWW-Authenticate"] == "Bearer"


async def test_an_unparseable_body_names_body_and_where_it_broke(system: System):
    headers = {"Content-Type": "application/json", **system.auth("agency")}
    r = await system.http.post("/api/v1/agency/road-closures", content=b'{"reason": ', headers=headers)
    assert r.status_code == 422
    assert r.json()["detail"] == "body: malformed JSON at character 11: Expecting value"
    r = await system.http.post("/api/v1/agency/road-closures", content=b'{"reason": "\xff"}', headers=headers)
    assert r.status_code == 422
    assert r.json()["detail"] == "body: JSON must be UTF-8; byte 12 (0xff) is not (invalid start byte)"
    r = await system.http.post("/api/v1/reports", content=b'{"category": "smoke", "text": "\xc3"}',
                               headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"].startswith("body: JSON must be UTF-8; byte 31")
    # public routes and routes whose token is optional are not affected
    assert (await system.http.get("/api/v1/reports")).status_code == 200
