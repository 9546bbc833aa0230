"""Agency submissions end to end: the one path the API, the demo scenario and any CLI take."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, Field

from emergency.auth.audit import AuditRepository, audit_entry
from emergency.auth.models import TokenRecord
from emergency.config import Settings
from emergency.errors import (
    ConfigError,
    Conflict,
    Forbidden,
    NotFound,
    RequestRefused,
    Unavailable,
    ValidationFailed,
)
from emergency.events import Envelope, utcnow
from emergency.store.base import OnConflict
from emergency.store.leases import LeaseRepository, holder_name, leased
from emergency.stream.topics import RAW_AGENCY
from emergency.timebounds import utc_text
from feeds.agency.bulk import RowError, ignored_columns, parse_row, read_table
from feeds.agency.bulk import rows as bulk_rows
from feeds.agency.inputs import KINDS
from feeds.agency.inputs.base import AgencyInputIn, InputAccepted, InputKind
from feeds.agency.inputs.resources import RESOURCE_REQUESTS, FulfilmentIn, fulfilled_version
from feeds.agency.inputs.shelters import SHELTERS, OccupancyIn, updated_occupancy
from feeds.agency.models import ClosureAccepted, NextWindow, RoadClosureIn, UnderstoodClosure
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
    understand_windows,
)
from feeds.intake import Submitter
from feeds.photos.models import StoredPhoto
from feeds.photos.repository import PhotoRepository
from feeds.photos.service import attach_photos
from mapping.regions import Region, load_region


class EventLookup(Protocol):
    """Where an item's versions are read: the journal (every accepted version) and the projection (the map's);
    the store is both."""

    async def get_event(self, event_id: str) -> Envelope | None: ...

    async def latest_accepted(self, event_id: str, topic: str) -> Envelope | None: ...


WRITER_TTL_S = 30.0  # longest an item's lease is held (a crashed holder's lease lapses after it)
WRITER_WAIT_S = 5.0  # how long a change waits for another change of the same item before 409


async def current_version(events: EventLookup, event_id: str) -> Envelope | None:
    """The newest version of an agency item: the one accepted last on raw.agency, which may not be on the map
    yet (a DELETE or a fulfilment right after a submission acts on it, not on the older version the map still
    shows), or the map's when it is as new (the map's copy carries what the processors added; the expiry sweep
    ends items there)."""
    accepted, shown = await asyncio.gather(events.latest_accepted(event_id, RAW_AGENCY), events.get_event(event_id))
    if accepted is None or (shown is not None and shown.received_at >= accepted.received_at):
        return shown
    return accepted


@asynccontextmanager
async def one_writer(leases: LeaseRepository | None, *, item_id: str, field: str) -> AsyncIterator[None]:
    """Hold the item's lease (``agency-item:<id>``, across processes) while its next version is built from the
    current one and journaled, so two changes at once (two fulfilments) never build on the same version and
    one of them is lost. Another change holding it past ``WRITER_WAIT_S``: 409 naming ``field``."""
    if leases is None:  # one writer only (the CLI's bulk upload, a test)
        yield
        return
    async with leased(leases, f"agency-item:{item_id}", holder_name(), ttl_s=WRITER_TTL_S,
                      wait_s=WRITER_WAIT_S) as held:
        if not held:
            raise Conflict(field, "another change to this item is being recorded at the same time; retry")
        yield


@dataclass(frozen=True)
class PreparedClosure:
    """A closure ready to journal: its event, how a resubmission is treated, and what was understood."""

    event: Envelope
    on_conflict: OnConflict
    understood: UnderstoodClosure
    next_window: tuple[datetime, datetime] | None = None


def prepare_road_closure(*, closure: RoadClosureIn, principal: TokenRecord, settings: Settings,
                         now: datetime | None = None) -> PreparedClosure:
    """Place the closure on the region's roads, check the agency's jurisdiction, mint its id and event
    (blocking: loads the region and snaps; run it in a thread from async code)."""
    region = _region(settings=settings, required=needs_roads(closure=closure) or closure.detour_snap)
    now = now or utcnow()
    timezone, first = understand_windows(closure=closure, region=region, now=now)
    understood = understand_closure(closure=closure, region=region)
    check_jurisdiction(geometry=understood.geometry, principal=principal)
    detour = understand_detour(closure=closure, region=region)
    if detour is not None:
        check_jurisdiction(geometry=detour, principal=principal, field="detour")
    agency, agency_id = agency_of(principal=principal), agency_id_of(principal=principal)
    event_id = closure_id(agency_id=agency_id, reference=closure.reference)
    event = closure_event(closure=closure, understood=understood, event_id=event_id, agency=agency,
                          agency_id=agency_id, now=now, detour=detour, timezone=timezone)
    return PreparedClosure(event, closure_on_conflict(reference=closure.reference), understood, first)


async def submit_road_closure(*, closure: RoadClosureIn, principal: TokenRecord, submitter: Submitter,
                              events: EventLookup, settings: Settings,
                              audit: AuditRepository | None = None) -> ClosureAccepted:
    """Prepare the closure, check that a resubmitted reference is the agency's own (the current version
    in ``events`` names its owner), and journal it on raw.agency; the answer echoes what was understood."""
    prepared = await asyncio.to_thread(prepare_road_closure, closure=closure, principal=principal, settings=settings)
    if closure.reference:
        check_owner(existing=await current_version(events, prepared.event.id), principal=principal,
                    reference=closure.reference)
    accepted = await submitter.submit(prepared.event, RAW_AGENCY, on_conflict=prepared.on_conflict)
    await _audit(audit, principal=principal, action="road-closures.submit", target=accepted.event_id,
                 detail={"reference": closure.reference, "status": prepared.event.attributes["status"]})
    u = prepared.understood
    return ClosureAccepted(id=accepted.event_id, duplicate=not accepted.created, road=u.road, from_=u.from_, to=u.to,
                           length_m=u.length_m, closure_status=prepared.event.attributes["status"],
                           windows=closure.windows, timezone=prepared.event.attributes.get("timezone"),
                           lanes=closure.lanes, next_window=NextWindow(start=utc_text(w[0]), end=utc_text(w[1]))
                           if (w := prepared.next_window) else None)


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
                              audit: AuditRepository | None = None, photos: Sequence[StoredPhoto] = (),
                              photo_repository: PhotoRepository | None = None,
                              leases: LeaseRepository | None = None) -> InputAccepted:
    """Check that the reference is the agency's own (the current version names its owner), build and check the
    input, and journal it on raw.agency (a resubmitted reference is a new version), holding the item's lease
    (``one_writer``) so a fulfilment recorded meanwhile is not lost.

    ``photos`` (stored by ``feeds.photos``; damage reports) are attached in ``photo_repository`` before it is
    journaled and replace the item's photos; a resubmission without photos keeps the current version's."""
    event_id = input_id(agency_id=agency_id_of(principal=principal), slug=kind.slug, reference=item.reference)
    async with one_writer(leases, item_id=event_id, field="reference"):
        return await _submit_input(kind=kind, item=item, principal=principal, submitter=submitter, events=events,
                                   settings=settings, audit=audit, photos=photos, photo_repository=photo_repository,
                                   event_id=event_id)


async def _submit_input(*, kind: InputKind, item: AgencyInputIn, principal: TokenRecord, submitter: Submitter,
                        events: EventLookup, settings: Settings, audit: AuditRepository | None,
                        photos: Sequence[StoredPhoto], photo_repository: PhotoRepository | None,
                        event_id: str) -> InputAccepted:
    existing = await current_version(events, event_id)
    check_owner(existing=existing, principal=principal, reference=item.reference, what=kind.title)
    prepared = await asyncio.to_thread(prepare_agency_input, kind=kind, item=item, principal=principal,
                                       settings=settings, existing=existing)
    refs = [p.ref() for p in photos] or (existing.attributes.get("photos") if existing is not None else None)
    if photos:
        if photo_repository is None:
            raise TypeError("submit_agency_input with photos needs the photo repository")
        await attach_photos(photos=photos, owner_id=event_id, repository=photo_repository)
    if refs:
        event = prepared.event
        prepared = PreparedInput(event.model_copy(update={"attributes": {**event.attributes, "photos": refs}}),
                                 prepared.answer.model_copy(update={"understood": {**prepared.answer.understood,
                                                                                   "photos": refs}}))
    accepted = await submitter.submit(prepared.event, RAW_AGENCY, on_conflict="append")
    await _audit(audit, principal=principal, action=f"{kind.path}.submit", target=event_id,
                 detail={"reference": item.reference, "status": prepared.answer.item_status})
    return prepared.answer.model_copy(update={"duplicate": not accepted.created})


async def _own(*, event_id: str, reference: str, what: str, principal: TokenRecord, events: EventLookup) -> Envelope:
    """The current version of the agency's own item (accepted, on the map or not yet); NotFound / Forbidden naming
    ``reference``."""
    existing = await current_version(events, event_id)
    if existing is None:
        raise NotFound("reference", f"no {what} {reference} of {agency_of(principal=principal)}")
    check_owner(existing=existing, principal=principal, reference=reference, what=what)
    return existing


async def end_agency_input(*, kind: InputKind | None, reference: str, principal: TokenRecord, submitter: Submitter,
                           events: EventLookup, audit: AuditRepository | None = None,
                           leases: LeaseRepository | None = None) -> InputAccepted:
    """Record the agency's item as ended (``kind.ended_status``; a road closure when ``kind`` is None:
    reopened), so it leaves open maps; ending an ended item again changes nothing. An item accepted but not
    on the map yet is ended too (its end is journaled after it, so the map never shows it open)."""
    agency_id = agency_id_of(principal=principal)
    if kind is None:
        event_id, what, status = closure_id(agency_id=agency_id, reference=reference), "closure", "reopened"
    else:
        event_id, what, status = input_id(agency_id=agency_id, slug=kind.slug, reference=reference), kind.title, \
            kind.ended_status
    async with one_writer(leases, item_id=event_id, field="reference"):
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
                                   audit: AuditRepository | None = None,
                                   leases: LeaseRepository | None = None) -> InputAccepted:
    """The cheap, frequent update: a shelter's occupancy (at most its capacity) and status, as a new version of
    the current one (under the item's lease: a resubmission meanwhile is not undone)."""
    event_id = input_id(agency_id=agency_id_of(principal=principal), slug=SHELTERS.slug, reference=reference)
    async with one_writer(leases, item_id=event_id, field="reference"):
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
                                  audit: AuditRepository | None = None,
                                  leases: LeaseRepository | None = None) -> InputAccepted:
    """Another agency fulfils (part of) a resource request, named by its id as the map shows it; the
    request's new version records who delivered how much and its status. Built from the version accepted
    last, under the request's lease: two fulfilments at once, or one right after another, both count."""
    async with one_writer(leases, item_id=request_id, field="request_id"):
        existing = await current_version(events, request_id)
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


