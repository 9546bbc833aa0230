"""The paths of a self-registration: register (pending, codes sent), confirm a contact (active once every one
is), read / change / withdraw with the management token, and an officer's review.

The codes go out as ``Notice`` jobs through the delivery path (``alerts.delivery.notices``), rendered by the
registry repository just before the send: nothing personal is on a topic. Log lines carry ids only. Every step
is in the registry's audit trail (``registry_audit``): ids, never the personal data; a withdrawal leaves only
its id and date there.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from alerts.delivery.fanout import CONFIRMATION_PRIORITY
from alerts.delivery.notices import Notice, send_notices
from alerts.registry.flows import audit, patched, repository
from alerts.registry.models import AuditItem, Registrant
from alerts.registry.selfservice.models import RegistrationIn, RegistrationPatch
from alerts.registry.selfservice.service import (
    SELF_CREATOR,
    confirm_key,
    consent_at,
    source_of,
)
from alerts.registry.service import (
    PERSON_PREFIX,
    activated,
    locate,
    new_registrant_id,
    parse_caregiver,
    parse_channels_for_registry,
    parse_language,
    parse_needs,
    status_of,
)
from alerts.subscriptions.flows import code_checked
from alerts.subscriptions.models import ConfirmIn, StoredChannel
from alerts.subscriptions.service import CODE_TTL, new_token, token_matches
from emergency.auth.models import TokenRecord
from emergency.auth.tokens import token_id
from emergency.config import Settings
from emergency.errors import Conflict, NotFound
from emergency.events import utcnow
from emergency.store.base import Store
from feeds.intake import Intake

log = logging.getLogger(__name__)
NOT_YOURS = "not found, or the token is not this registration's"
HOLDER = "registrant"  # the audit trail's actor for the registrant's own steps


async def _trail(*, store: Store, action: str, registrant_id: str) -> None:
    """The registrant's own step in the audit trail (the id only)."""
    await repository(store).audit(AuditItem(at=utcnow(), actor=HOLDER, actor_token=SELF_CREATOR, action=action,
                                            entries=[registrant_id]))


async def send_codes(*, store: Store, settings: Settings, producer: Any, reg: Registrant,
                     now: datetime | None = None) -> int:
    """A confirmation notice to each contact still waiting for its code (once per entry version); how many."""
    now = now or utcnow()
    notices = [Notice(thread=f"registry-confirm:{reg.id}",
                      key=confirm_key(registrant_id=reg.id, channel_id=c.channel_id, version=reg.version),
                      person=f"{PERSON_PREFIX}:{reg.id}", channel_id=c.channel_id, channel=c.channel,
                      priority=CONFIRMATION_PRIORITY, expires=now + CODE_TTL)
               for c in reg.channels if not c.confirmed and c.code]
    await send_notices(store=store, settings=settings, producer=producer, notices=notices, now=now)
    return len(notices)


async def register(*, store: Store, intake: Intake, payload: RegistrationIn) -> tuple[Registrant, str]:
    """A new self-registration, pending until its contacts are confirmed: (what was stored, the token shown once)."""
    now = utcnow()
    source = source_of(registered_by=payload.registered_by, caregiver=payload.caregiver)
    consent = consent_at(consent=payload.consent, now=now)
    needs = parse_needs(payload.needs)
    language = parse_language(language=payload.language, needs=needs)
    channels = parse_channels_for_registry(payload.channels, now=now, confirmed=False)
    caregiver = parse_caregiver(payload.caregiver)
    where = await asyncio.to_thread(locate, address=payload.address, lat=payload.lat, lon=payload.lon,
                                    geocoder=intake.geocoder)
    token, token_hash = new_token()
    reg = Registrant(id=new_registrant_id(), name=payload.name.strip(), lat=where.lat, lon=where.lon,
                     location_label=where.label, geo_precision=where.geo_precision, needs=needs, language=language,
                     channels=channels, caregiver=caregiver, consent_at=consent, created_at=now,
                     created_by=SELF_CREATOR, source=source, status=status_of(channels), token_hash=token_hash,
                     updated_at=now)
    await repository(store).create(reg)
    await _trail(store=store, action="registrations.create", registrant_id=reg.id)
    log.info("registry: self-registration %s created (%s), pending confirmation", reg.id, source)
    return reg, token


