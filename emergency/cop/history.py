"""The picture as it stood at a past time, rebuilt from the journal in memory.

"At ``T``" means: every journal row whose ``received_at`` (when the system took the input in, as journaled) is at
or before ``T``, replayed in journal (seq) order, through the same pure functions the stream uses: ``normalise``
(raw.* -> cop.reports), the ``Correlator`` (reports and coordinators' actions -> incidents, reports annotated with
their incident) and the projector's rule (latest ``received_at`` per id wins). A row journaled late with an older
``received_at`` (a late arrival) is part of the picture at every ``T`` from its ``received_at`` on, in its journal
position: the picture at ``T`` as the journal knows it now. Checkpoints (``emergency.cop.checkpoints``) only save
replaying a journal prefix that a full replay would read whole; they never change an answer. Nothing goes through
the broker and the live projection is not touched. Items whose end or expiry is at or before the time are left
out. Geometries GeoJSON, WGS 84 (EPSG:4326).
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emergency.cop.checkpoints import CHECKPOINTS, decode, encode, fingerprint
from emergency.cop.features import to_feature
from emergency.cop.incidents.correlate import Correlator, annotated, incident_envelope
from emergency.cop.incidents.models import Incident, family_of
from emergency.cop.normalise import normalise
from emergency.events import Envelope, utcnow
from emergency.geocoding import Geocoder
from emergency.layers import REGISTRY, expires_at, layer_of
from emergency.store.base import OutboxRow, Store
from emergency.stream.topics import ALERTS_ISSUED, COP_ACTIONS, RAW_TOPICS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Picture:
    """The items current at ``at`` (latest version of each), how many journal rows they come from
    (``rows_read``), and how many of those were replayed now (the rest came from checkpoint ``checkpoint_seq``)."""

    at: datetime
    items: list[Envelope]
    rows_read: int
    rows_replayed: int | None = None
    checkpoint_seq: int | None = None


@dataclass
class ReplayState:
    """Where a replay stands after some journal rows: the correlator, the projection so far (id -> latest version,
    for what the correlator does not handle), the latest version of each report the correlator handled, the actions
    naming what has not arrived yet, and how many journal rows (``rows``, up to journal seq ``seq``) it has read.

    ``finished``: each incident's envelope (JSON text) as of the checkpoint this state was decoded from, reused
    by ``finish`` for the incidents not in ``touched`` (those the replay changed since).
    """

    correlator: Correlator = field(default_factory=Correlator)
    latest: dict[str, Envelope] = field(default_factory=dict)
    reports: dict[str, Envelope] = field(default_factory=dict)
    pending: list[Envelope] = field(default_factory=list)
    rows: int = 0
    seq: int = 0
    finished: dict[str, str] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)


def _project(latest: dict[str, Envelope], event: Envelope) -> None:
    """The projector's rule: the latest ``received_at`` per id wins (ties: the later one)."""
    old = latest.get(event.id)
    if old is None or event.received_at >= old.received_at:
        latest[event.id] = event


def advance(state: ReplayState, *, rows: list[OutboxRow], geocoder: Geocoder | None = None) -> None:
    """Replay journal ``rows`` (seq order, all after ``state.seq``) into ``state``; pure, no I/O."""
    corr, latest, reports, pending, touched = (state.correlator, state.latest, state.reports, state.pending,
                                               state.touched)
    for row in rows:
        state.rows += 1
        state.seq = row.seq
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
                _project(latest, event)
                continue
            old = reports.get(event.id)
            if old is not None and event.received_at < old.received_at:
                continue
            reports[event.id] = event
            touched |= corr.add_report(event)
        elif row.topic == COP_ACTIONS:
            changed = corr.apply_action(event)
            if changed is None:
                pending.append(event)
            else:
                touched |= changed
        elif row.topic == ALERTS_ISSUED:
            _project(latest, event)
        else:
            continue
        progress = True
        while pending and progress:
            progress = False
            for action in list(pending):
                changed = corr.apply_action(action)
                if changed is not None:
                    touched |= changed
                    pending.remove(action)
                    progress = True


def finish(state: ReplayState, *, at: datetime) -> list[Envelope]:
    """The items of the picture at ``at`` from ``state`` (``state`` itself is left as it was): the projection with
    every incident and its annotated reports, less what has ended by ``at``."""
    latest = dict(state.latest)
    for inc in state.correlator.incidents.values():
        _project(latest, incident_state(state, inc))
        for rid in inc.members:
            if rid in state.reports:
                _project(latest, annotated(state.reports[rid], inc))
    return [e for e in latest.values() if not _ended(e, at)]


def incident_state(state: ReplayState, inc: Incident) -> Envelope:
    """``inc``'s envelope: the checkpoint's when the replay has not changed it since, else built anew."""
    text = state.finished.get(inc.id) if inc.id not in state.touched else None
    return Envelope.model_validate_json(text) if text is not None else incident_envelope(inc)


