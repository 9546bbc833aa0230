"""The paths of the reporter's status messages: a report with a contact seen by the ``reporter-updates`` consumer
group → its state row (and the confirmation message, once); its incident changing → a new status version, sent
through the alert delivery path as a ``Notice`` (``alerts.delivery.notices``: ledger row first, unique per
(report, version), then the job and its receipts) when the rate bound allows, else by the timer; the reporter's
code → confirmed; STOP from a number or a mail's unsubscribe link → no more messages to that contact.

Order for crashes: the message is queued (ledger, idempotent) before the row says it was, so a re-run after a
crash queues it again and the ledger sends it once. Log lines carry report ids and counts, never a contact.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from aiokafka import AIOKafkaProducer

from alerts.delivery.models import ChannelType, Contact, DeliveryJob, Rendered
from alerts.delivery.notices import Notice, send_notices
from alerts.subscriptions.repository import SUBSCRIPTIONS
from alerts.subscriptions.service import sig_matches, unsubscribe_sig
from emergency.config import Settings
from emergency.errors import Forbidden, NotFound
from emergency.events import Envelope, Kind, utcnow
from emergency.store.base import Store
from emergency.stream.producer import start_producer, stop_producer
from feeds.citizen.contacts import CONTACTS, ReporterContact
from feeds.citizen.service import tracking_url
from feeds.citizen.updates.models import Updates
from feeds.citizen.updates.repository import UPDATES, UpdatesRepository, contact_hash
from feeds.citizen.updates.service import (
    CONFIRM_CHANNEL,
    STATUS_CHANNEL,
    advance,
    check_code,
    confirm_key,
    confirmation_message,
    first_updates,
    parse_key,
    person,
    refusal,
    report_of,
    schedule,
    snapshot_of,
    status_key,
    status_message,
)

log = logging.getLogger(__name__)
NOTICE_TTL = timedelta(hours=24)  # a message's sends are retried this long
PRIORITY = 4  # the public-safety class: behind every alert
RECHECK = timedelta(minutes=2)  # a version taken for queueing is queued again after this when the mark is missing
NOT_FOUND = "no such report, or it has no contact waiting for confirmation"


def repository(store: Store) -> UpdatesRepository:
    return store.repository(UPDATES)


def _channel(contact: ReporterContact) -> ChannelType:
    return ChannelType.sms if contact.kind == "sms" else ChannelType.email


async def _stopped(store: Store, contact: ReporterContact) -> bool:
    return await repository(store).opted_out(contact_hash(contact.kind, contact.address))


async def _queue(*, store: Store, settings: Settings, producer: AIOKafkaProducer, contact: ReporterContact,
                 key: str, channel_id: str, now: datetime) -> None:
    notice = Notice(thread=person(contact.report_id), key=key, person=person(contact.report_id),
                    channel_id=channel_id, channel=_channel(contact), priority=PRIORITY, expires=now + NOTICE_TTL)
    await send_notices(store=store, settings=settings, producer=producer, notices=[notice], now=now)


async def on_report(*, store: Store, settings: Settings, producer: AIOKafkaProducer, event: Envelope) -> bool:
    """A citizen report on ``cop.incidents``: when it has a contact, its state row (once) and, unless confirmed by
    how it came, its confirmation message (once: the ledger). Whether a confirmation was queued."""
    if not (event.attributes.get("private") or {}).get("reporter"):
        return False  # given without a contact: nothing to look up
    contact = await store.repository(CONTACTS).get(event.id)
    if contact is None:
        return False
    now = utcnow()
    repo = repository(store)
    await repo.add(first_updates(contact=contact, source_type=event.source.type, now=now))
    u = await repo.get(event.id)
    if u is None or u.confirmed or u.code is None or await _stopped(store, contact):
        return False
    await _queue(store=store, settings=settings, producer=producer, contact=contact, key=confirm_key(event.id),
                 channel_id=CONFIRM_CHANNEL, now=now)
    log.info("reporter updates: confirmation queued for report %s", event.id)
    return True


async def flush(*, store: Store, settings: Settings, producer: AIOKafkaProducer, u: Updates, now: datetime) -> bool:
    """Queue the latest status version of ``u`` when it is due; whether it was.

    The row is taken first (compare-and-set: of the worker and the timer only one queues a version) with a
    re-check time, then the message is queued (the ledger keeps it once), then the re-check is cleared: a crash
    between the two leaves the re-check, and the timer queues the same version again (sent once, by the ledger).
    """
    if u.due_at is None or u.due_at > now:
        return False
    repo = repository(store)
    contact = await store.repository(CONTACTS).get(u.report_id)
    if contact is None or not u.confirmed or u.version == 0 or await _stopped(store, contact):
        await repo.save(u.model_copy(update={"due_at": None}))
        return False
    taken = u.model_copy(update={"sent_version": u.version, "due_at": now + RECHECK,
                                 "sent_at": now if u.version > u.sent_version else u.sent_at})
    if not await repo.save(taken):
        return False  # changed meanwhile (a newer version, a confirmation, the other flusher): looked at again
    await _queue(store=store, settings=settings, producer=producer, contact=contact,
                 key=status_key(u.report_id, u.version), channel_id=STATUS_CHANNEL, now=now)
    await repo.save(taken.model_copy(update={"rev": taken.rev + 1, "due_at": None}))
    log.info("reporter updates: report %s status version %d queued", u.report_id, u.version)
    return True


async def on_incident(*, store: Store, settings: Settings, producer: AIOKafkaProducer, event: Envelope) -> int:
    """An incident on ``cop.incidents``: a new status version for each of its reports with a contact whose public
    status changed; those due are queued. How many were queued."""
    rids = [r for r in event.attributes.get("report_ids") or [] if isinstance(r, str)]
    if event.attributes.get("status") == "duplicate" or not rids:
        return 0
    now = utcnow()
    snapshot = snapshot_of(event, at=now)
    repo = repository(store)
    queued = 0
    for rid, u in (await repo.known(rids)).items():
        for _ in range(3):  # a concurrent change (a confirmation): read again
            new = advance(u, snapshot=snapshot, interval_s=settings.reporter_update_interval_s, now=now)
            if new is None:
                break
            if await repo.save(new):
                new = new.model_copy(update={"rev": new.rev + 1})
                queued += await flush(store=store, settings=settings, producer=producer, u=new, now=now)
                break
            u = await repo.get(rid) or u
    return queued


async def process(*, store: Store, settings: Settings, producer: AIOKafkaProducer, events: list[Envelope]) -> None:
    """One batch of ``cop.incidents``: reports first, then the latest state of each incident only (coalesced)."""
    latest: dict[str, Envelope] = {}
    for event in events:
        if event.kind is Kind.citizen_report:
            await on_report(store=store, settings=settings, producer=producer, event=event)
        elif event.kind is Kind.incident:
            latest[event.id] = event
    for event in latest.values():
        await on_incident(store=store, settings=settings, producer=producer, event=event)


async def sweep(*, store: Store, settings: Settings, producer: AIOKafkaProducer, now: datetime | None = None) -> int:
    """Queue every status message whose time has come (held back by the rate bound, or confirmed since)."""
    now = now or utcnow()
    sent = 0
    for u in await repository(store).due(now):
        sent += await flush(store=store, settings=settings, producer=producer, u=u, now=now)
    return sent


async def run_timer(*, store: Store, settings: Settings, bootstrap: str) -> None:
    """The timer of held-back messages: every ``EMERGENCY_NOTICE_TIMER_S``, the due rows."""
    producer: AIOKafkaProducer | None = None
    try:
        while True:
            try:
                if producer is None:
                    producer = await start_producer(settings, bootstrap)
                await sweep(store=store, settings=settings, producer=producer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store or the broker is down: the rows wait for the next round
                log.warning("reporter updates timer: %s", exc or type(exc).__name__)
            await asyncio.sleep(settings.notice_timer_s)
    finally:
        if producer is not None:
            await stop_producer(producer)


# --- the reporter's own actions -----------------------------------------------------------------

async def confirm(*, store: Store, settings: Settings, report_id: str, code: str) -> Updates:
    """Check the reporter's code; once confirmed, a status change seen before is due at once (the timer sends
    it). NotFound for a report without a contact row; ValidationFailed naming ``code`` otherwise."""
    repo = repository(store)
    for _ in range(3):
        u = await repo.get(report_id)
        if u is None:
            raise NotFound("report_id", NOT_FOUND)
        if u.confirmed:
            return u
        checked = check_code(u, code=code, now=utcnow())
        if checked.confirmed:
            checked = schedule(checked, interval_s=settings.reporter_update_interval_s, now=utcnow())
        if await repo.save(checked):
            if not checked.confirmed:
                raise refusal(checked)
            log.info("reporter updates: report %s contact confirmed", report_id)
            return checked
    raise NotFound("report_id", NOT_FOUND)


async def _key(store: Store) -> bytes:
    return await store.repository(SUBSCRIPTIONS).unsubscribe_key()


def unsubscribe_url(*, public_url: str, key: bytes, report_id: str) -> str:
    """The one-click unsubscribe link (RFC 8058) of a report's status mails."""
    sig = unsubscribe_sig(key=key, subscription_id=person(report_id), channel_id=STATUS_CHANNEL)
    return f"{tracking_url(base_url=public_url, report_id=report_id).replace('/r/', '/api/v1/reports/', 1)}" \
           f"/unsubscribe?sig={sig}"


