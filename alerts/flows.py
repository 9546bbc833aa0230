"""Issuing, updating and cancelling an alert: the one sequence the API, the CLI and the demo all run.

Each flow checks the request (``alerts.service``), checks it against the alert's thread
(``alerts.lifecycle``), and journals it through ``submit`` for ``alerts.issued``. Refusals are
``emergency.errors`` domain errors naming the field; callers turn them into a 4xx or a one-line error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from alerts.cap.build import envelope_to_cap, thread_messages
from alerts.lifecycle import LifecycleRegistry
from alerts.models import AlertIn
from alerts.service import (
    authorise_change,
    cancel_event,
    check_expires,
    check_same_tier,
    issued_alert,
    prepare_alert,
    refuse,
    update_event,
    validated_cap,
)
from emergency.auth.models import TokenRecord
from emergency.events import Envelope, new_id, utcnow
from emergency.store.base import Accepted, OnConflict, Store
from emergency.stream.topics import ALERTS_ISSUED


class Submitter(Protocol):
    """Journals an event for a topic (``Runtime.submit``, or a store-only journal for the CLI)."""

    async def __call__(self, event: Envelope, topic: str, *, on_conflict: OnConflict = "keep") -> Accepted: ...


async def issue_alert(*, principal: TokenRecord, payload: AlertIn, submit: Submitter, lifecycle: LifecycleRegistry,
                      event_id: str | None = None, retry: bool = False, now: datetime | None = None) -> Accepted:
    """Issue a new alert from ``principal`` (id ``event_id`` or a new one; ``retry`` = the id comes from an
    idempotency key, so a repeat is answered by the journal as a duplicate)."""
    now = now or utcnow()
    event, cap = prepare_alert(principal=principal, alert=payload, event_id=event_id or new_id("alert"), now=now)
    if not (retry and lifecycle.get(cap.sender, cap.identifier)):
        refuse(lifecycle.admit(cap, now))
    return await submit(event, ALERTS_ISSUED)


async def update_alert(*, principal: TokenRecord, alert_id: str, payload: AlertIn, submit: Submitter, store: Store,
                       lifecycle: LifecycleRegistry, now: datetime | None = None) -> Accepted:
    """Replace an issued alert's content and area (CAP Update of its thread), reaching everyone the thread
    reached before and everyone inside the new area."""
    now = now or utcnow()
    original = await _own(principal=principal, alert_id=alert_id, store=store)
    check_same_tier(original=original, alert=payload)
    check_expires(alert=payload, now=now)
    return await _publish_next(original, update_event(original, payload, now=now), principal=principal,
                               submit=submit, lifecycle=lifecycle, now=now)


async def cancel_alert(*, principal: TokenRecord, alert_id: str, note: str | None, submit: Submitter, store: Store,
                       lifecycle: LifecycleRegistry, now: datetime | None = None) -> Accepted:
    """Cancel an issued alert (CAP Cancel, responseType AllClear) for everyone its thread reached."""
    now = now or utcnow()
    original = await _own(principal=principal, alert_id=alert_id, store=store)
    return await _publish_next(original, cancel_event(original, note=note, now=now), principal=principal,
                               submit=submit, lifecycle=lifecycle, now=now)


async def _own(*, principal: TokenRecord, alert_id: str, store: Store) -> Envelope:
    original = issued_alert(await store.get_event(alert_id), alert_id)
    authorise_change(principal=principal, original=original)
    return original


async def _publish_next(original: Envelope, event: Envelope, *, principal: TokenRecord, submit: Submitter,
                        lifecycle: LifecycleRegistry, now: datetime) -> Accepted:
    """Validate an Update/Cancel, check it against the thread (rebuilt from the store when this process
    has not seen it), and journal it as the next version of the alert."""
    for earlier in thread_messages(original):
        lifecycle.remember(earlier)
    refuse(lifecycle.check(envelope_to_cap(event), now))  # expired/cancelled threads first: clearer
    refuse(lifecycle.admit(validated_cap(event=event, principal=principal), now))
    accepted = await submit(event, ALERTS_ISSUED, on_conflict="append")
    return Accepted(event_id=accepted.event_id, created=True)
