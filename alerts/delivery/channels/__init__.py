"""The delivery channels, one module each (``from_settings(settings, **deps) -> Channel | None``; None = off).

The one list of channels is ``alerts.delivery.registry.default_registry``; to add a channel, register its
``from_settings`` there.
"""

from __future__ import annotations

from typing import Any

from alerts.delivery.models import Channel
from emergency.config import Settings


def configured_channels(settings: Settings, **deps: Any) -> list[Channel]:
    """Every channel its settings and ``deps`` turn on (the registry's ``build``, as a list)."""
    from alerts.delivery.registry import default_registry

    on, _off = default_registry().build(settings, **deps)
    return list(on.values())
