"""The facilities' paths: manage facilities; an issued alert or a verified incident within a facility's radius →
its first contact notified (a ``Notice`` through the delivery path, with an acknowledgement link); unacknowledged
after ``EMERGENCY_FACILITY_ESCALATION_S`` → the next contact; the dashboard of who was told and who acknowledged.

The acknowledgement is the delivery's own (``POST /api/v1/deliveries/{id}/ack``, the ledger row ``acknowledged``):
the escalation loop and the dashboard read the ledger. Log lines carry ids and counts only.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from aiokafka import AIOKafkaProducer

from alerts.delivery.ledger import DELIVERIES
from alerts.delivery.models import priority
from alerts.delivery.notices import GetProducer, Notice, run_rounds, send_notices
from alerts.facilities.models import (
    DeliveryOut,
    Facility,
    FacilityIn,
    Notification,
    NotificationOut,
    Told,
    ToldOut,
)
from alerts.facilities.repository import FACILITIES, FacilityRepository
from alerts.facilities.service import (
    INCIDENT_PRIORITY,
    OPTED_OUT,
    keep_opt_outs,
    new_facility_id,
    next_contact,
    notice_key,
    notification_id,
    parse_facility,
    person,
    reachable,
    reached_by_area,
    reached_by_point,
    with_opt_out,
)
from alerts.push import delivery_area, is_active
from alerts.subscriptions.service import mask
from emergency.config import Settings
from emergency.errors import NotFound
from emergency.events import Envelope, Kind, utcnow
from emergency.store.base import Store

log = logging.getLogger(__name__)
NOTICE_TTL = timedelta(hours=24)  # a notification's sends are retried this long


def repository(store: Store) -> FacilityRepository:
    """The store's facilities repository."""
    return store.repository(FACILITIES)


async def create(*, store: Store, payload: FacilityIn) -> Facility:
    """A new facility."""
    f = parse_facility(payload, facility_id=new_facility_id(), now=utcnow())
    await repository(store).put(f)
    return f


async def get(*, store: Store, facility_id: str) -> Facility:
    f = await repository(store).get(facility_id)
    if f is None:
        raise NotFound("facility_id", "no such facility")
    return f


async def replace(*, store: Store, facility_id: str, payload: FacilityIn) -> Facility:
    """The facility replaced whole (its id and creation time kept)."""
    old = await get(store=store, facility_id=facility_id)
    f = keep_opt_outs(parse_facility(payload, facility_id=old.id, now=utcnow(), created_at=old.created_at), old)
    await repository(store).put(f)
    return f


async def delete(*, store: Store, facility_id: str) -> None:
    if not await repository(store).delete(facility_id):
        raise NotFound("facility_id", "no such facility")


# --- notify, escalate -----------------------------------------------------------------------------

def notices_for(*, n: Notification, facility: Facility, index: int, now: datetime) -> list[Notice]:
    """The notices to contact ``index`` of the facility (one per channel)."""
    return [Notice(thread=f"facility:{facility.id}", key=notice_key(notification=n.id, contact_index=index),
                   person=person(facility_id=facility.id, contact_index=index), channel_id=c.channel_id,
                   channel=c.channel, priority=n.priority, expires=now + NOTICE_TTL)
            for c in reachable(facility.contacts[index])]


def told(*, n: Notification, notices: list[Notice], index: int, settings: Settings, now: datetime,
         skipped: list[int] = ()) -> Notification:
    """The notification with contact ``index`` told now (the contacts ``skipped`` on the way recorded as passed
    over: they opted out), and its next due time."""
    passed = [Told(contact_index=i, at=now, delivery_ids=[], skipped=OPTED_OUT) for i in skipped]
    return n.model_copy(update={
        "contact_index": index, "told": n.told + passed + [Told(contact_index=index, at=now,
                                                                delivery_ids=[x.delivery_id for x in notices])],
        "due_at": now + timedelta(seconds=settings.facility_escalation_s)})


def nobody_left(*, n: Notification, skipped: list[int], now: datetime) -> Notification:
    """The notification with no contact left to tell: ``unacknowledged``, the contacts passed over recorded."""
    passed = [Told(contact_index=i, at=now, delivery_ids=[], skipped=OPTED_OUT) for i in skipped]
    return n.model_copy(update={"state": "unacknowledged", "told": n.told + passed, "due_at": now})