async def check_sig(*, store: Store, report_id: str, sig: str) -> None:
    """Forbidden (``sig``) unless ``sig`` signs this report's unsubscribe link."""
    if not sig_matches(key=await _key(store), subscription_id=person(report_id), channel_id=STATUS_CHANNEL, sig=sig):
        raise Forbidden("sig", "this unsubscribe link is not valid")


async def unsubscribe(*, store: Store, report_id: str, sig: str) -> None:
    """Stop status messages to the contact of the report whose link ``sig`` signs (Forbidden otherwise)."""
    await check_sig(store=store, report_id=report_id, sig=sig)
    contact = await store.repository(CONTACTS).get(report_id)
    if contact is not None:
        await repository(store).set_opt_out(contact_hash(contact.kind, contact.address), True, utcnow())
        log.info("reporter updates: the contact of report %s unsubscribed", report_id)


async def set_number_opt_out(*, store: Store, number: str, stopped: bool) -> None:
    """STOP (START) from an SMS number: stop (restart) the status messages of every report from that number."""
    await repository(store).set_opt_out(contact_hash("sms", number), stopped, utcnow())


class ReporterOwner:
    """The delivery path's owner of ``reporter:<report id>`` people (``RoutedDirectory``): their contact and the
    text of their messages, read just before the send."""

    def __init__(self, *, store: Store, public_url: str) -> None:
        self.store, self.public_url = store, public_url

    async def _state(self, subscription_id: str) -> tuple[ReporterContact, Updates] | None:
        rid = report_of(subscription_id)
        contact = await self.store.repository(CONTACTS).get(rid) if rid else None
        u = await repository(self.store).get(rid) if contact is not None else None
        if contact is None or u is None or await _stopped(self.store, contact):
            return None
        return contact, u

    async def contact(self, subscription_id: str, channel_id: str, *, pending: bool = False) -> Contact | None:
        found = await self._state(subscription_id)
        if found is None:
            return None
        contact, u = found
        if channel_id == CONFIRM_CHANNEL and (u.confirmed or u.code is None):
            return None
        if channel_id == STATUS_CHANNEL and not u.confirmed:
            return None
        link = unsubscribe_url(public_url=self.public_url, key=await _key(self.store), report_id=u.report_id) \
            if contact.kind == "email" else None
        return Contact(subscription_id=subscription_id, channel_id=channel_id, channel=_channel(contact),
                       address=contact.address if contact.kind == "email" else None,
                       number=contact.address if contact.kind == "sms" else None, unsubscribe_url=link)

    async def notice(self, job: DeliveryJob) -> Rendered | None:
        parsed = parse_key(job.alert_version)
        found = await self._state(job.subscription_id) if parsed else None
        if parsed is None or found is None:
            return None
        kind, rid, version = parsed
        contact, u = found
        link = tracking_url(base_url=self.public_url, report_id=rid)
        sms = contact.kind == "sms"
        if kind == "confirm":
            return None if u.code is None else confirmation_message(code=u.code, language=contact.language,
                                                                    link=link, sms=sms)
        if version != u.version:
            return None  # superseded while it waited: only the latest state goes out (coalesced)
        return status_message(snapshot=u.status, language=contact.language, link=link, sms=sms)
