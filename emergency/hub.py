"""A set of WebSocket clients to push JSON text to; slow or dead clients are dropped."""

from __future__ import annotations

import asyncio
import logging
from typing import Generic, TypeVar

from fastapi import WebSocket

log = logging.getLogger(__name__)

T = TypeVar("T")
SEND_TIMEOUT_S = 5.0


class Hub(Generic[T]):
    """Connected clients, each with a value (e.g. its location) used to choose who gets what."""

    def __init__(self) -> None:
        self.clients: dict[WebSocket, T] = {}

    def add(self, ws: WebSocket, value: T) -> None:
        self.clients[ws] = value

    def remove(self, ws: WebSocket) -> None:
        self.clients.pop(ws, None)

    def __len__(self) -> int:
        return len(self.clients)

    async def send(self, targets: list[WebSocket], text: str) -> int:
        """Send ``text`` to ``targets`` concurrently; returns how many got it."""
        if not targets:
            return 0
        results = await asyncio.gather(
            *(asyncio.wait_for(ws.send_text(text), SEND_TIMEOUT_S) for ws in targets), return_exceptions=True
        )
        ok = 0
        for ws, res in zip(targets, results):
            if isinstance(res, BaseException):
                log.info("dropping WebSocket client: %s", res or type(res).__name__)
                self.remove(ws)
            else:
                ok += 1
        return ok
