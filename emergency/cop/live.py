"""Live deltas of the picture to connected map clients (``WS /ws/cop``)."""

from __future__ import annotations

import json

from fastapi import WebSocket

from emergency.cop.features import delta
from emergency.events import Envelope
from emergency.hub import Hub
from emergency.metrics import Registry


class CopLive:
    """Every connected map client gets every change to the picture."""

    def __init__(self, metrics: Registry) -> None:
        self.hub: Hub[None] = Hub()
        self.metrics = metrics

    def connect(self, ws: WebSocket) -> None:
        self.hub.add(ws, None)
        self.metrics.ws_clients.set(len(self.hub), endpoint="cop")

    def disconnect(self, ws: WebSocket) -> None:
        self.hub.remove(ws)
        self.metrics.ws_clients.set(len(self.hub), endpoint="cop")

    async def on_event(self, topic: str, event: Envelope) -> None:
        if not self.hub.clients:
            return
        self.hub.send(list(self.hub.clients), json.dumps(delta(event)))
