"""The live sockets take text only: a binary frame closes them with 1003 (unsupported data), never a crash."""

from __future__ import annotations

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import System


@pytest.mark.parametrize("path", ["/ws/cop", "/ws/alerts?lat=45.5&lon=-122.6"])
async def test_a_binary_frame_closes_the_socket_with_1003(system: System, path: str):
    async with connect(system.ws_url + path) as ws:
        if path.startswith("/ws/cop"):
            assert '"hello"' in await ws.recv()
        await ws.send("ping")  # text is fine
        await ws.send(b"\x00\x01binary")
        with pytest.raises(ConnectionClosed):
            while True:
                await ws.recv()
        assert ws.close_code == 1003
        assert "binary" in (ws.close_reason or "")
