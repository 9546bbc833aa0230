"""The registry's paths: register (an officer), read (an officer, audited), an issued alert → check-ins and the
tasking list, a check-in answer, and silence past the due time → a needs-help report through the citizen intake.

Nothing of a registrant leaves through a topic: the check-in messages are ``Notice`` jobs naming
``registrant:<id>`` and a channel id (``alerts.delivery.notices``); the needs-help report carries the category,
a rounded point and a text without name or needs (``service.needs_help_report``). Log lines carry ids and counts.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaProducer

from alerts.delivery.fanout import alert_languages, alert_version
from alerts.delivery.models import ChannelType, priority
from alerts.delivery.notices import GetProducer, Notice, run_rounds, send_notices
from alerts.push import delivery_area, is_active
from alerts.registry.models import (
    AuditItem,
    CheckinOut,
    Outreach,
    Registrant,
    RegistrantIn,
    RegistrantPatch,
    Tasking,
)
from alerts.registry.repository import REGISTRY, RegistryRepository
from alerts.registry.service import (
    CAREGIVER_CHANNEL,
    CONFIRM_PRIORITY,
    CONFIRM_VALID,
    PERSON_PREFIX,
    SOURCE_TYPE,
    TASKING_ORDER,
    activated,
    caregiver_confirm_key,
    caregiver_reachable,
    caregiver_token_registrant,
    caregiver_token_valid,
    carried_caregiver,
    covered,
    locate,
    needs_help_report,
    new_registrant_id,
    notice_key,
    outreach_for,
    parse_caregiver,
    parse_channels_for_registry,
    parse_consent,
    parse_language,
    parse_needs,
    read_token,
    report_event_id,
    status_of,
    tasking,
    with_opt_out,
)
from emergency.auth.models import TokenRecord
from emergency.auth.tokens import token_id
from emergency.config import Settings
from emergency.errors import Conflict, Forbidden, NotFound
from emergency.events import Envelope, Kind, utcnow
from emergency.store.base import Store
from feeds.citizen.service import submit_report, tracking_url
from feeds.intake import Intake

if TYPE_CHECKING:  # the self-service PATCH, applied by ``patched`` too
    from alerts.registry.selfservice.models import RegistrationPatch

log = logging.getLogger(__name__)
ERASE_EVERY_S = 60.0      # how often the timer looks for self-registrations left unconfirmed


def repository(store: Store) -> RegistryRepository:
    """The store's registry repository."""
    return store.repository(REGISTRY)


async def register(*, store: Store, intake: Intake, payload: RegistrantIn, principal: TokenRecord) -> Registrant:
    """A new registrant entered by an officer: every field validated, the address placed (or 422)."""
    now = utcnow()
    consent_at = parse_consent(payload.consent, now=now)
    needs = parse_needs(payload.needs)
    language = parse_language(language=payload.language, needs=needs)
    channels = parse_channels_for_registry(payload.channels, now=now)
    caregiver = parse_caregiver(payload.caregiver)
    where = await asyncio.to_thread(locate, address=payload.address, lat=payload.lat, lon=payload.lon,
                                    geocoder=intake.geocoder)
    reg = Registrant(id=new_registrant_id(), name=payload.name.strip(), lat=where.lat, lon=where.lon,
                     location_label=where.label, geo_precision=where.geo_precision, needs=needs, language=language,
                     channels=channels, caregiver=caregiver, consent_at=consent_at, created_at=now,
                     created_by=token_id(principal.token_hash))
    await repository(store).create(reg)
    if caregiver is not None and caregiver.phone is not None:  # the timer loop texts them a confirmation link
        await repository(store).request_confirmation(reg.id)
    await audit(store=store, principal=principal, action="registrants.create", entries=[reg.id])
    log.info("registry: registrant %s created", reg.id)
    return reg


