"""Connected WebSocket clients, each with its own bounded send queue and writer task.

Sending never waits for the network: a message is queued for each target and a per-client
writer delivers it, so one slow phone or browser cannot hold up the stream reader or the other
clients. A client whose queue is full (it stopped reading) or whose send fails is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Generic, TypeVar

from fastapi import WebSocket

log = logging.getLogger(__name__)

T = TypeVar("T")
SEND_TIMEOUT_S = 10.0
QUEUE_SIZE = 1000
CLOSE_TRY_AGAIN_LATER = 1013


class Hub(Generic[T]):
    """Clients, each with a value (e.g. its location) used to choose who gets what."""

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self.clients: dict[WebSocket, T] = {}
        self._queues: dict[WebSocket, asyncio.Queue[str]] = {}
        self._writers: dict[WebSocket, asyncio.Task] = {}
        self._queue_size = queue_size
        self._closing: set[asyncio.Task] = set()

    def add(self, ws: WebSocket, value: T) -> None:
        self.clients[ws] = value
        queue: asyncio.Queue[str] = asyncio.Queue(self._queue_size)
        self._queues[ws] = queue
        self._writers[ws] = asyncio.create_task(self._write(ws, queue), name="websocket-writer")

    def remove(self, ws: WebSocket) -> None:
        self.clients.pop(ws, None)
        self._queues.pop(ws, None)
        writer = self._writers.pop(ws, None)
        if writer is not None and writer is not asyncio.current_task():
            writer.cancel()

    def __len__(self) -> int:
        return len(self.clients)

    def send(self, targets: list[WebSocket], text: str) -> int:
        """Queue ``text`` for each target; returns how many queued it (slow clients are dropped)."""
        queued = 0
        for ws in targets:
            queue = self._queues.get(ws)
            if queue is None:
                continue
            try:
                queue.put_nowait(text)
                queued += 1
            except asyncio.QueueFull:
                log.info("dropping WebSocket client: %d messages unread", queue.qsize())
                self.remove(ws)
                closing = asyncio.create_task(_close(ws, CLOSE_TRY_AGAIN_LATER, "too slow: messages were not read"))
                self._closing.add(closing)  # keep a reference until it ran
                closing.add_done_callback(self._closing.discard)
        return queued

    async def _write(self, ws: WebSocket, queue: asyncio.Queue[str]) -> None:
        try:
            while True:
                text = await queue.get()
                await asyncio.wait_for(ws.send_text(text), SEND_TIMEOUT_S)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("dropping WebSocket client: %s", exc or type(exc).__name__)
            self.remove(ws)


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        await ws.close(code=code, reason=reason)
