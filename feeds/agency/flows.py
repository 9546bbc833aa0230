"""Agency submissions end to end: the one path the API, the demo scenario and any CLI take."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from emergency.auth.audit import AuditRepository, audit_entry
from emergency.auth.models import TokenRecord
from emergency.config import Settings
from emergency.errors import ConfigError, Forbidden, NotFound, Unavailable
from emergency.events import Envelope, utcnow
from emergency.store.base import OnConflict
from emergency.stream.topics import RAW_AGENCY
from feeds.agency.inputs.base import AgencyInputIn, InputAccepted, InputKind
from feeds.agency.inputs.resources import RESOURCE_REQUESTS, FulfilmentIn, fulfilled_version
from feeds.agency.inputs.shelters import SHELTERS, OccupancyIn, updated_occupancy
from feeds.agency.models import ClosureAccepted, RoadClosureIn, UnderstoodClosure
from feeds.agency.service import (
    agency_id_of,
    agency_of,
    check_jurisdiction,
    check_owner,
    closure_event,
    closure_id,
    closure_on_conflict,
    ended_version,
    input_event,
    input_id,
    needs_roads,
    understand_closure,
    understand_detour,
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
    region = _region(settings=settings, required=needs_roads(closure=closure) or closure.detour_snap)
    understood = understand_closure(closure=closure, region=region)
    check_jurisdiction(geometry=understood.geometry, principal=principal)
    detour = understand_detour(closure=closure, region=region)
    if detour is not None:
        check_jurisdiction(geometry=detour, principal=principal, field="detour")
    agency, agency_id = agency_of(principal=principal), agency_id_of(principal=principal)
    event_id = closure_id(agency_id=agency_id, reference=closure.reference)
    event = closure_event(closure=closure, understood=understood, event_id=event_id, agency=agency,
                          agency_id=agency_id, now=now or utcnow(), detour=detour)
    return PreparedClosure(event, closure_on_conflict(reference=closure.reference), understood)


async def submit_road_closure(*, closure: RoadClosureIn, principal: TokenRecord, submitter: Submitter,
                              events: EventLookup, settings: Settings,
                              audit: AuditRepository | None = None) -> ClosureAccepted:
    """Prepare the closure, check that a resubmitted reference is the agency's own (the current version
    in ``events`` names its owner), and journal it on raw.agency; the answer echoes what was understood."""
    prepared = await asyncio.to_thread(prepare_road_closure, closure=closure, principal=principal, settings=settings)
    if closure.reference:
        check_owner(existing=await events.get_event(prepared.event.id), principal=principal,
                    reference=closure.reference)
    accepted = await submitter.submit(prepared.event, RAW_AGENCY, on_conflict=prepared.on_conflict)
    await _audit(audit, principal=principal, action="road-closures.submit", target=accepted.event_id,
                 detail={"reference": closure.reference, "status": prepared.event.attributes["status"]})
    u = prepared.understood
    return ClosureAccepted(id=accepted.event_id, duplicate=not accepted.created, road=u.road, from_=u.from_, to=u.to,
                           length_m=u.length_m, closure_status=prepared.event.attributes["status"])


@dataclass(frozen=True)
class PreparedInput:
    """An agency input ready to journal, with what its answer echoes."""

    event: Envelope
    answer: InputAccepted


def prepare_agency_input(*, kind: InputKind, item: AgencyInputIn, principal: TokenRecord, settings: Settings,
                         existing: Envelope | None, now: datetime | None = None) -> PreparedInput:
    """Build the input's event (resolving zone codes on the region when the kind needs it), check it lies
    in the agency's jurisdiction (403 naming ``geometry``) and shape the answer. Blocking when a region
    is loaded: run it in a thread from async code."""
    now = now or utcnow()
    region = _region(settings=settings, required=True, field="zones") if kind.needs_region(item) else None
    built = kind.build(item=item, existing=existing, region=region, now=now)
    check_jurisdiction(geometry=built.geometry, principal=principal)
    agency, agency_id = agency_of(principal=principal), agency_id_of(principal=principal)
    event_id = input_id(agency_id=agency_id, slug=kind.slug, reference=item.reference)
    event = input_event(kind=kind, item=item, built=built, event_id=event_id, agency=agency, agency_id=agency_id,
                        now=now)
    answer = InputAccepted(id=event_id, reference=item.reference, item_status=str(event.attributes["status"]),
                           understood=built.understood, suggested_alert=built.suggested_alert)
    return PreparedInput(event, answer)


async def submit_agency_input(*, kind: InputKind, item: AgencyInputIn, principal: TokenRecord, submitter: Submitter,
                              events: EventLookup, settings: Settings,
                              audit: AuditRepository | None = None) -> InputAccepted:
    """Check that the reference is the agency's own (the current version in ``events`` names its owner),
    build and check the input, and journal it on raw.agency (a resubmitted reference is a new version)."""
    event_id = input_id(agency_id=agency_id_of(principal=principal), slug=kind.slug, reference=item.reference)
    existing = await events.get_event(event_id)
    check_owner(existing=existing, principal=principal, reference=item.reference, what=kind.title)
    prepared = await asyncio.to_thread(prepare_agency_input, kind=kind, item=item, principal=principal,
                                       settings=settings, existing=existing)
    accepted = await submitter.submit(prepared.event, RAW_AGENCY, on_conflict="append")
    await _audit(audit, principal=principal, action=f"{kind.path}.submit", target=event_id,
                 detail={"reference": item.reference, "status": prepared.answer.item_status})
    return prepared.answer.model_copy(update={"duplicate": not accepted.created})


async def _own(*, event_id: str, reference: str, what: str, principal: TokenRecord, events: EventLookup) -> Envelope:
    """The current version of the agency's own item; NotFound / Forbidden naming ``reference``."""
    existing = await events.get_event(event_id)
    if existing is None:
        raise NotFound("reference", f"no {what} {reference} of {agency_of(principal=principal)}")
    check_owner(existing=existing, principal=principal, reference=reference, what=what)
    return existing