async def patched(*, old: Registrant, payload: RegistrantPatch | RegistrationPatch, intake: Intake, now: datetime,
                  confirmed: bool) -> tuple[dict[str, Any], bool]:
    """The changes a PATCH makes to an entry — each field given replaced, validated as a new entry's (contacts
    given again keep their id, confirmation and STOP; new ones confirmed when an officer gives them, else each
    with its code) — and whether a new caregiver phone is to be asked to confirm."""
    given = payload.model_fields_set
    changes: dict[str, Any] = {"version": old.version + 1, "updated_at": now}
    if payload.name is not None:
        changes["name"] = payload.name.strip()
    needs = parse_needs(payload.needs) if payload.needs is not None else old.needs
    changes["needs"] = needs
    if "language" in given or payload.needs is not None:
        changes["language"] = parse_language(language=payload.language if "language" in given else old.language,
                                             needs=needs)
    if payload.channels is not None:
        channels = parse_channels_for_registry(payload.channels, now=now, confirmed=confirmed, existing=old.channels)
        changes["channels"], changes["status"] = channels, status_of(channels)
    ask = False
    if "caregiver" in given:
        changes["caregiver"], ask = carried_caregiver(old=old.caregiver, new=parse_caregiver(payload.caregiver))
    if payload.address is not None or payload.lat is not None or payload.lon is not None:
        where = await asyncio.to_thread(locate, address=payload.address, lat=payload.lat, lon=payload.lon,
                                        geocoder=intake.geocoder)
        changes.update(lat=where.lat, lon=where.lon, location_label=where.label, geo_precision=where.geo_precision)
    return changes, ask


async def update(*, store: Store, intake: Intake, registrant_id: str, payload: RegistrantPatch,
                 principal: TokenRecord) -> Registrant:
    """An officer corrects an entry: each field given replaced (validated as a new entry's), ``version`` checked
    (409 naming ``version``), audited as ``registrants.update``. A new caregiver phone is asked to confirm."""
    repo = repository(store)
    old = await repo.get(registrant_id)
    if old is None:
        raise NotFound("registrant_id", "no such registrant")
    if payload.version is not None and payload.version != old.version:
        raise Conflict("version", f"the entry is at version {old.version} now: read it again, then change it")
    now = utcnow()
    changes, ask = await patched(old=old, payload=payload, intake=intake, now=now, confirmed=True)
    if payload.consent is not None:
        changes["consent_at"] = parse_consent(payload.consent, now=now)
    new = old.model_copy(update=activated(old=old, update=changes, now=now))
    if not await repo.save(new, expected_version=old.version):
        raise Conflict("version", "the entry was changed at the same time: read it again, then change it")
    if ask:  # the timer loop texts the new phone its confirmation link
        await repo.request_confirmation(new.id)
    await audit(store=store, principal=principal, action="registrants.update", entries=[new.id])
    log.info("registry: registrant %s updated (version %d)", new.id, new.version)
    return new


async def audit(*, store: Store, principal: TokenRecord, action: str, entries: list[str],
                alert_id: str | None = None) -> None:
    """Record who read (or wrote) which entries, and when."""
    await repository(store).audit(AuditItem(at=utcnow(), actor=principal.name, actor_token=token_id(principal.token_hash),
                                            action=action, alert_id=alert_id, entries=entries))


async def read(*, store: Store, registrant_id: str, principal: TokenRecord) -> Registrant:
    """One registrant (audited)."""
    reg = await repository(store).get(registrant_id)
    if reg is None:
        raise NotFound("registrant_id", "no such registrant")
    await audit(store=store, principal=principal, action="registrants.read", entries=[reg.id])
    return reg


async def page(*, store: Store, after: str | None, limit: int, principal: TokenRecord) -> tuple[int, list[Registrant]]:
    """A page of registrants in id order (audited: the ids answered)."""
    repo = repository(store)
    items = await repo.page(after=after, limit=limit)
    await audit(store=store, principal=principal, action="registrants.list", entries=[r.id for r in items])
    return await repo.count(), items


async def erase(*, store: Store, registrant_id: str, principal: TokenRecord) -> None:
    """Erase a registrant (consent withdrawn)."""
    if not await repository(store).delete(registrant_id):
        raise NotFound("registrant_id", "no such registrant")
    await audit(store=store, principal=principal, action="registrants.delete", entries=[registrant_id])


