"""The delivery channels, one module each, and the one list the channel worker runner reads.

Every module has ``from_settings(settings, **deps) -> Channel | None`` (None = its setting is empty: off).
To add a channel, add its ``from_settings`` to ``FACTORIES``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from alerts.delivery.channels import email, mastodon, mqtt, sms, webhook, webpush, websocket
from alerts.delivery.models import Channel
from emergency.config import Settings

log = logging.getLogger(__name__)

FACTORIES: list[Callable[..., Channel | None]] = [
    email.from_settings,
    sms.from_settings,
    webhook.from_settings,
    websocket.from_settings,
    webpush.from_settings,
    mqtt.from_settings,
    mastodon.from_settings,
]


def configured_channels(settings: Settings, **deps: Any) -> list[Channel]:
    """Every channel whose settings are present (``deps``, e.g. ``store=``, go to each factory); says once which
    factories gave no channel (their setting is empty)."""
    channels: list[Channel] = []
    off: list[str] = []
    for make in FACTORIES:
        channel = make(settings, **deps)
        if channel is None:
            off.append(make.__module__.rsplit(".", 1)[-1])
        else:
            channels.append(channel)
    log.info("delivery channels on: %s; off (no setting): %s", ", ".join(c.type.value for c in channels) or "none",
             ", ".join(off) or "none")
    return channels
