"""Agency submissions end to end: the one path the API, the demo scenario and any CLI take."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from emergency.auth.models import TokenRecord
from emergency.config import Settings
from emergency.errors import ConfigError, Unavailable
from emergency.events import Envelope, utcnow
from emergency.store.base import OnConflict
from emergency.stream.topics import RAW_AGENCY
from feeds.agency.models import ClosureAccepted, RoadClosureIn, UnderstoodClosure
from feeds.agency.service import (
    agency_id_of,
    agency_of,
    check_jurisdiction,
    check_owner,
    closure_event,
    closure_id,
    closure_on_conflict,
    needs_roads,
    understand_closure,
)
from feeds.intake import Submitter
from mapping.regions import Region, load_region


class EventLookup(Protocol):
    """Where the current version of an event is read (the store's projection is one)."""

    async def get_event(self, event_id: str) -> Envelope | None: ...


@dataclass(frozen=True)
class PreparedClosure:
    """A closure ready to journal: its event, how a resubmission is treated, and what was understood."""

    event: Envelope
    on_conflict: OnConflict
    understood: UnderstoodClosure


def prepare_road_closure(*, closure: RoadClosureIn, principal: TokenRecord, settings: Settings,
                         now: datetime | None = None) -> PreparedClosure:
    """Place the closure on the region's roads, check the agency's jurisdiction, mint its id and event
    (blocking: loads the region and snaps; run it in a thread from async code)."""
    understood = understand_closure(closure=closure, region=_region(settings=settings,
                                                                    required=needs_roads(closure=closure)))
    check_jurisdiction(geometry=understood.geometry, principal=principal)
    agency, agency_id = agency_of(principal=principal), agency_id_of(principal=principal)
    event_id = closure_id(agency_id=agency_id, reference=closure.reference)
    event = closure_event(closure=closure, understood=understood, event_id=event_id, agency=agency,
                          agency_id=agency_id, now=now or utcnow())
    return PreparedClosure(event, closure_on_conflict(reference=closure.reference), understood)


async def submit_road_closure(*, closure: RoadClosureIn, principal: TokenRecord, submitter: Submitter,
                              events: EventLookup, settings: Settings) -> ClosureAccepted:
    """Prepare the closure, check that a resubmitted reference is the agency's own (the current version
    in ``events`` names its owner), and journal it on raw.agency; the answer echoes what was understood."""
    prepared = await asyncio.to_thread(prepare_road_closure, closure=closure, principal=principal, settings=settings)
    if closure.reference:
        check_owner(existing=await events.get_event(prepared.event.id), principal=principal,
                    reference=closure.reference)
    accepted = await submitter.submit(prepared.event, RAW_AGENCY, on_conflict=prepared.on_conflict)
    u = prepared.understood
    return ClosureAccepted(id=accepted.event_id, duplicate=not accepted.created, road=u.road, from_=u.from_, to=u.to,
                           length_m=u.length_m)


def _region(*, settings: Settings, required: bool) -> Region | None:
    """The configured region; Unavailable when it is required and cannot be loaded, else None."""
    try:
        return load_region(settings.region_dir)
    except ConfigError as exc:
        if required:
            raise Unavailable("road", f"snapping is unavailable: {exc}") from None
        return None