async def held(*, store: Store, registration_id: str, token: str | None) -> Registrant:
    """The self-registration the token manages; NotFound (the same answer whether it exists or not) otherwise."""
    reg = await repository(store).get(registration_id)
    if reg is None or reg.token_hash is None or not token_matches(token=token, token_hash=reg.token_hash):
        raise NotFound("registration", NOT_YOURS)
    return reg


async def _save(*, store: Store, old: Registrant, new: Registrant) -> Registrant:
    if not await repository(store).save(new, expected_version=old.version):
        raise Conflict("registration", "it was changed at the same time; read it again and retry")
    return new


async def patch(*, store: Store, intake: Intake, registration_id: str, token: str | None,
                payload: RegistrationPatch) -> Registrant:
    """Replace the fields given; a changed contact gets a new code and the entry is pending until it is confirmed."""
    old = await held(store=store, registration_id=registration_id, token=token)
    now = utcnow()
    update, ask = await patched(old=old, payload=payload, intake=intake, now=now, confirmed=False)
    new = await _save(store=store, old=old, new=old.model_copy(update=activated(old=old, update=update, now=now)))
    if ask:  # the registry timer texts the new caregiver phone its confirmation link
        await repository(store).request_confirmation(new.id)
    await _trail(store=store, action="registrations.update", registrant_id=new.id)
    return new


async def confirm(*, store: Store, registration_id: str, token: str | None,
                  payload: ConfirmIn) -> tuple[Registrant, StoredChannel]:
    """Check a contact's code (as subscriptions do: constant time, 5 tries, 24 h); active once every one is."""
    reg = await held(store=store, registration_id=registration_id, token=token)
    done, changed = await code_checked(channels=reg.channels, payload=payload,
                                       count_attempt=lambda cid: repository(store).count_attempt(reg.id, cid))
    if not changed:
        return reg, done
    channels = [done if c.channel_id == done.channel_id else c for c in reg.channels]
    now = utcnow()
    new = await _save(store=store, old=reg, new=reg.model_copy(update=activated(old=reg, now=now, update={
        "version": reg.version + 1, "updated_at": now, "channels": channels, "status": status_of(channels)})))
    await _trail(store=store, action="registrations.confirm", registrant_id=new.id)
    log.info("registry: self-registration %s contact %s confirmed (%s)", new.id, done.channel_id, new.status)
    return new, done


async def withdraw(*, store: Store, registration_id: str, token: str | None) -> None:
    """Consent withdrawn: the entry and every personal datum in it erased; the trail keeps the id and the date."""
    reg = await held(store=store, registration_id=registration_id, token=token)
    await repository(store).delete(reg.id)
    await _trail(store=store, action="registrations.delete", registrant_id=reg.id)
    log.info("registry: self-registration %s withdrawn and erased", reg.id)


async def review(*, store: Store, registrant_id: str, principal: TokenRecord) -> Registrant:
    """An officer marks a self-registration reviewed (audited)."""
    for _ in range(3):  # a concurrent change by the registrant: read again
        reg = await repository(store).get(registrant_id)
        if reg is None:
            raise NotFound("registrant_id", "no such registrant")
        new = reg.model_copy(update={"reviewed_at": utcnow(), "reviewed_by": token_id(principal.token_hash),
                                     "version": reg.version + 1})
        if await repository(store).save(new, expected_version=reg.version):
            await audit(store=store, principal=principal, action="registrants.review", entries=[reg.id])
            return new
    raise Conflict("registrant_id", "it was changed at the same time; try again")
