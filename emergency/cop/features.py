"""Public GeoJSON views of COP events. Personal data never leaves through here.

Intake puts anything personal (reporter contact, names) under ``attributes["private"]``;
``to_feature`` drops that key, so public pages, the public API and live deltas never show it.
"""

from __future__ import annotations

from typing import Any

from emergency.layers import layer_of
from emergency.events import Envelope

PRIVATE_KEY = "private"


def to_feature(event: Envelope) -> dict[str, Any]:
    """A GeoJSON Feature (geometry WGS 84) with the event's public properties."""
    props: dict[str, Any] = {
        k: v for k, v in event.attributes.items() if k != PRIVATE_KEY
    }
    props.update(
        id=event.id,
        kind=event.kind.value,
        category=event.category,
        text=event.text,
        observed_at=event.observed_at.isoformat(),
        received_at=event.received_at.isoformat(),
        geo_precision=event.geo_precision.value,
        confidence=event.confidence,
        location_text=event.location_text,
        source_type=event.source.type,
        layer=layer_of(event),
    )
    return {"type": "Feature", "id": event.id, "geometry": event.geometry, "properties": props}


def feature_collection(events: list[Envelope]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of public features."""
    return {"type": "FeatureCollection", "features": [to_feature(e) for e in events]}


def delta(event: Envelope) -> dict[str, Any]:
    """The live-map message for one changed event."""
    return {"type": "upsert", "layer": layer_of(event), "feature": to_feature(event)}
