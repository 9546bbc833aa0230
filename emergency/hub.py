"""Connected WebSocket clients, each with its own bounded send queue and writer task.

Sending never waits for the network: a message is queued for each target and a per-client
writer delivers it, so one slow phone or browser cannot hold up the stream reader or the other
clients. A client is closed with 1013 (try again later) and dropped when it stops reading: when
more than ``max_bytes`` of messages wait for it, more than ``queue_size`` messages, or one message
takes it longer than ``send_timeout_s`` to take (also for messages sent directly, with
:meth:`Hub.deliver`). A client whose send fails is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Generic, TypeVar

from fastapi import WebSocket

log = logging.getLogger(__name__)

T = TypeVar("T")
SEND_TIMEOUT_S = 10.0  # longest one message may take to go out to a client
QUEUE_SIZE = 1000  # messages waiting for one client
MAX_BUFFERED_BYTES = 1024 * 1024  # bytes of messages waiting for one client
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_TRY_AGAIN_LATER = 1013


class ClientStalled(ConnectionError):
    """A client did not take a message in time; it is being closed with 1013."""


class Hub(Generic[T]):
    """Clients, each with a value (e.g. its location) used to choose who gets what."""

    def __init__(self, queue_size: int = QUEUE_SIZE, *, max_bytes: int = MAX_BUFFERED_BYTES,
                 send_timeout_s: float = SEND_TIMEOUT_S) -> None:
        self.clients: dict[WebSocket, T] = {}
        self._queues: dict[WebSocket, asyncio.Queue[str]] = {}
        self._queued_bytes: dict[WebSocket, int] = {}
        self._writers: dict[WebSocket, asyncio.Task] = {}
        self._queue_size = queue_size
        self.max_bytes = max_bytes
        self.send_timeout_s = send_timeout_s
        self._closing: set[asyncio.Task] = set()

    def add(self, ws: WebSocket, value: T) -> None:
        self.clients[ws] = value
        queue: asyncio.Queue[str] = asyncio.Queue(self._queue_size)
        self._queues[ws] = queue
        self._queued_bytes[ws] = 0
        self._writers[ws] = asyncio.create_task(self._write(ws, queue), name="websocket-writer")

    def remove(self, ws: WebSocket) -> None:
        self.clients.pop(ws, None)
        self._queues.pop(ws, None)
        self._queued_bytes.pop(ws, None)
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
            waiting = self._queued_bytes.get(ws, 0) + len(text)
            if waiting > self.max_bytes or queue.full():
                self.drop(ws, f"too slow: {queue.qsize()} messages ({waiting - len(text)} bytes) were not read")
                continue
            queue.put_nowait(text)
            self._queued_bytes[ws] = waiting
            queued += 1
        return queued

    def drop(self, ws: WebSocket, reason: str) -> None:
        """Remove ``ws`` and close it with 1013 and ``reason`` (in the background: the close may stall too)."""
        log.info("dropping WebSocket client: %s", reason)
        self.remove(ws)
        closing = asyncio.create_task(_close(ws, CLOSE_TRY_AGAIN_LATER, reason[:120]))
        self._closing.add(closing)  # keep a reference until it ran
        closing.add_done_callback(self._closing.discard)

    async def deliver(self, ws: WebSocket, text: str) -> None:
        """Send ``text`` to ``ws`` now, within the send timeout; else drop it (1013) and raise ``ClientStalled``."""
        try:
            await asyncio.wait_for(ws.send_text(text), self.send_timeout_s)
        except TimeoutError:
            self.drop(ws, f"too slow: a message was not taken within {self.send_timeout_s:g} s")
            raise ClientStalled("the client did not read") from None

    async def _write(self, ws: WebSocket, queue: asyncio.Queue[str]) -> None:
        try:
            while True:
                text = await queue.get()
                await asyncio.wait_for(ws.send_text(text), self.send_timeout_s)
                if ws in self._queued_bytes:
                    self._queued_bytes[ws] -= len(text)
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            self.drop(ws, f"too slow: a message was not taken within {self.send_timeout_s:g} s")
        except Exception as exc:
            log.info("dropping WebSocket client: %s", exc or type(exc).__name__)
            self.remove(ws)


async def read_until_closed(ws: WebSocket) -> None:
    """Take what a client sends (text is ignored: these sockets only push) until it leaves; a binary frame
    closes the socket with 1003 (unsupported data)."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("bytes") is not None:
            await _close(ws, CLOSE_UNSUPPORTED_DATA, "binary frames are not supported: this socket takes text")
            return


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        await ws.close(code=code, reason=reason)
