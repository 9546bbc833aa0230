"""Public GeoJSON views of COP events. Personal data never leaves through here.

A feature carries the envelope's public top-level fields plus only the attributes its layer lists
in ``Layer.public_fields``; everything else, above all ``attributes["private"]`` (reporter
contact, author handles), stays in the store. Public pages, the public API, the changes page and
live deltas all shape events here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from emergency.events import Envelope, Kind, utcnow
from emergency.layers import layer_for
from emergency.store.base import StoredEvent
from emergency.timebounds import window_state

PRIVATE_KEY = "private"
ENDED_REASON = "expired"  # the only way an item leaves the picture today: its end or expiry passed


def photos_public(event: Envelope) -> bool:
    """Whether everyone may see ``event``'s photos (``attributes.photos``, feeds/photos): a citizen report once
    its incident is ``verified`` (the correlator's ``verified`` attribute); an agency input while it is on the
    map (not ended). Coordinators and admins see every photo at once."""
    if event.kind is Kind.citizen_report:
        return event.attributes.get("verified") is True
    if event.kind is Kind.agency_report:
        return not event.attributes.get("ended")
    return False


def to_feature(event: Envelope, *, seq: int | None = None, ended_at: datetime | None = None,
               full: bool = False) -> dict[str, Any]:
    """A GeoJSON Feature (geometry WGS 84) with the event's public properties.

    ``seq`` is the change seq of the state shown, ``ended_at`` when its expiry was recorded. ``photos`` (their
    references) are listed when :func:`photos_public` allows it, or to a coordinator or admin (``full``).
    """
    layer = layer_for(event)
    props: dict[str, Any] = {k: v for k, v in event.attributes.items() if k in layer.public_fields}
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
        layer=layer.name,
    )
    if event.kind is Kind.alert:
        props.update(alert_state(event, ended_at=ended_at))
    if "windows" in props:  # a closure closed only at set hours: its next window and whether it is on now
        props.update(window_state(attributes=event.attributes, now=utcnow()))
    if event.attributes.get("photos") and (full or photos_public(event)):
        props["photos"] = event.attributes["photos"]
    if seq is not None:
        props["seq"] = seq
    if ended_at is not None:
        props["ended_at"] = ended_at.isoformat()
    return {"type": "Feature", "id": event.id, "geometry": event.geometry, "properties": props}


def alert_state(event: Envelope, *, ended_at: datetime | None = None) -> dict[str, Any]:
    """An alert's lifecycle for the map: ``state`` (active, cancelled, or expired once ended),
    ``cancelled_at`` (the Cancel's sent time) and the ``cap_url`` of its CAP XML."""
    a = event.attributes
    cancelled = a.get("msg_type") == "Cancel"
    state = "cancelled" if cancelled else "expired" if ended_at is not None else "active"
    out: dict[str, Any] = {"state": state, "cap_url": f"/api/v1/alerts/{event.id}.xml"}
    if cancelled:
        out["cancelled_at"] = a.get("sent")
    return out


def stored_feature(item: StoredEvent) -> dict[str, Any]:
    """The public Feature of a stored event, with its seq (and ``ended_at`` when it ended)."""
    return to_feature(item.event, seq=item.seq, ended_at=item.ended_at)


def change(item: StoredEvent) -> dict[str, Any]:
    """The change message for a stored event (the changes page and ``WS /ws/cop`` send exactly this):
    ``upsert`` with its public feature, or ``remove`` once it ended."""
    layer = layer_for(item.event).name
    if item.ended_at is not None:
        return {"type": "remove", "seq": item.seq, "layer": layer, "id": item.event.id, "reason": ENDED_REASON}
    return {"type": "upsert", "seq": item.seq, "layer": layer, "feature": stored_feature(item)}