async def end_agency_input(*, kind: InputKind | None, reference: str, principal: TokenRecord, submitter: Submitter,
                           events: EventLookup, audit: AuditRepository | None = None) -> InputAccepted:
    """Record the agency's item as ended (``kind.ended_status``; a road closure when ``kind`` is None:
    reopened), so it leaves open maps; ending an ended item again changes nothing."""
    agency_id = agency_id_of(principal=principal)
    if kind is None:
        event_id, what, status = closure_id(agency_id=agency_id, reference=reference), "closure", "reopened"
    else:
        event_id, what, status = input_id(agency_id=agency_id, slug=kind.slug, reference=reference), kind.title, \
            kind.ended_status
    existing = await _own(event_id=event_id, reference=reference, what=what, principal=principal, events=events)
    if existing.attributes.get("ended"):
        return InputAccepted(id=event_id, reference=reference, duplicate=True,
                             item_status=str(existing.attributes.get("status") or status))
    await submitter.submit(ended_version(existing=existing, status=status, now=utcnow()), RAW_AGENCY,
                           on_conflict="append")
    await _audit(audit, principal=principal, action=f"{kind.path if kind else 'road-closures'}.end", target=event_id,
                 detail={"reference": reference, "status": status})
    return InputAccepted(id=event_id, reference=reference, item_status=status)


async def update_shelter_occupancy(*, reference: str, update: OccupancyIn, principal: TokenRecord,
                                   submitter: Submitter, events: EventLookup,
                                   audit: AuditRepository | None = None) -> InputAccepted:
    """The cheap, frequent update: a shelter's occupancy (at most its capacity) and status, as a new version."""
    event_id = input_id(agency_id=agency_id_of(principal=principal), slug=SHELTERS.slug, reference=reference)
    existing = await _own(event_id=event_id, reference=reference, what=SHELTERS.title, principal=principal,
                          events=events)
    event = updated_occupancy(existing=existing, update=update, now=utcnow())
    await submitter.submit(event, RAW_AGENCY, on_conflict="append")
    a = event.attributes
    await _audit(audit, principal=principal, action="shelters.occupancy", target=event_id,
                 detail={"reference": reference, "occupancy": a["occupancy"], "status": a["status"]})
    return InputAccepted(id=event_id, reference=reference, item_status=a["status"],
                         understood={k: a[k] for k in ("name", "status", "capacity", "occupancy", "available")})


async def fulfil_resource_request(*, request_id: str, fulfilment: FulfilmentIn, principal: TokenRecord,
                                  submitter: Submitter, events: EventLookup,
                                  audit: AuditRepository | None = None) -> InputAccepted:
    """Another agency fulfils (part of) a resource request, named by its id as the map shows it; the
    request's new version records who delivered how much and its status."""
    existing = await events.get_event(request_id)
    if existing is None or existing.category != RESOURCE_REQUESTS.category:
        raise NotFound("request_id", "no resource request with this id")
    if existing.attributes.get("agency_id") == agency_id_of(principal=principal):
        raise Forbidden("request_id", "an agency does not fulfil its own request: update or cancel it instead")
    event = fulfilled_version(existing=existing, fulfilment=fulfilment, agency=agency_of(principal=principal),
                              agency_id=agency_id_of(principal=principal), now=utcnow())
    await submitter.submit(event, RAW_AGENCY, on_conflict="append")
    a = event.attributes
    await _audit(audit, principal=principal, action="resource-requests.fulfil", target=request_id,
                 detail={"quantity": a["fulfilments"][-1]["quantity"], "for_agency_id": a.get("agency_id")})
    return InputAccepted(id=request_id, reference=str(a["reference"]), item_status=a["status"],
                         understood={k: a[k] for k in ("what", "quantity", "unit", "fulfilled_quantity",
                                                       "remaining_quantity")})


async def _audit(audit: AuditRepository | None, *, principal: TokenRecord, action: str, target: str,
                 detail: dict) -> None:
    """Record the agency's action in the audit log (when one is given)."""
    if audit is not None:
        await audit.add(audit_entry(principal=principal, agency_id=agency_id_of(principal=principal), action=action,
                                    target=target, detail=detail))


def _region(*, settings: Settings, required: bool, field: str = "road") -> Region | None:
    """The configured region; Unavailable (naming ``field``) when it is required and cannot be loaded, else None."""
    try:
        return load_region(settings.region_dir)
    except ConfigError as exc:
        if required:
            raise Unavailable(field, f"the region is unavailable: {exc}" if field != "road"
                              else f"snapping is unavailable: {exc}") from None
        return None