async def alert_tasking(*, store: Store, alert_id: str, principal: TokenRecord, action: str) -> Tasking:
    """The tasking list of an alert (audited: every registrant on it)."""
    repo = repository(store)
    rows = await repo.for_alert(alert_id)
    regs = await repo.many([o.registrant_id for o in rows])
    items = tasking(rows=[(o, regs[o.registrant_id]) for o in rows if o.registrant_id in regs])
    await audit(store=store, principal=principal, action=action, alert_id=alert_id,
                entries=[i.registrant_id for i in items])
    return Tasking(alert_id=alert_id, generated_at=utcnow(), order=TASKING_ORDER, items=items)


# --- an issued alert -------------------------------------------------------------------------------

async def on_alert(*, store: Store, settings: Settings, producer: AIOKafkaProducer, event: Envelope,
                   now: datetime | None = None) -> int:
    """Check-ins for the registrants an issued alert version covers (each once per thread), and their messages;
    how many new check-ins."""
    now = now or utcnow()
    a = event.attributes
    if event.kind is not Kind.alert or "tier" not in a or a.get("msg_type") == "Cancel" or not is_active(event, now):
        return 0
    area = delivery_area(event)
    if area is None:
        return 0
    repo = repository(store)
    inside = covered(area=area, locations=await repo.locations())
    if not inside:
        return 0
    due = now + timedelta(seconds=settings.registry_checkin_timeout_s)
    version = alert_version(event)
    languages = alert_languages(event)
    regs = await repo.many([rid for rid, _ in inside])
    rows = [outreach_for(event=event, version=version, languages=languages, reg=regs[rid], distance_m=dist, now=now,
                         due=due) for rid, dist in inside if rid in regs]
    made = await repo.add_outreach(rows)
    kept = {o.id: o for o in await repo.for_alert(event.id)}
    pending = [kept[o.id] for o in rows if o.id in kept and kept[o.id].state == "awaiting"]
    prio = priority(a["tier"], a.get("severity"))
    expires = datetime.fromisoformat(a["expires"]) if a.get("expires") else due
    for o in pending:  # a re-run (a crash before the commit) sends only what the ledger has not sent
        reg = regs[o.registrant_id]
        notices = [Notice(thread=f"registry:{o.alert_id}", key=notice_key(o.id), person=f"{PERSON_PREFIX}:{reg.id}",
                          channel_id=c.channel_id, channel=c.channel, priority=prio, expires=max(expires, due))
                   for c in reg.channels if c.confirmed and not c.stopped]  # a changed contact: not yet
        if caregiver_reachable(reg):
            notices.append(Notice(thread=f"registry:{o.alert_id}", key=notice_key(o.id),
                                  person=f"{PERSON_PREFIX}:{reg.id}", channel_id=CAREGIVER_CHANNEL,
                                  channel=ChannelType.sms, priority=prio, expires=max(expires, due)))
        ids = await send_notices(store=store, settings=settings, producer=producer, notices=notices, now=now)
        await repo.set_deliveries(o.id, ids)
    log.info("registry: alert %s covers %d registrants (%d new check-ins)", event.id, len(rows), len(made))
    return len(made)


# --- check-ins -----------------------------------------------------------------------------------

async def check_token(*, store: Store, token: str) -> tuple[Outreach, str, str]:
    """The check-in, the answer a signed token stands for and who answers (registrant, caregiver); 403 ``token``
    for a bad signature."""
    repo = repository(store)
    try:
        oid, state, by = read_token(key=await repo.key(), token=token)
    except PermissionError:
        raise Forbidden("token", "this check-in link is not valid") from None
    found = await repo.outreach(oid)
    if found is None:
        raise NotFound("token", "this check-in is no longer kept")
    return found, state, by


async def open_report(*, store: Store, intake: Intake, outreach: Outreach, silent: bool, base_url: str) -> str | None:
    """The needs-help report of a check-in through the citizen intake (journaled, correlated); its id, or None
    when the registrant was erased meanwhile."""
    reg = await repository(store).get(outreach.registrant_id)
    if reg is None:
        return None
    accepted = await submit_report(intake=intake, report=needs_help_report(reg=reg, outreach=outreach, silent=silent),
                                   event_id=report_event_id(outreach.id), source_type=SOURCE_TYPE, now=utcnow(),
                                   base_url=base_url)
    return accepted.id