BULK_KINDS = ("road-closures", *KINDS)  # what ?kind= accepts
SUBMIT_CHUNK = 500  # journal writes in flight at once (the store group-commits them)


class BulkRow(BaseModel):
    """One row's outcome: its id (accepted) or the field and reason it was refused."""

    row: int
    id: str | None = None
    reference: str | None = None
    duplicate: bool | None = None
    field: str | None = None
    error: str | None = None


class BulkResult(BaseModel):
    """A bulk upload's answer, row by row."""

    kind: str
    format: str
    rows: int
    accepted: int
    rejected: int
    committed: bool = Field(description="false when all_or_nothing refused the file: nothing was journaled")
    ignored_columns: list[str] = Field(description="columns the kind does not read (not stored)")
    results: list[BulkRow]


def read_bulk(*, kind_path: str, data: bytes, settings: Settings, crs: str | None,
              ) -> tuple[str, list[str], list[BulkRow | AgencyInputIn | RoadClosureIn], int]:
    """Read the file (any CRS, to WGS 84) and validate each row as the kind's model (blocking: run in a
    thread): the format, the ignored columns, per row a refusal or the parsed item, and the row count."""
    if kind_path not in BULK_KINDS:
        raise ValidationFailed("kind", f"{kind_path!r} is not one of {', '.join(BULK_KINDS)}", BULK_KINDS)
    fmt, frame = read_table(data, crs=crs)
    if len(frame) > settings.bulk_max_rows:
        raise ValidationFailed("file", f"holds {len(frame)} rows; at most {settings.bulk_max_rows} per upload")
    model = RoadClosureIn if kind_path == "road-closures" else KINDS[kind_path].model
    out: list[BulkRow | AgencyInputIn | RoadClosureIn] = []
    seen: dict[str, int] = {}
    for n, body in enumerate(bulk_rows(frame), start=1):
        item = parse_row(model=model, body=body, row=n)
        ref = getattr(item, "reference", None)
        if isinstance(item, RowError):
            out.append(BulkRow(row=n, reference=_text(body.get("reference")), field=item.field, error=item.message))
        elif not ref:
            out.append(BulkRow(row=n, field="reference", error="is required in a bulk upload (re-uploads update "
                                                                 "by it)"))
        elif ref in seen:
            out.append(BulkRow(row=n, reference=ref, field="reference", error=f"repeats row {seen[ref]}"))
        else:
            seen[ref] = n
            out.append(item)  # type: ignore[arg-type]
    return fmt, ignored_columns(frame, model, fmt), out, len(frame)