def replay(*, rows: list[OutboxRow], at: datetime, geocoder: Geocoder | None = None,
           correlator: Correlator | None = None) -> Picture:
    """The picture at ``at`` from journal ``rows`` (seq order, received at or before ``at``); pure, no I/O.

    ``correlator``: the (empty) state to replay into, a fresh ``Correlator`` by default.
    """
    state = ReplayState(correlator=correlator if correlator is not None else Correlator())
    advance(state, rows=rows, geocoder=geocoder)
    return Picture(at=at, items=finish(state, at=at), rows_read=len(rows), rows_replayed=len(rows))


def _ended(event: Envelope, at: datetime) -> bool:
    try:
        end = expires_at(event)
    except ValueError:
        return False
    return end is not None and end <= at


async def picture_at(*, store: Store, at: datetime, geocoder: Geocoder | None = None, every: int = 0,
                     keep: int = 1) -> Picture:
    """The picture at ``at`` rebuilt from ``store``'s journal (the replay runs in a thread).

    It starts from the newest usable checkpoint (``emergency.cop.checkpoints``: same rules and geocoder, every row
    of it received at or before ``at``, its journal prefix unchanged) and replays only the rows after it that were
    received at or before ``at``: the same rows in the same order as a full replay, so the same picture. When
    ``every`` > 0 and at least ``every`` of the rows replayed form a whole journal prefix (no row between them was
    received after ``at``), the state after them is stored as a new checkpoint (the ``keep`` newest are kept).
    """
    picture = await _replayed(store=store, at=at, geocoder=geocoder, every=every, keep=keep, answer=True)
    assert picture is not None
    return picture


async def _replayed(*, store: Store, at: datetime, geocoder: Geocoder | None, every: int, keep: int,
                    answer: bool) -> Picture | None:
    """``picture_at``'s work; with ``answer`` False only the checkpoint is written (None returned)."""
    repo = store.repository(CHECKPOINTS)
    fp = fingerprint(geocoder)
    found = await repo.newest_usable(fingerprint=fp, upto=at)
    after = found.seq if found is not None else 0
    rows = await store.journal_until(at, after=after)
    whole = 0  # how many of ``rows`` (from the first) are every journal row in their seq range
    if every > 0 and len(rows) >= every:
        later = await repo.first_received_after(after=after, upto=at)
        whole = len(rows) if later is None else bisect.bisect_left([r.seq for r in rows], later)
        whole = whole if whole >= every else 0

    def rebuild() -> tuple[Picture | None, tuple[int, int] | None, bytes | None]:
        state = decode(found.state) if found is not None else ReplayState()
        base = state.rows
        advance(state, rows=rows[:whole], geocoder=geocoder)
        snapshot = encode(state) if whole else None
        marked = (state.seq, state.rows) if whole else None
        if not answer:
            return None, marked, snapshot
        advance(state, rows=rows[whole:], geocoder=geocoder)
        picture = Picture(at=at, items=finish(state, at=at), rows_read=state.rows, rows_replayed=state.rows - base,
                          checkpoint_seq=found.seq if found is not None else None)
        return picture, marked, snapshot

    picture, marked, snapshot = await asyncio.to_thread(rebuild)
    if marked is not None and snapshot is not None:
        await repo.put(seq=marked[0], rows=marked[1], fingerprint=fp, state=snapshot, keep=keep)
    return picture


async def checkpoint_head(*, store: Store, geocoder: Geocoder | None, every: int, keep: int) -> bool:
    """Write a checkpoint at the journal's head when ``every`` or more rows (``every`` > 0) came after the newest
    one; whether one was written."""
    if every <= 0:
        return False
    newest = await store.repository(CHECKPOINTS).newest_usable(fingerprint=fingerprint(geocoder), upto=utcnow())
    if (await store.journal_counts()).total - (newest.rows if newest is not None else 0) < every:
        return False
    await _replayed(store=store, at=utcnow(), geocoder=geocoder, every=every, keep=keep, answer=False)
    return True


async def keep_checkpoints(*, store: Store, geocoder: Geocoder | None, every: int, keep: int,
                           interval_s: float) -> None:
    """Every ``interval_s`` seconds, a checkpoint at the journal's head when ``every`` rows came since the newest
    (so the first ``GET /api/v1/cop?at=`` of a recent time replays fewer than about ``every`` rows)."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await checkpoint_head(store=store, geocoder=geocoder, every=every, keep=keep)
        except Exception as exc:  # a store hiccup: the next pass catches up
            log.warning("history checkpoint failed: %s", exc or type(exc).__name__)


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
            "journal_rows_replayed": picture.rows_replayed, "from_checkpoint": picture.checkpoint_seq,
            "layers": layers}
