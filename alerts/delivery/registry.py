"""Which channels this deployment runs: each channel type with the factory that builds it from the settings.

A factory returns the channel, or None when its settings are missing: the channel is then off, which the
assembly logs once at start and ``/readyz`` lists (``channels``). A channel package registers itself in
:func:`default_registry` with one line::

    registry.register(ChannelType.email, "alerts.delivery.channels.email:from_settings", needs="EMERGENCY_SMTP_URL")

(``module:function`` is imported only when the registry is built, so a missing optional package turns its
channel off instead of stopping the process.)
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from alerts.delivery.models import Channel, ChannelType
from emergency.config import Settings

log = logging.getLogger(__name__)

ChannelFactory = Callable[..., Channel | None]  # (settings, **deps: store=, alert_push=, ...) -> channel or None


@dataclass
class ChannelRegistry:
    """Channel types → (factory or ``"module:function"``, the setting that turns the channel on)."""

    entries: dict[ChannelType, tuple[ChannelFactory | str, str]] = field(default_factory=dict)

    def register(self, channel: ChannelType, factory: ChannelFactory | str, *, needs: str) -> None:
        self.entries[channel] = (factory, needs)

    def build(self, settings: Settings, **deps: object) -> tuple[dict[ChannelType, Channel], dict[str, str]]:
        """The channels that are on, and why each other known channel type is off (``deps`` go to every
        factory: ``store`` for Web Push's VAPID key, ``alert_push`` for an API process's WebSocket sessions)."""
        on: dict[ChannelType, Channel] = {}
        off: dict[str, str] = {}
        for channel in ChannelType:
            entry = self.entries.get(channel)
            if entry is None:
                off[channel.value] = "not available in this build"
                continue
            factory, needs = entry
            try:
                if isinstance(factory, str):
                    module, _, name = factory.partition(":")
                    factory = getattr(importlib.import_module(module), name)
                built = factory(settings, **deps)
            except (ImportError, AttributeError) as exc:
                off[channel.value] = f"not available: {exc}"
                continue
            if built is None:
                off[channel.value] = f"needs {needs}"
            else:
                on[channel] = built
        return on, off


def default_registry() -> ChannelRegistry:
    """The channels this code base ships (each off until its settings are given)."""
    registry = ChannelRegistry()
    for channel, module, needs in (
            (ChannelType.websocket, "websocket", "an API process (its /ws/alerts sessions)"),
            (ChannelType.webpush, "webpush", "the store (its VAPID key)"),
            (ChannelType.email, "email", "EMERGENCY_SMTP_URL"),
            (ChannelType.sms, "sms", "EMERGENCY_SMS_GATEWAY_URL"),
            (ChannelType.webhook, "webhook", "nothing (always on)"),
            (ChannelType.mqtt, "mqtt", "EMERGENCY_MQTT_URL"),
            (ChannelType.mastodon, "mastodon", "EMERGENCY_MASTODON_URL")):
        registry.register(channel, f"alerts.delivery.channels.{module}:from_settings", needs=needs)
    return registry
