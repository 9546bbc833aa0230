"""Issuing, updating and cancelling an alert: the one sequence the API, the CLI and the demo all run.

Each flow checks the request (``alerts.service``), checks it against the alert's thread
(``alerts.lifecycle``), and journals it through ``submit`` for ``alerts.issued``. Refusals are
``emergency.errors`` domain errors naming the field; callers turn them into a 4xx or a one-line error.

An Update/Cancel starts from the thread's latest *journaled* version (``alerts.journal``), not the
projection, and runs under the thread's lock (``LifecycleRegistry.thread_lock``) from that read to its
own journaling, so quick changes are numbered ``<id>:1``, ``<id>:2``, … without gaps or repeats. The lock
is per process: two processes (API replicas, or the CLI beside a server) changing one alert at the same
instant can both read version n; the second is then journaled with a repeated identifier. Closing that
needs a lock in the store (a PostGIS advisory lock on the alert id; SQLite has one writer per file).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Protocol

from alerts.cap.build import envelope_to_cap, thread_messages
from alerts.drafts.service import require_approval
from alerts.journal import ALERT_JOURNAL
from alerts.lifecycle import LifecycleRegistry
from alerts.models import AlertIn
from alerts.service import (
    authorise_change,
    authorise_tier,
    cancel_event,
    check_expires,
    check_same_tier,
    issued_alert,
    prepare_alert,
    refuse,
    update_event,
    validated_cap,
)
from alerts.tiers import Tier
from emergency.auth.models import TokenRecord
from emergency.cop.features import PRIVATE_KEY as PRIVATE
from emergency.events import Envelope, new_id, utcnow
from emergency.store.base import Accepted, OnConflict, Store
from emergency.stream.topics import ALERTS_ISSUED
from feeds.intake import IdempotencyKeyReused

REQUEST_DIGEST = "request_digest"  # private attribute: the digest of the request an idempotency key was first used for


class Submitter(Protocol):
    """Journals an event for a topic (``Runtime.submit``, or a store-only journal for the CLI)."""

    async def __call__(self, event: Envelope, topic: str, *, on_conflict: OnConflict = "keep") -> Accepted: ...


async def issue_alert(*, principal: TokenRecord, payload: AlertIn, submit: Submitter, lifecycle: LifecycleRegistry,
                      event_id: str | None = None, store: Store | None = None, digest: str | None = None,
                      now: datetime | None = None, policy: Mapping[Tier, int] | None = None,
                      approvals: int = 0) -> Accepted:
    """Issue a new alert from ``principal`` (id ``event_id`` or a new one). With ``digest`` (the request's
    digest; ``event_id`` then comes from the sender's Idempotency-Key and ``store`` is needed) a repeat of
    the same request is answered with the original id as a duplicate, and another request under the same
    key is refused (422 ``Idempotency-Key``). A tier that needs approval under ``policy`` (``alerts.drafts``;
    None: presidential only) is refused (403 ``tier``) unless ``approvals`` (by a draft's approvers) suffice."""
    now = now or utcnow()
    authorise_tier(principal=principal, tier=payload.tier)  # may this token issue the tier at all, first
    require_approval(policy=policy, tier=payload.tier, approvals=approvals)
    event, cap = prepare_alert(principal=principal, alert=payload, event_id=event_id or new_id("alert"), now=now)
    if digest is None:
        refuse(lifecycle.admit(cap, now))
        return await submit(event, ALERTS_ISSUED)
    if store is None:
        raise TypeError("issue_alert needs the store to check an idempotency key")
    earlier = await store.repository(ALERT_JOURNAL).versions(event.id)
    if earlier:
        return _repeat(earlier[0], digest)
    if not lifecycle.get(cap.sender, cap.identifier):
        refuse(lifecycle.admit(cap, now))
    keyed = event.model_copy(update={"attributes": {**event.attributes, PRIVATE: {REQUEST_DIGEST: digest}}})
    accepted = await submit(keyed, ALERTS_ISSUED)
    if not accepted.created:  # the same key journaled meanwhile (the store keeps the first): which request?
        return _repeat((await store.repository(ALERT_JOURNAL).versions(event.id))[0], digest)
    return accepted


def _repeat(first: Envelope, digest: str) -> Accepted:
    """The answer to a request whose idempotency key was journaled before: a duplicate when it is the same
    request, refused (422 ``Idempotency-Key``) when it is another one."""
    if first.attributes.get(PRIVATE, {}).get(REQUEST_DIGEST) != digest:
        raise IdempotencyKeyReused()
    return Accepted(event_id=first.id, created=False)


async def update_alert(*, principal: TokenRecord, alert_id: str, payload: AlertIn, submit: Submitter, store: Store,
                       lifecycle: LifecycleRegistry, now: datetime | None = None,
                       policy: Mapping[Tier, int] | None = None, approvals: int = 0) -> Accepted:
    """Replace an issued alert's content and area (CAP Update of its thread), reaching everyone the thread
    reached before and everyone inside the new area; the approval policy of its tier as for issuing."""
    async with lifecycle.thread_lock(alert_id):
        original = await _own(principal=principal, alert_id=alert_id, store=store)
        require_approval(policy=policy, tier=Tier(original.attributes["tier"]), approvals=approvals, msg_type="Update")
        now = _after(original, now)
        check_same_tier(original=original, alert=payload)
        check_expires(alert=payload, now=now)
        return await _publish_next(original, update_event(original, payload, now=now), principal=principal,
                                   submit=submit, lifecycle=lifecycle, now=now)


async def cancel_alert(*, principal: TokenRecord, alert_id: str, note: str | None, submit: Submitter, store: Store,
                       lifecycle: LifecycleRegistry, now: datetime | None = None,
                       policy: Mapping[Tier, int] | None = None, approvals: int = 0) -> Accepted:
    """Cancel an issued alert (CAP Cancel, responseType AllClear) for everyone its thread reached; the approval
    policy of its tier as for issuing."""
    async with lifecycle.thread_lock(alert_id):
        original = await _own(principal=principal, alert_id=alert_id, store=store)
        require_approval(policy=policy, tier=Tier(original.attributes["tier"]), approvals=approvals, msg_type="Cancel")
        now = _after(original, now)
        return await _publish_next(original, cancel_event(original, note=note, now=now), principal=principal,
                                   submit=submit, lifecycle=lifecycle, now=now)


async def latest_version(*, store: Store, alert_id: str) -> Envelope | None:
    """The newest accepted version of an alert thread, from the journal (the projection may lag it)."""
    versions = await store.repository(ALERT_JOURNAL).versions(alert_id)
    return versions[-1] if versions else None


async def _own(*, principal: TokenRecord, alert_id: str, store: Store) -> Envelope:
    original = issued_alert(await latest_version(store=store, alert_id=alert_id), alert_id)
    authorise_change(principal=principal, original=original)
    return original


def _after(latest: Envelope, now: datetime | None) -> datetime:
    """The time of the next version: now, but never at or before the latest one (the projection keeps the
    newest ``received_at``, so versions must be strictly increasing)."""
    now = now or utcnow()
    return max(now, latest.received_at + timedelta(microseconds=1))


async def _publish_next(original: Envelope, event: Envelope, *, principal: TokenRecord, submit: Submitter,
                        lifecycle: LifecycleRegistry, now: datetime) -> Accepted:
    """Validate an Update/Cancel, check it against the thread (rebuilt from the journal's latest version
    when this process has not seen it), and journal it as the next version of the alert. Callers hold the
    thread's lock from reading that version to journaling this one, so the next CAP identifier (``<id>:<n>``,
    n = messages in the thread so far) is never handed out twice in one process."""
    for earlier in thread_messages(original):
        lifecycle.remember(earlier)
    refuse(lifecycle.check(envelope_to_cap(event), now))  # expired/cancelled threads first: clearer
    refuse(lifecycle.admit(validated_cap(event=event, principal=principal), now))
    accepted = await submit(event, ALERTS_ISSUED, on_conflict="append")
    return Accepted(event_id=accepted.event_id, created=True)
