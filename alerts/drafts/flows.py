"""Creating, editing, approving, rejecting and issuing alert drafts: the one sequence the API runs.

Each step reads the draft's latest journaled version (``alerts.journal.ALERT_JOURNAL``), decides
(``alerts.drafts.service``), and journals the next version on ``alerts.drafts`` with the step appended to
its audit trail. Steps on one draft run under its lock (``LifecycleRegistry.thread_lock``, per process), so
two approvals or an edit and an issue cannot interleave in one process; across processes each step claims the
version it read in the store (``alerts.drafts.repository``: a conditional update on the version column), so of
two processes taking a step on one version at the same instant exactly one goes on and the other answers 409. Issuing runs ``alerts.flows`` with the
author's token (its sender name and authorised area) and the approvals counted; the alert id of a new alert
follows from the draft id, so an issue repeated after a crash journals nothing twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from alerts import flows as alert_flows
from alerts.cap.build import envelope_to_cap
from alerts.cap.xml import write_alert
from alerts.delivery.fanout import SubscriberIndex, targeted
from alerts.drafts.journal import DRAFT_JOURNAL
from alerts.drafts.models import (
    Approval,
    CancelDraftIn,
    Draft,
    DraftIn,
    DraftList,
    DraftOut,
    DraftPatch,
    DraftSummary,
    FindingOut,
    Preview,
    TrailEntry,
)
from alerts.drafts.repository import DRAFT_HEADS
from alerts.drafts.service import (
    actor_of,
    already_approved,
    approvals_needed,
    area_shape,
    changes,
    check_approver,
    check_editor,
    check_issuer,
    check_open,
    visible_or_404,
)
from alerts.journal import ALERT_JOURNAL
from alerts.lifecycle import LifecycleRegistry
from alerts.models import AlertIn
from alerts.service import (
    alert_event,
    authorise_change,
    authorise_tier,
    cancel_event,
    cap_findings,
    check_expires,
    check_same_tier,
    finding_field,
    issued_alert,
    sender_of,
    update_event,
)
from alerts.tiers import Tier
from emergency.auth.models import TokenRecord
from emergency.auth.repository import TOKENS
from emergency.errors import Conflict, RequestRefused, ValidationFailed
from emergency.events import Envelope, Kind, Source, new_id, utcnow
from emergency.store.base import Accepted, Store
from emergency.stream.topics import ALERT_DRAFTS

Policy = Mapping[Tier, int]
MAX_LIST = 1000


async def _original(*, store: Store, alert_id: str) -> Envelope:
    return issued_alert(await alert_flows.latest_version(store=store, alert_id=alert_id), alert_id)


async def load(*, store: Store, draft_id: str) -> Draft | None:
    """The latest journaled version of a draft, or None."""
    versions = await store.repository(ALERT_JOURNAL).versions(draft_id)
    drafts = [v for v in versions if v.kind is Kind.alert_draft]
    return Draft.model_validate(drafts[-1].attributes["draft"]) if drafts else None


async def _journal(*, draft: Draft, submit: alert_flows.Submitter) -> None:
    headline = draft.payload.get("headline") or f"{draft.msg_type} of {draft.alert_id}"
    event = Envelope(id=draft.id, kind=Kind.alert_draft, source=Source(type="alert_draft", ref=draft.author.token_id),
                     observed_at=draft.updated_at, received_at=draft.updated_at, category=draft.tier.value,
                     text=headline[:1000], attributes={"draft": draft.model_dump(mode="json")})
    await submit(event, ALERT_DRAFTS, on_conflict="append")


@asynccontextmanager
async def claimed(*, store: Store, draft: Draft, now: datetime) -> AsyncIterator[None]:
    """The next step on ``draft`` (the version it was read at), taken by this request alone across processes;
    409 naming the draft and the version it is at now when another request took a step on that version first.
    The claim is given back when the step is refused before it journaled."""
    heads = store.repository(DRAFT_HEADS)
    current = await heads.claim(draft.id, version=draft.version, now=now)
    if current is not None:
        raise Conflict("draft_id", f"draft {draft.id} was changed by another request at the same time: it is at "
                                   f"version {current}, not the version {draft.version} this request read; read it "
                                   "again and retry")
    try:
        yield
    except BaseException:
        await heads.release(draft.id, version=draft.version)
        raise


def _next(draft: Draft, *, now: datetime, entry: TrailEntry, **update: Any) -> Draft:
    """The draft's next version (its time strictly after the previous one's) with ``entry`` on its trail."""
    at = max(now, draft.updated_at + timedelta(microseconds=1))
    entry = entry.model_copy(update={"at": at})
    return draft.model_copy(update={"version": draft.version + 1, "updated_at": at,
                                    "trail": [*draft.trail, entry], **update})


def _check_payload(*, principal: TokenRecord, msg_type: str, payload: dict[str, Any], original: Envelope | None,
                   now: datetime) -> None:
    """Refuse (4xx naming the field) what issuing would refuse before building the CAP (tier, expiry, languages,
    SAME code, an Update's tier); CAP findings are shown in the preview instead."""
    if msg_type == "Cancel":
        return
    alert = AlertIn.model_validate(payload)
    if original is not None:
        check_same_tier(original=original, alert=alert)
    authorise_tier(principal=principal, tier=alert.tier)
    check_expires(alert=alert, now=now)
    alert_event(alert, event_id="draft-check", sender=sender_of(principal=principal), now=now)


async def create_draft(*, principal: TokenRecord, payload: DraftIn | CancelDraftIn, submit: alert_flows.Submitter,
                       store: Store, now: datetime | None = None) -> Draft:
    """A new draft from ``principal`` (an Alert, or the Update/Cancel of one of its issued alerts), journaled
    with the first step of its trail; refused as issuing would refuse the request (tier, expiry, languages)."""
    now = now or utcnow()
    original = None
    if isinstance(payload, CancelDraftIn):
        msg_type, alert_id, body = "Cancel", payload.alert_id, {"note": payload.note}
    else:
        msg_type, alert_id = payload.msg_type, payload.alert_id
        body = AlertIn.model_validate(payload.model_dump(exclude={"msg_type", "alert_id"})).model_dump(mode="json")
        if msg_type == "Update" and alert_id is None:
            raise ValidationFailed("alert_id", "an Update draft names the issued alert it replaces")
        if msg_type == "Alert" and alert_id is not None:
            raise ValidationFailed("alert_id", "only an Update (msg_type Update) names an alert_id")
    if alert_id is not None:
        original = await _original(store=store, alert_id=alert_id)
        authorise_change(principal=principal, original=original)
    _check_payload(principal=principal, msg_type=msg_type, payload=body, original=original, now=now)
    tier = Tier(original.attributes["tier"]) if original is not None else Tier(body["tier"])
    actor = actor_of(principal)
    draft = Draft(id=new_id("draft"), version=1, msg_type=msg_type, alert_id=alert_id, tier=tier, payload=body,
                  author=actor, author_hash=principal.token_hash, created_at=now, updated_at=now,
                  trail=[TrailEntry(at=now, action="create", by=actor)])
    await _journal(draft=draft, submit=submit)
    return draft


async def _visible(*, principal: TokenRecord, store: Store, draft_id: str) -> Draft:
    draft = await load(store=store, draft_id=draft_id)
    original = None
    if draft is not None and draft.alert_id is not None:
        found = await alert_flows.latest_version(store=store, alert_id=draft.alert_id)
        original = found.geometry if found is not None else None
    shape = area_shape(draft.payload, original) if draft is not None else None
    return visible_or_404(principal=principal, draft=draft, draft_id=draft_id, shape=shape)


async def edit_draft(*, principal: TokenRecord, draft_id: str, patch: DraftPatch, submit: alert_flows.Submitter,
                     store: Store, lifecycle: LifecycleRegistry, now: datetime | None = None) -> Draft:
    """Edit an open draft (its author only): the fields given replace the draft's, the result is checked as a
    new draft would be, the approvals given so far are withdrawn, and the trail records the fields changed."""
    async with lifecycle.thread_lock(draft_id):
        draft = await _visible(principal=principal, store=store, draft_id=draft_id)
        check_editor(principal=principal, draft=draft)
        check_open(draft=draft, action="edited")
        now = now or utcnow()
        given = patch.model_dump(mode="json", include=patch.model_fields_set)
        if draft.msg_type == "Cancel":
            extra = sorted(set(given) - {"note"})
            if extra:
                raise ValidationFailed(extra[0], "a Cancel draft has only a note")
            new = {"note": given.get("note")}
        else:
            if "note" in given:
                raise ValidationFailed("note", "only a Cancel draft has a note")
            merged = {k: v for k, v in {**draft.payload, **given}.items() if v is not None}
            new = AlertIn.model_validate(merged).model_dump(mode="json")
        original = await _original(store=store, alert_id=draft.alert_id) if draft.alert_id else None
        _check_payload(principal=principal, msg_type=draft.msg_type, payload=new, original=original, now=now)
        diff = changes(draft.payload, new)
        note = f"{len(draft.approvals)} approval(s) withdrawn by the edit" if draft.approvals and diff else None
        tier = draft.tier if original is not None or draft.msg_type == "Cancel" else Tier(new["tier"])
        async with claimed(store=store, draft=draft, now=now):
            draft = _next(draft, now=now, payload=new, tier=tier, approvals=[] if diff else draft.approvals,
                          entry=TrailEntry(at=now, action="edit", by=actor_of(principal), changes=diff, note=note))
            await _journal(draft=draft, submit=submit)
        return draft


async def approve_draft(*, principal: TokenRecord, draft_id: str, comment: str | None, submit: alert_flows.Submitter,
                        store: Store, lifecycle: LifecycleRegistry, now: datetime | None = None) -> Draft:
    """Approve an open draft as a second person (role alert_approver, not the author's token nor person); the
    same person approving again counts once (the trail records the repeat)."""
    async with lifecycle.thread_lock(draft_id):
        draft = await _visible(principal=principal, store=store, draft_id=draft_id)
        check_open(draft=draft, action="approved")
        check_approver(principal=principal, draft=draft)
        now = now or utcnow()
        actor = actor_of(principal)
        async with claimed(store=store, draft=draft, now=now):
            if already_approved(principal=principal, draft=draft):
                entry = TrailEntry(at=now, action="approve", by=actor, reason=comment,
                                   note="approved again by the same person: counted once")
                draft = _next(draft, now=now, entry=entry)
            else:
                draft = _next(draft, now=now, entry=TrailEntry(at=now, action="approve", by=actor, reason=comment))
                draft = draft.model_copy(update={"approvals": [*draft.approvals,
                                                               Approval(by=actor, at=draft.updated_at)]})
            await _journal(draft=draft, submit=submit)
        return draft


async def reject_draft(*, principal: TokenRecord, draft_id: str, reason: str | None, submit: alert_flows.Submitter,
                       store: Store, lifecycle: LifecycleRegistry, now: datetime | None = None) -> Draft:
    """Reject an open draft (role alert_approver) with a reason (422 ``reason`` without one); it can then never
    be issued."""
    if not reason or not reason.strip():
        raise ValidationFailed("reason", "a rejection needs a reason (the author reads it in the draft's trail)")
    async with lifecycle.thread_lock(draft_id):
        draft = await _visible(principal=principal, store=store, draft_id=draft_id)
        check_open(draft=draft, action="rejected")
        now = now or utcnow()
        async with claimed(store=store, draft=draft, now=now):
            draft = _next(draft, now=now, status="rejected",
                          entry=TrailEntry(at=now, action="reject", by=actor_of(principal), reason=reason.strip()))
            await _journal(draft=draft, submit=submit)
        return draft


async def issue_draft(*, principal: TokenRecord, draft_id: str, submit: alert_flows.Submitter, store: Store,
                      lifecycle: LifecycleRegistry, policy: Policy, now: datetime | None = None) -> Accepted:
    """Issue an approved draft (by its author or an approver): the alert (or Update/Cancel) is issued with the
    author's token, as ``POST /api/v1/alerts`` would, and the draft records the alert id; 409 for a rejected or
    issued draft or one without its approvals."""
    async with lifecycle.thread_lock(draft_id):
        draft = await _visible(principal=principal, store=store, draft_id=draft_id)
        check_issuer(principal=principal, draft=draft, policy=policy)
        author = await store.repository(TOKENS).get(draft.author_hash)
        if author is None or author.revoked_at is not None:
            raise Conflict("draft_id", "the author's token was revoked, so the alert cannot be sent under it; "
                                       "the author drafts it again with their new token")
        common: dict[str, Any] = {"principal": author, "submit": submit, "lifecycle": lifecycle, "policy": policy,
                                  "approvals": len(draft.approvals)}
        now = now or utcnow()
        async with claimed(store=store, draft=draft, now=now):
            if draft.msg_type == "Alert":
                accepted = await alert_flows.issue_alert(payload=AlertIn.model_validate(draft.payload),
                                                         event_id="alert:" + draft.id.split(":", 1)[1], **common)
            elif draft.msg_type == "Update":
                accepted = await alert_flows.update_alert(alert_id=draft.alert_id, store=store,
                                                          payload=AlertIn.model_validate(draft.payload), **common)
            else:
                accepted = await alert_flows.cancel_alert(alert_id=draft.alert_id, store=store,
                                                          note=draft.payload.get("note"), **common)
            draft = _next(draft, now=now, status="issued", issued_alert_id=accepted.event_id,
                          entry=TrailEntry(at=now, action="issue", by=actor_of(principal),
                                           note=f"{draft.msg_type} issued as {accepted.event_id}"))
            await _journal(draft=draft, submit=submit)
        return accepted


# --- reading ---------------------------------------------------------------------------------------

async def preview(*, draft: Draft, store: Store, index: SubscriberIndex | None, now: datetime | None = None) -> Preview:
    """What issuing the draft now would publish, checked by the validator as the author's alert."""
    now = now or utcnow()
    author = await store.repository(TOKENS).get(draft.author_hash)
    try:
        if author is None:
            raise Conflict("draft_id", "the author's token is gone")
        original = await _original(store=store, alert_id=draft.alert_id) if draft.alert_id else None
        if draft.msg_type == "Cancel":
            event = cancel_event(original, note=draft.payload.get("note"), now=now)
        elif draft.msg_type == "Update":
            event = update_event(original, AlertIn.model_validate(draft.payload), now=now)
        else:
            alert = AlertIn.model_validate(draft.payload)
            check_expires(alert=alert, now=now)
            event = alert_event(alert, event_id="alert:" + draft.id.split(":", 1)[1],
                                sender=sender_of(principal=author), now=now)
    except RequestRefused as exc:  # e.g. expired meanwhile, or the alert was cancelled: the draft cannot go out
        return Preview(findings=[FindingOut(rule=f"request.{exc.field}", level="error", path="", field=exc.field,
                                            message=exc.message)], issuable=False, cap_xml=None, wea={}, targeted=None)
    cap = envelope_to_cap(event)
    languages = [i.language or "" for i in cap.info]
    found = cap_findings(cap=cap, principal=author)
    findings = [FindingOut(rule=f.code, level=f.level, path=f.path, field=finding_field(f, languages),
                           message=f.message) for f in found]
    wea = {i.language or "": {"wea_text": i.parameter_value("CMAMtext"),
                              "wea_long_text": i.parameter_value("CMAMlongtext")} for i in cap.info}
    counts = None
    if index is not None:
        counts = dict(sorted(Counter(channel for channel, _ in targeted(index=index, event=event).values()).items()))
    return Preview(findings=findings, issuable=not any(f.level == "error" for f in found),
                   cap_xml=write_alert(cap).decode("utf-8"), wea=wea, targeted=counts)


def shown(*, draft: Draft, policy: Policy, preview: Preview | None = None) -> DraftOut:
    """The draft as the API shows it (without the author's token hash)."""
    return DraftOut(**draft.model_dump(exclude={"author_hash"}),
                    approvals_needed=approvals_needed(policy=policy, tier=draft.tier), preview=preview)


async def get_draft(*, principal: TokenRecord, draft_id: str, store: Store, policy: Policy,
                    index: SubscriberIndex | None) -> DraftOut:
    """A draft with its trail and a fresh preview (404 when ``principal`` may not see it)."""
    draft = await _visible(principal=principal, store=store, draft_id=draft_id)
    return shown(draft=draft, policy=policy, preview=await preview(draft=draft, store=store, index=index))


async def list_drafts(*, principal: TokenRecord, store: Store, policy: Policy, limit: int) -> DraftList:
    """The drafts ``principal`` may see, the most recently changed first, at most ``limit`` (truncation stated)."""
    if not 1 <= limit <= MAX_LIST:
        raise ValidationFailed("limit", f"must be between 1 and {MAX_LIST}")
    out: list[DraftSummary] = []
    latest = await store.repository(DRAFT_JOURNAL).latest(10 * MAX_LIST)
    truncated = len(latest) == 10 * MAX_LIST  # older drafts were not read
    for event in latest:
        draft = Draft.model_validate(event.attributes["draft"])
        try:
            await _visible(principal=principal, store=store, draft_id=draft.id) if draft.alert_id else \
                visible_or_404(principal=principal, draft=draft, draft_id=draft.id, shape=area_shape(draft.payload))
        except RequestRefused:
            continue
        if len(out) == limit:
            truncated = True
            break
        out.append(DraftSummary(id=draft.id, msg_type=draft.msg_type, alert_id=draft.alert_id, tier=draft.tier,
                                status=draft.status, headline=draft.payload.get("headline"), author=draft.author,
                                approvals_needed=approvals_needed(policy=policy, tier=draft.tier),
                                approvals=len(draft.approvals), issued_alert_id=draft.issued_alert_id,
                                updated_at=draft.updated_at))
    return DraftList(drafts=out, limit=limit, truncated=truncated)