def bulk_event_id(*, kind_path: str, reference: str, principal: TokenRecord) -> str:
    """The id a bulk row of ``reference`` is journaled under (closures keep their own id scheme)."""
    agency_id = agency_id_of(principal=principal)
    if kind_path == "road-closures":
        return closure_id(agency_id=agency_id, reference=reference)
    return input_id(agency_id=agency_id, slug=KINDS[kind_path].slug, reference=reference)


def prepare_bulk(*, kind_path: str, items: list[BulkRow | AgencyInputIn | RoadClosureIn], principal: TokenRecord,
                 settings: Settings, existing: dict[str, Envelope | None],
                 ) -> list[BulkRow | PreparedInput | PreparedClosure]:
    """Prepare each parsed row like a single submission (ownership, jurisdiction, event); a refusal names
    the row and the field (blocking: run in a thread). ``existing`` maps event ids to current versions."""
    now = utcnow()
    what = "closure" if kind_path == "road-closures" else KINDS[kind_path].title
    out: list[BulkRow | PreparedInput | PreparedClosure] = []
    for n, item in enumerate(items, start=1):
        if isinstance(item, BulkRow):
            out.append(item)
            continue
        ref = str(item.reference)
        current = existing.get(bulk_event_id(kind_path=kind_path, reference=ref, principal=principal))
        try:
            check_owner(existing=current, principal=principal, reference=ref, what=what)
            if isinstance(item, RoadClosureIn):
                out.append(prepare_road_closure(closure=item, principal=principal, settings=settings, now=now))
            else:
                out.append(prepare_agency_input(kind=KINDS[kind_path], item=item, principal=principal,
                                                settings=settings, existing=current, now=now))
        except RequestRefused as exc:
            out.append(BulkRow(row=n, reference=ref, field=exc.field, error=exc.message))
    return out