async def _audit_answer(*, store: Store, outreach: Outreach, state: str, by: str) -> None:
    """The registry audit records who answered a check-in (the registrant, their caregiver, or the timer)."""
    actor = {"registrant": "the registrant (check-in link)", "caregiver": "the caregiver (check-in link)"}.get(
        by, "the check-in timer (no answer in time)")
    await repository(store).audit(AuditItem(at=utcnow(), actor=actor, actor_token=by, action=f"checkin.{state}",
                                            alert_id=outreach.alert_id, entries=[outreach.registrant_id]))


async def check_in(*, store: Store, intake: Intake, token: str, base_url: str) -> CheckinOut:
    """Record "I am safe" or "I need help" (idempotent), by the registrant or by their caregiver for them (the
    audit says who); "need help" opens the needs-help report."""
    found, state, by = await check_token(store=store, token=token)
    repo = repository(store)
    now = utcnow()
    if state == "safe":
        done = await repo.answer(found.id, state="safe", at=now, report_id=None, only_from=("awaiting", "safe"), by=by)
        if done is not None:
            await _audit_answer(store=store, outreach=found, state="safe", by=by)
        current = done or await repo.outreach(found.id) or found
        return CheckinOut(state=current.state, report_id=current.report_id,
                          tracking_url=tracking_url(base_url=base_url, report_id=current.report_id)
                          if current.report_id else None)
    report_id = found.report_id or await open_report(store=store, intake=intake, outreach=found, silent=False,
                                                     base_url=base_url)
    done = await repo.answer(found.id, state="need_help", at=now, report_id=report_id,
                             only_from=("awaiting", "safe", "silent", "need_help"), by=by)
    if done is not None:
        await _audit_answer(store=store, outreach=found, state="need_help", by=by)
    current = done or found
    log.info("registry: check-in %s answered need_help by the %s (report %s)", found.id, by, report_id)
    return CheckinOut(state=current.state, report_id=report_id,
                      tracking_url=tracking_url(base_url=base_url, report_id=report_id) if report_id else None)


async def sweep_silent(*, store: Store, intake: Intake, base_url: str, now: datetime | None = None) -> int:
    """Every check-in past its due time without an answer: a needs-help report, state ``silent``. How many."""
    repo = repository(store)
    n = 0
    for o in await repo.due(now or utcnow()):
        report_id = await open_report(store=store, intake=intake, outreach=o, silent=True, base_url=base_url)
        if await repo.answer(o.id, state="silent", at=utcnow(), report_id=report_id, only_from=("awaiting",),
                             by="timer"):
            await _audit_answer(store=store, outreach=o, state="silent", by="timer")
            n += 1
            log.info("registry: check-in %s silent past its due time (report %s)", o.id, report_id)
    return n


async def erase_unconfirmed(*, store: Store, settings: Settings, now: datetime | None = None) -> int:
    """Self-registrations none of whose contacts was confirmed within ``EMERGENCY_REGISTRY_UNCONFIRMED_TTL_S``:
    erased with their personal data (nobody vouched for them: they may be someone else's contacts); the trail
    keeps each id. How many."""
    before = (now or utcnow()) - timedelta(seconds=settings.registry_unconfirmed_ttl_s)
    gone = await repository(store).erase_unconfirmed(created_before=before)
    if gone:
        await repository(store).audit(AuditItem(
            at=utcnow(), actor="the registry timer (never confirmed in time)", actor_token="timer",
            action="registrations.expire", entries=gone))
        log.info("registry: %d self-registration(s) never confirmed erased: %s", len(gone), ", ".join(gone))
    return len(gone)