async def tell(*, store: Store, settings: Settings, producer: AIOKafkaProducer, n: Notification, facility: Facility,
               index: int, now: datetime, skipped: list[int] = ()) -> Notification:
    """Notify contact ``index`` of the facility (the row first: a crash after it re-sends nothing twice, the ledger
    keeps each notice once); the notification as saved."""
    notices = notices_for(n=n, facility=facility, index=index, now=now)
    new = told(n=n, notices=notices, index=index, settings=settings, now=now, skipped=skipped)
    await repository(store).save_notification(new)
    await send_notices(store=store, settings=settings, producer=producer, notices=notices, now=now)
    return new


async def notify(*, store: Store, settings: Settings, producer: AIOKafkaProducer, facilities: list[Facility],
                 cause: str, cause_id: str, headline: str, prio: int, now: datetime | None = None) -> int:
    """A notification for each facility (once per facility and cause), its first contact told; how many new.
    The row is written with the first contact already told and its due time, so the escalation loop never sees
    a notification nobody was told of."""
    now = now or utcnow()
    repo = repository(store)
    made = 0
    for f in facilities:
        blank = Notification(id=notification_id(facility_id=f.id, cause_id=cause_id), facility_id=f.id, cause=cause,
                             cause_id=cause_id, headline=headline, priority=prio, created_at=now, due_at=now)
        first, skipped = next_contact(facility=f, start=0)
        if first is None:  # every contact opted out: the dashboard says so, nobody is pretended told
            if await repo.add_notification(nobody_left(n=blank, skipped=skipped, now=now)):
                made += 1
                log.warning("facilities: notification %s: every contact opted out by SMS STOP", blank.id)
            continue
        notices = notices_for(n=blank, facility=f, index=first, now=now)
        if await repo.add_notification(told(n=blank, notices=notices, index=first, settings=settings, now=now,
                                            skipped=skipped)):
            made += 1
        current = await repo.notification(blank.id)
        if current is not None and current.state == "notified" and current.contact_index == first:
            # new, or a re-run after a crash before the sends: the ledger sends each notice once
            await send_notices(store=store, settings=settings, producer=producer, notices=notices, now=now)
    if facilities:
        log.info("facilities: %s %s reaches %d facilities (%d new notifications)", cause, cause_id, len(facilities),
                 made)
    return made


async def on_alert(*, store: Store, settings: Settings, producer: AIOKafkaProducer, event: Envelope) -> int:
    """An issued alert version: the facilities its area comes within (once per alert thread)."""
    a = event.attributes
    now = utcnow()
    if event.kind is not Kind.alert or "tier" not in a or a.get("msg_type") == "Cancel" or not is_active(event, now):
        return 0
    area = delivery_area(event)
    if area is None:
        return 0
    reached = reached_by_area(area=area, facilities=await repository(store).all())
    return await notify(store=store, settings=settings, producer=producer, facilities=reached, cause="alert",
                        cause_id=event.id, headline=a.get("headline") or event.text or event.id,
                        prio=priority(a["tier"], a.get("severity")), now=now)


async def on_incident(*, store: Store, settings: Settings, producer: AIOKafkaProducer, event: Envelope) -> int:
    """An incident on ``cop.incidents``: once verified, the facilities within their radius of its point."""
    if event.kind is not Kind.incident or event.attributes.get("status") != "verified" or not event.geometry \
            or event.geometry.get("type") != "Point":
        return 0
    lon, lat = event.geometry["coordinates"][:2]
    reached = reached_by_point(lat=lat, lon=lon, facilities=await repository(store).all())
    title = event.attributes.get("title") or (event.category or "incident").replace("_", " ")
    return await notify(store=store, settings=settings, producer=producer, facilities=reached, cause="incident",
                        cause_id=event.id, headline=f"{title} ({event.id})", prio=INCIDENT_PRIORITY)


async def acknowledgement(*, store: Store, n: Notification) -> tuple[datetime, int] | None:
    """When and by which contact the notification was acknowledged (the ledger's acknowledged deliveries)."""
    ledger = store.repository(DELIVERIES)
    for t in n.told:
        for d in t.delivery_ids:
            row = await ledger.get(d)
            if row is not None and row.acknowledged_at is not None:
                return row.acknowledged_at, t.contact_index
    return None


