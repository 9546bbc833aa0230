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

from aiokafka import AIOKafkaProducer

from alerts.delivery.fanout import alert_version
from alerts.delivery.models import priority
from alerts.delivery.notices import Notice, send_notices
from alerts.push import delivery_area, is_active
from alerts.registry.models import AuditItem, CheckinOut, Outreach, Registrant, RegistrantIn, Tasking
from alerts.registry.repository import REGISTRY, RegistryRepository
from alerts.registry.service import (
    PERSON_PREFIX,
    SOURCE_TYPE,
    TASKING_ORDER,
    covered,
    locate,
    needs_help_report,
    new_registrant_id,
    notice_key,
    outreach_id,
    parse_caregiver,
    parse_channels_for_registry,
    parse_consent,
    parse_language,
    parse_needs,
    read_token,
    report_event_id,
    tasking,
)
from emergency.auth.models import TokenRecord
from emergency.auth.tokens import token_id
from emergency.config import Settings
from emergency.errors import Forbidden, NotFound
from emergency.events import Envelope, Kind, utcnow
from emergency.store.base import Store
from feeds.citizen.service import submit_report, tracking_url
from feeds.intake import Intake

log = logging.getLogger(__name__)


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
    await audit(store=store, principal=principal, action="registrants.create", entries=[reg.id])
    log.info("registry: registrant %s created", reg.id)
    return reg


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
    headline = a.get("headline") or event.text or event.id
    version = alert_version(event)
    rows = [Outreach(id=outreach_id(alert_id=event.id, registrant_id=rid), alert_id=event.id, alert_version=version,
                     registrant_id=rid, headline=headline, distance_m=dist, created_at=now, due_at=due)
            for rid, dist in inside]
    made = await repo.add_outreach(rows)
    kept = {o.id: o for o in await repo.for_alert(event.id)}
    pending = [kept[o.id] for o in rows if o.id in kept and kept[o.id].state == "awaiting"]
    regs = await repo.many([o.registrant_id for o in pending])
    prio = priority(a["tier"], a.get("severity"))
    expires = datetime.fromisoformat(a["expires"]) if a.get("expires") else due
    for o in pending:  # a re-run (a crash before the commit) sends only what the ledger has not sent
        reg = regs.get(o.registrant_id)
        if reg is None:
            continue
        notices = [Notice(thread=f"registry:{o.alert_id}", key=notice_key(o.id), person=f"{PERSON_PREFIX}:{reg.id}",
                          channel_id=c.channel_id, channel=c.channel, priority=prio, expires=max(expires, due))
                   for c in reg.channels]
        ids = await send_notices(store=store, settings=settings, producer=producer, notices=notices, now=now)
        await repo.set_deliveries(o.id, ids)
    log.info("registry: alert %s covers %d registrants (%d new check-ins)", event.id, len(rows), len(made))
    return len(made)


# --- check-ins -----------------------------------------------------------------------------------

async def check_token(*, store: Store, token: str) -> tuple[Outreach, str]:
    """The check-in and the answer a signed token stands for; 403 ``token`` for a bad signature."""
    repo = repository(store)
    try:
        oid, state = read_token(key=await repo.key(), token=token)
    except PermissionError:
        raise Forbidden("token", "this check-in link is not valid") from None
    found = await repo.outreach(oid)
    if found is None:
        raise NotFound("token", "this check-in is no longer kept")
    return found, state


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


async def check_in(*, store: Store, intake: Intake, token: str, base_url: str) -> CheckinOut:
    """Record "I am safe" or "I need help" (idempotent); "need help" opens the needs-help report."""
    found, state = await check_token(store=store, token=token)
    repo = repository(store)
    now = utcnow()
    if state == "safe":
        done = await repo.answer(found.id, state="safe", at=now, report_id=None, only_from=("awaiting", "safe"))
        current = done or await repo.outreach(found.id) or found
        return CheckinOut(state=current.state, report_id=current.report_id,
                          tracking_url=tracking_url(base_url=base_url, report_id=current.report_id)
                          if current.report_id else None)
    report_id = found.report_id or await open_report(store=store, intake=intake, outreach=found, silent=False,
                                                     base_url=base_url)
    done = await repo.answer(found.id, state="need_help", at=now, report_id=report_id,
                             only_from=("awaiting", "safe", "silent", "need_help"))
    current = done or found
    log.info("registry: check-in %s answered need_help (report %s)", found.id, report_id)
    return CheckinOut(state=current.state, report_id=report_id,
                      tracking_url=tracking_url(base_url=base_url, report_id=report_id) if report_id else None)


async def sweep_silent(*, store: Store, intake: Intake, base_url: str, now: datetime | None = None) -> int:
    """Every check-in past its due time without an answer: a needs-help report, state ``silent``. How many."""
    repo = repository(store)
    n = 0
    for o in await repo.due(now or utcnow()):
        report_id = await open_report(store=store, intake=intake, outreach=o, silent=True, base_url=base_url)
        if await repo.answer(o.id, state="silent", at=utcnow(), report_id=report_id, only_from=("awaiting",)):
            n += 1
            log.info("registry: check-in %s silent past its due time (report %s)", o.id, report_id)
    return n


async def run_timer(*, store: Store, intake: Intake, interval_s: float, base_url: str) -> None:
    """The check-in timer: every ``interval_s`` seconds, the due rows (they survive restarts: they are rows)."""
    while True:
        try:
            await sweep_silent(store=store, intake=intake, base_url=base_url)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the store or the journal is down: the rows wait for the next round
            log.warning("registry check-in timer: %s", exc or type(exc).__name__)
        await asyncio.sleep(interval_s)