async def send_confirmations(*, store: Store, settings: Settings, producer: AIOKafkaProducer,
                             now: datetime | None = None) -> int:
    """The caregivers' confirmation requests still to send: one sms Notice each (the ledger keeps a re-run from
    sending twice), then the request row is gone. How many were sent."""
    now = now or utcnow()
    repo = repository(store)
    n = 0
    for rid in await repo.confirmations_due():
        reg = await repo.get(rid)
        cg = reg.caregiver if reg is not None else None
        if cg is not None and cg.phone is not None and cg.confirmed_at is None and not cg.stopped:
            await send_notices(store=store, settings=settings, producer=producer, now=now, notices=[
                Notice(thread=f"registry-caregiver:{rid}", key=caregiver_confirm_key(registrant_id=rid, version=reg.version),
                       person=f"{PERSON_PREFIX}:{rid}",
                       channel_id=CAREGIVER_CHANNEL, channel=ChannelType.sms, priority=CONFIRM_PRIORITY,
                       expires=now + CONFIRM_VALID)])
            n += 1
        await repo.confirmation_sent(rid)
    if n:
        log.info("registry: %d caregiver confirmation request(s) sent", n)
    return n


async def caregiver_of_token(*, store: Store, token: str) -> Registrant:
    """The registrant whose caregiver a confirmation token stands for; 403 ``token`` when it is not (any more)
    valid (a forged signature, or the caregiver's phone changed), 404 when the registrant was erased."""
    repo = repository(store)
    reg = await repo.get(caregiver_token_registrant(token))
    if reg is None:
        raise NotFound("token", "this registration is no longer kept")
    if not caregiver_token_valid(key=await repo.key(), token=token, reg=reg):
        raise Forbidden("token", "this confirmation link is not valid")
    return reg


async def confirm_caregiver(*, store: Store, token: str) -> Registrant:
    """The caregiver opened their link and agreed: from now on they get the registrant's check-ins (idempotent;
    the registry audit records it)."""
    reg = await caregiver_of_token(store=store, token=token)
    cg = reg.caregiver
    assert cg is not None
    if cg.confirmed_at is not None:
        return reg
    reg = reg.model_copy(update={"caregiver": cg.model_copy(update={"confirmed_at": utcnow()})})
    await repository(store).replace(reg)
    await repository(store).audit(AuditItem(at=utcnow(), actor="the caregiver (confirmation link)",
                                            actor_token="caregiver", action="caregiver.confirm", entries=[reg.id]))
    log.info("registry: the caregiver of %s confirmed their phone", reg.id)
    return reg


async def set_number_opt_out(*, store: Store, number: str, stopped: bool) -> int:
    """SMS STOP (``stopped``) or START from ``number`` (E.164): no check-in or caregiver message goes to it any
    more (or again), recorded in the registry audit (the registry's journal: nothing of it goes on a topic). How
    many registrants changed."""
    repo = repository(store)
    changed = []
    for reg in await repo.with_number(number):
        new = with_opt_out(reg, number=number, stopped=stopped)
        if new != reg:
            await repo.replace(new)
            changed.append(reg.id)
    if changed:
        await repo.audit(AuditItem(at=utcnow(), actor="sms reply " + ("STOP" if stopped else "START"),
                                   actor_token="sms", action="sms.stop" if stopped else "sms.start",
                                   entries=changed))
        log.info("registry: sms %s for %d registrant(s)", "STOP" if stopped else "START", len(changed))
    return len(changed)


async def run_timer(*, store: Store, intake: Intake, settings: Settings, bootstrap: str, base_url: str) -> None:
    """The registry's timer: every ``EMERGENCY_NOTICE_TIMER_S`` seconds, the check-ins past their due time and the
    caregivers' confirmation requests (both rows: a restart loses none); every minute, the self-registrations
    left unconfirmed too long."""

    erased_at = [float("-inf")]

    async def step(producer: GetProducer) -> None:
        await sweep_silent(store=store, intake=intake, base_url=base_url)
        await send_confirmations(store=store, settings=settings, producer=await producer())
        if asyncio.get_running_loop().time() - erased_at[0] >= ERASE_EVERY_S:  # a read of every pending entry
            await erase_unconfirmed(store=store, settings=settings)
            erased_at[0] = asyncio.get_running_loop().time()

    await run_rounds(settings=settings, bootstrap=bootstrap, name="registry check-in timer", step=step)
