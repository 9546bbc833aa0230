"""Live changes of the picture to connected map clients (``WS /ws/cop``), fed from the store's change sequence.

The pump reads "changes after the last seq it broadcast" from the store whenever the in-process
projector or expiry sweeper wakes it, and every ``live_poll_s`` otherwise (so an API process
without workers sees what other processes project). Each client records the last seq queued for
it and is sent only changes above it, so a client resuming with ``after`` gets its backlog from
the store and then the live changes, in seq order, with no gap and no duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from fastapi import WebSocket

from emergency.cop.features import change
from emergency.hub import Hub
from emergency.metrics import Registry
from emergency.store.base import Store

log = logging.getLogger(__name__)

PAGE = 500  # changes read from the store at a time


class CopLive:
    """Every connected map client gets every change to the picture, each exactly once, in seq order."""

    def __init__(self, store: Store, metrics: Registry, *, poll_s: float) -> None:
        self.hub: Hub[int] = Hub()  # the value: the last seq queued for that client
        self.store = store
        self.metrics = metrics
        self.poll_s = poll_s
        self.sent = 0  # the last seq the pump broadcast
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()  # held while broadcasting and while a client joins the hub

    def wake(self) -> None:
        """Read the store now (the projector or the sweeper just committed changes)."""
        self._wake.set()

    async def attach(self, ws: WebSocket, after: int | None) -> None:
        """Greet an accepted client, send its backlog after ``after`` (none without it), then join the live stream.

        The greeting is ``{"type": "hello", "seq": head, "reset": after > head}``; on reset the client
        starts again from a snapshot and gets the changes after ``head``.
        """
        head = await self.store.head_seq()
        reset = after is not None and after > head
        await self.hub.deliver(ws, json.dumps({"type": "hello", "seq": head, "reset": reset}))
        seq = head if after is None or reset else after
        while True:  # the bulk of a backlog, sent directly (a slow client holds up only itself)
            batch = await self.store.changes_after(seq, PAGE)
            for item in batch:
                await self.hub.deliver(ws, json.dumps(change(item)))  # a client that stops reading is closed (1013)
                seq = item.seq
            if len(batch) < PAGE:
                break
        async with self._lock:  # what came meanwhile, then live: the pump is not broadcasting now
            rest = await self.store.changes_after(seq, 1_000_000)
            self.hub.add(ws, seq)
            for item in rest:
                self._send_to([ws], item.seq, json.dumps(change(item)))
        self.metrics.ws_clients.set(len(self.hub), endpoint="cop")

    def disconnect(self, ws: WebSocket) -> None:
        self.hub.remove(ws)
        self.metrics.ws_clients.set(len(self.hub), endpoint="cop")

    async def run(self) -> None:
        """Broadcast the store's changes for as long as the process serves clients."""
        self.sent = await self.store.head_seq()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
            self._wake.clear()
            try:
                await self.broadcast()
            except Exception as exc:  # a store hiccup: try again at the next wake or poll
                log.warning("live picture: reading changes failed: %s", exc or type(exc).__name__)

    async def broadcast(self) -> None:
        """Send every change after the last one broadcast to the clients that have not had it."""
        async with self._lock:
            if not self.hub.clients:  # nobody to send to: a client that joins reads its backlog itself
                self.sent = await self.store.head_seq()
                return
            while True:
                batch = await self.store.changes_after(self.sent, PAGE)
                for item in batch:
                    if self.hub.clients:
                        self._send_to(list(self.hub.clients), item.seq, json.dumps(change(item)))
                    self.sent = item.seq
                if len(batch) < PAGE:
                    return

    def _send_to(self, clients: list[WebSocket], seq: int, text: str) -> None:
        targets = [ws for ws in clients if self.hub.clients.get(ws, seq) < seq]
        self.hub.send(targets, text)
        for ws in targets:
            if ws in self.hub.clients:  # not dropped as too slow
                self.hub.clients[ws] = seq
