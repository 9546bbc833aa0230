"""The WebSocket channel: today's per-process push to ``/ws/alerts`` sessions (``alerts.push.AlertPush``) as a
``Channel``. ``per_process`` is True: live sessions belong to one API process, so every API process delivers
to its own sessions (nothing to send system-wide, and no ledger row per session: sessions are anonymous).

Two ways in, the same dedupe (once per alert version per process): ``on_event`` is what the gateway tail of
``emergency.assembly.runtime`` calls with each ``alerts.issued`` envelope (unchanged ``/ws/alerts`` behaviour);
``send`` takes a rendered delivery (the message's public feature) from a per-process worker and queues
``{"type": "alert", "alert": <feature>}`` to the sessions inside its geometry whose tiers take it.
"""

from __future__ import annotations

import json

from alerts.delivery.models import ChannelType, Contact, DeliveryJob, Receipt, Rendered, SendFailed
from alerts.push import AlertPush
from emergency.config import Settings
from emergency.events import Envelope, utcnow
from mapping.targeting import parse_area


class WebSocketChannel:
    """Live ``/ws/alerts`` sessions of this process."""

    type = ChannelType.websocket
    per_process = True

    def __init__(self, push: AlertPush) -> None:
        self.push = push

    async def on_event(self, topic: str, event: Envelope) -> None:
        """An issued alert version from the gateway tail: to the sessions inside it (``AlertPush.on_event``)."""
        await self.push.on_event(topic, event)

    async def send(self, job: DeliveryJob, contact: Contact, message: Rendered) -> Receipt:
        """Queue the version's public feature for this process's sessions inside its geometry (WGS 84)."""
        feature = message.geojson
        geometry = feature.get("geometry")
        if not geometry:
            raise SendFailed("the alert has no geometry to target sessions with", retry=False)
        try:
            area = parse_area(geometry)
        except ValueError:
            area = None
        props = feature.get("properties") or {}
        self.push.push_once((job.alert_id, job.alert_version), json.dumps({"type": "alert", "alert": feature}),
                            tier=props.get("category") or props.get("tier") or "", area=area, geometry=geometry)
        return Receipt(delivery_id=job.delivery_id, alert_id=job.alert_id, alert_version=job.alert_version,
                       channel=self.type, state="sent", at=utcnow())

    async def close(self) -> None:
        return None


def from_settings(settings: Settings, *, alert_push: AlertPush | None = None, **_: object) -> WebSocketChannel | None:
    """The WebSocket channel of an API process (one that holds an ``AlertPush``); None elsewhere."""
    return WebSocketChannel(alert_push) if alert_push is not None else None