async def sweep(*, store: Store, settings: Settings, producer: AIOKafkaProducer, now: datetime | None = None) -> int:
    """Every notification past its due time: acknowledged meanwhile → recorded; else the next contact told, or
    ``unacknowledged`` when none is left. How many escalated."""
    now = now or utcnow()
    repo = repository(store)
    escalated = 0
    for n in await repo.due(now):
        acked = await acknowledgement(store=store, n=n)
        f = await repo.get(n.facility_id)
        if acked is not None:
            await repo.save_notification(n.model_copy(update={"state": "acknowledged", "acknowledged_at": acked[0],
                                                              "acknowledged_by": acked[1]}))
            continue
        index, skipped = next_contact(facility=f, start=n.contact_index + 1) if f is not None else (None, [])
        if index is None:
            await repo.save_notification(nobody_left(n=n, skipped=skipped, now=now))
            log.warning("facilities: notification %s: no contact acknowledged", n.id)
        else:
            await tell(store=store, settings=settings, producer=producer, n=n, facility=f, index=index, now=now,
                       skipped=skipped)
            escalated += 1
            log.info("facilities: notification %s escalated to contact %d", n.id, index)
    return escalated


async def set_number_opt_out(*, store: Store, number: str, stopped: bool, now: datetime | None = None) -> int:
    """SMS STOP (``stopped``) or START from ``number`` (E.164) for every operator's sms channel on it, recorded on
    the facility (``opt_outs``; the dashboard shows the contact opted out). A STOP from the contact a notification
    waits on, when it leaves them no channel, makes that notification due now: the escalation timer tells the
    next contact at its next round instead of waiting out the escalation time. How many facilities changed."""
    now = now or utcnow()
    repo = repository(store)
    changed = 0
    for f in await repo.all():
        new = with_opt_out(f, number=number, stopped=stopped, now=now)
        if new is f:
            continue
        await repo.put(new)
        changed += 1
        log.info("facilities: facility %s: sms %s", f.id, "STOP" if stopped else "START")
        if not stopped:
            continue
        for n in await repo.open_notifications(f.id):
            if n.contact_index < len(new.contacts) and not reachable(new.contacts[n.contact_index]):
                await repo.save_notification(n.model_copy(update={"due_at": now}))
                log.info("facilities: notification %s: contact %d opted out, escalating now", n.id, n.contact_index)
    return changed


async def run_timer(*, store: Store, settings: Settings, bootstrap: str) -> None:
    """The escalation timer: every ``EMERGENCY_NOTICE_TIMER_S``, the due rows (rows: they survive restarts)."""

    async def step(producer: GetProducer) -> None:
        await sweep(store=store, settings=settings, producer=await producer())

    await run_rounds(settings=settings, bootstrap=bootstrap, name="facilities escalation timer", step=step)


# --- the dashboard ----------------------------------------------------------------------------------

async def dashboard(*, store: Store, limit: int) -> list[NotificationOut]:
    """Who was told, who acknowledged, and when (acknowledgements read live from the ledger)."""
    repo = repository(store)
    ledger = store.repository(DELIVERIES)
    facilities = {f.id: f for f in await repo.all()}
    out = []
    for n in await repo.notifications(limit=limit):
        f = facilities.get(n.facility_id)
        acked = (n.acknowledged_at, n.acknowledged_by) if n.acknowledged_at else await acknowledgement(store=store, n=n)
        told = []
        for t in n.told:
            op = f.contacts[t.contact_index] if f and t.contact_index < len(f.contacts) else None
            channels = {c.channel_id: c for c in op.channels} if op else {}
            deliveries = []
            for d in t.delivery_ids:
                row = await ledger.get(d)
                if row is None:
                    continue
                ch = channels.get(row.channel_id)
                deliveries.append(DeliveryOut(channel=row.channel, contact=mask(ch) if ch else None, state=row.state,
                                              sent_at=row.sent_at, acknowledged_at=row.acknowledged_at))
            told.append(ToldOut(contact_index=t.contact_index, contact_name=op.name if op else "(removed)", at=t.at,
                                deliveries=deliveries, skipped=t.skipped,
                                opted_out=[mask(c) or c.channel_id for c in (op.channels if op else []) if c.stopped]))
        state = "acknowledged" if acked else n.state
        by = acked[1] if acked else None
        out.append(NotificationOut(
            id=n.id, facility_id=n.facility_id, facility_name=f.name if f else "(removed)",
            facility_type=f.type if f else None, cause=n.cause, cause_id=n.cause_id, headline=n.headline, state=state,
            created_at=n.created_at, next_escalation_at=n.due_at if state == "notified" else None, told=told,
            acknowledged_at=acked[0] if acked else None,
            acknowledged_by=(f.contacts[by].name if f and by is not None and by < len(f.contacts) else None)))
    return out
