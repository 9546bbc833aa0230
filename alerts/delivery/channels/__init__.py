"""Alert delivery channels: one module per channel, each with ``from_settings(settings, **deps) -> Channel | None``
(None = the channel is off: its setting is empty, or a dependency it needs was not given)."""

from __future__ import annotations

from typing import Any

from alerts.delivery.models import Channel
from emergency.config import Settings


def configured_channels(settings: Settings, **deps: Any) -> list[Channel]:
    """Every channel its settings turn on, built with the dependencies given (``store``, ``alert_push``, ...)."""
    from alerts.delivery.channels import mastodon, mqtt, webpush, websocket

    channels = []
    for module in (websocket, webpush, mqtt, mastodon):
        channel = module.from_settings(settings, **deps)
        if channel is not None:
            channels.append(channel)
    return channels