async def submit_bulk(*, kind_path: str, data: bytes, principal: TokenRecord, submitter: Submitter,
                      events: EventLookup, settings: Settings, all_or_nothing: bool = False, crs: str | None = None,
                      audit: AuditRepository | None = None,
                      on_progress: Callable[[int], None] | None = None) -> BulkResult:
    """Read, check and journal a file of one kind of agency input; refused rows are named and, with
    ``all_or_nothing``, refuse the whole file. A re-upload of the same references updates them."""
    fmt, ignored, items, total = await asyncio.to_thread(read_bulk, kind_path=kind_path, data=data,
                                                         settings=settings, crs=crs)
    ids = [bulk_event_id(kind_path=kind_path, reference=str(i.reference), principal=principal)
           for i in items if not isinstance(i, BulkRow)]
    existing: dict[str, Envelope | None] = {}
    for start in range(0, len(ids), SUBMIT_CHUNK):
        chunk = ids[start:start + SUBMIT_CHUNK]
        existing.update(zip(chunk, await asyncio.gather(*(current_version(events, i) for i in chunk)), strict=True))
    prepared = await asyncio.to_thread(prepare_bulk, kind_path=kind_path, items=items, principal=principal,
                                       settings=settings, existing=existing)
    refused = [p for p in prepared if isinstance(p, BulkRow)]
    commit = not (all_or_nothing and refused)
    results: list[BulkRow] = []
    for start in range(0, len(prepared), SUBMIT_CHUNK):
        chunk = prepared[start:start + SUBMIT_CHUNK]
        todo = [(i, p) for i, p in enumerate(chunk, start=start + 1) if not isinstance(p, BulkRow)]
        accepted = await asyncio.gather(*(
            submitter.submit(p.event, RAW_AGENCY, on_conflict="append") for _, p in todo)) if commit else []
        by_row = {i: a for (i, _), a in zip(todo, accepted, strict=False)}
        for i, p in enumerate(chunk, start=start + 1):
            if isinstance(p, BulkRow):
                results.append(p)
            else:
                a = by_row.get(i)
                results.append(BulkRow(row=i, id=p.event.id, reference=p.event.attributes.get("reference"),
                                       duplicate=(not a.created) if a is not None else None))
        if on_progress is not None:
            on_progress(start + len(chunk))
    n_ok = total - len(refused)
    if commit:
        await _audit(audit, principal=principal, action=f"{kind_path}.bulk", target=None,
                     detail={"format": fmt, "rows": total, "accepted": n_ok, "rejected": len(refused)})
    return BulkResult(kind=kind_path, format=fmt, rows=total, accepted=n_ok if commit else 0, rejected=len(refused),
                      committed=commit, ignored_columns=ignored, results=results)


def _text(value: object) -> str | None:
    return None if value is None else str(value)[:100]


async def _audit(audit: AuditRepository | None, *, principal: TokenRecord, action: str, target: str | None,
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
