"""The picture as it stood at a past time, rebuilt from the journal in memory.

The journal rows received at or before the time are replayed, in journal order, through the same pure functions
the stream uses: ``normalise`` (raw.* -> cop.reports), the ``Correlator`` (reports and coordinators' actions ->
incidents, reports annotated with their incident) and the projector's rule (latest ``received_at`` per id wins).
Nothing goes through the broker and the live projection is not touched. Items whose end or expiry is at or before
the time are left out. Geometries GeoJSON, WGS 84 (EPSG:4326).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from emergency.cop.features import to_feature
from emergency.cop.incidents.correlate import Correlator, annotated, incident_envelope
from emergency.cop.incidents.models import family_of
from emergency.cop.normalise import normalise
from emergency.events import Envelope
from emergency.geocoding import Geocoder
from emergency.layers import REGISTRY, expires_at, layer_of
from emergency.store.base import OutboxRow, Store
from emergency.stream.topics import ALERTS_ISSUED, COP_ACTIONS, RAW_TOPICS


@dataclass(frozen=True)
class Picture:
    """The items current at ``at`` (latest version of each), and how many journal rows were read."""

    at: datetime
    items: list[Envelope]
    rows_read: int


def replay(*, rows: list[OutboxRow], at: datetime, geocoder: Geocoder | None = None,
           correlator: Correlator | None = None) -> Picture:
    """The picture at ``at`` from journal ``rows`` (seq order, received at or before ``at``); pure, no I/O.

    ``correlator``: the (empty) state to replay into, a fresh ``Correlator`` by default.
    """
    state = correlator if correlator is not None else Correlator()
    latest: dict[str, Envelope] = {}   # the projection: id -> latest version
    reports: dict[str, Envelope] = {}  # the latest version of each report the correlator handled
    pending: list[Envelope] = []       # actions naming what has not arrived yet

    def project(event: Envelope) -> None:
        old = latest.get(event.id)
        if old is None or event.received_at >= old.received_at:
            latest[event.id] = event

    for row in rows:
        try:
            event = Envelope.from_json(row.payload)
        except ValueError:
            continue  # the live normaliser dead-letters what it cannot read; so does the replay
        if row.topic in RAW_TOPICS:
            try:
                event = normalise(row.topic, event, geocoder)
            except ValueError:
                continue  # rejected to the dead-letter topic in the stream: never in the picture
            if event.geometry is None or family_of(event.kind, event.category) is None:
                project(event)
                continue
            old = reports.get(event.id)
            if old is not None and event.received_at < old.received_at:
                continue
            reports[event.id] = event
            state.add_report(event)
        elif row.topic == COP_ACTIONS:
            if state.apply_action(event) is None:
                pending.append(event)
        elif row.topic == ALERTS_ISSUED:
            project(event)
        else:
            continue
        progress = True
        while pending and progress:
            progress = False
            for action in list(pending):
                if state.apply_action(action) is not None:
                    pending.remove(action)
                    progress = True
    for inc in state.incidents.values():
        project(incident_envelope(inc))
        for rid in inc.members:
            if rid in reports:
                project(annotated(reports[rid], inc))
    current = [e for e in latest.values() if not _ended(e, at)]
    return Picture(at=at, items=current, rows_read=len(rows))


def _ended(event: Envelope, at: datetime) -> bool:
    try:
        end = expires_at(event)
    except ValueError:
        return False
    return end is not None and end <= at


async def picture_at(*, store: Store, at: datetime, geocoder: Geocoder | None = None) -> Picture:
    """The picture at ``at`` rebuilt from ``store``'s journal (the replay runs in a thread)."""
    rows = await store.journal_until(at)
    return await asyncio.to_thread(replay, rows=rows, at=at, geocoder=geocoder)


def picture_answer(picture: Picture) -> dict[str, Any]:
    """The public answer: one GeoJSON FeatureCollection per layer (newest first), with ``at`` and how it was made."""
    by_layer: dict[str, list[Envelope]] = {name: [] for name in REGISTRY}
    for event in picture.items:
        by_layer[layer_of(event)].append(event)
    layers = {}
    for name, events in by_layer.items():
        events.sort(key=lambda e: (e.observed_at, e.id), reverse=True)
        layers[name] = {"type": "FeatureCollection", "features": [to_feature(e) for e in events],
                        "returned": len(events)}
    return {"at": picture.at.isoformat(), "rebuilt_from_journal": True, "journal_rows_read": picture.rows_read,
            "layers": layers}
