"""``/api/v1/alerts/drafts``: draft an alert, preview it, edit it, approve or reject it, and issue it."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from alerts.delivery.fanout import SubscriberIndex
from alerts.drafts import flows
from alerts.drafts.models import CancelDraftIn, DraftIn, DraftList, DraftOut, DraftPatch, ReasonIn
from alerts.drafts.service import approval_policy
from alerts.tiers import Tier
from alerts.views import lifecycle
from emergency.auth.deps import require
from emergency.auth.models import TokenRecord
from emergency.auth.tokens import Role
from feeds.intake import AcceptedOut

DRAFTER = require(Role.alert_originator, Role.national_authority)
READER = require(Role.alert_originator, Role.national_authority, Role.alert_approver)
APPROVER = require(Role.alert_approver)

router = APIRouter(tags=["alerts"])
STEP_CONFLICT = {409: {"description": "the draft is not open for this step (rejected, issued, without its approvals), "
                                      "or another request took a step on the version read at the same time (`detail` "
                                      "names the draft and its current version)"}}
NO_ALERT = {404: {"description": "the `alert_id` of an Update or Cancel draft names no issued alert"}}


def policy(request: Request) -> dict[Tier, int]:
    """Approvals needed per tier (``EMERGENCY_ALERT_APPROVAL``)."""
    return approval_policy(request.app.state.runtime.settings.alert_approval)


def index(request: Request) -> SubscriberIndex | None:
    """This process's fan-out subscriber index, None when it runs no delivery."""
    fanout = getattr(request.app.state.runtime, "fanout", None)
    return fanout.index if fanout is not None else None


async def _answer(request: Request, draft_id: str, principal: TokenRecord) -> DraftOut:
    runtime = request.app.state.runtime
    return await flows.get_draft(principal=principal, draft_id=draft_id, store=runtime.store, policy=policy(request),
                                 index=index(request))


@router.post("/api/v1/alerts/drafts", status_code=201, response_model=DraftOut, responses=NO_ALERT)
async def create_draft(body: DraftIn, request: Request, principal: TokenRecord = Depends(DRAFTER)) -> DraftOut:
    """Draft an alert (the body of ``POST /api/v1/alerts``; ``msg_type: Update`` with ``alert_id`` drafts the Update
    of an issued alert): 201 with its id, the approvals its tier needs, its trail and a preview (the validator's
    findings with their rules, the CAP XML, the WEA texts per language, the subscriber channels targeted)."""
    runtime = request.app.state.runtime
    draft = await flows.create_draft(principal=principal, payload=body, submit=runtime.submit, store=runtime.store)
    return await _answer(request, draft.id, principal)


@router.post("/api/v1/alerts/drafts/cancellations", status_code=201, response_model=DraftOut, responses=NO_ALERT)
async def create_cancel_draft(body: CancelDraftIn, request: Request,
                              principal: TokenRecord = Depends(DRAFTER)) -> DraftOut:
    """Draft the Cancel of an issued alert (its tier's approval policy applies as to issuing)."""
    runtime = request.app.state.runtime
    draft = await flows.create_draft(principal=principal, payload=body, submit=runtime.submit, store=runtime.store)
    return await _answer(request, draft.id, principal)


@router.get("/api/v1/alerts/drafts", response_model=DraftList)
async def list_drafts(request: Request, limit: int = Query(100, ge=1, le=flows.MAX_LIST),
                      principal: TokenRecord = Depends(READER)) -> DraftList:
    """The drafts this token may see (its own, and those meeting its jurisdiction), most recently changed first;
    ``truncated`` says more exist than ``limit``."""
    return await flows.list_drafts(principal=principal, store=request.app.state.runtime.store, policy=policy(request),
                                   limit=limit)


@router.get("/api/v1/alerts/drafts/{draft_id}", response_model=DraftOut)
async def get_draft(draft_id: str, request: Request, principal: TokenRecord = Depends(READER)) -> DraftOut:
    """A draft with its audit trail (who, when, what changed) and a fresh preview."""
    return await _answer(request, draft_id, principal)


@router.patch("/api/v1/alerts/drafts/{draft_id}", response_model=DraftOut, responses=STEP_CONFLICT)
async def edit_draft(draft_id: str, body: DraftPatch, request: Request,
                     principal: TokenRecord = Depends(DRAFTER)) -> DraftOut:
    """Edit an open draft (its author): the fields given replace the draft's; the approvals so far are withdrawn."""
    runtime = request.app.state.runtime
    await flows.edit_draft(principal=principal, draft_id=draft_id, patch=body, submit=runtime.submit,
                           store=runtime.store, lifecycle=lifecycle(request))
    return await _answer(request, draft_id, principal)


@router.post("/api/v1/alerts/drafts/{draft_id}/approve", response_model=DraftOut, responses=STEP_CONFLICT)
async def approve_draft(draft_id: str, request: Request, body: ReasonIn | None = None,
                        principal: TokenRecord = Depends(APPROVER)) -> DraftOut:
    """Approve a draft as a second person (403 for its author, or the author's person with another token)."""
    runtime = request.app.state.runtime
    await flows.approve_draft(principal=principal, draft_id=draft_id, comment=body.reason if body else None,
                              submit=runtime.submit, store=runtime.store, lifecycle=lifecycle(request))
    return await _answer(request, draft_id, principal)


@router.post("/api/v1/alerts/drafts/{draft_id}/reject", response_model=DraftOut, responses=STEP_CONFLICT)
async def reject_draft(draft_id: str, request: Request, body: ReasonIn | None = None,
                       principal: TokenRecord = Depends(APPROVER)) -> DraftOut:
    """Reject a draft with a ``reason`` (422 without one); a rejected draft can never be issued."""
    runtime = request.app.state.runtime
    await flows.reject_draft(principal=principal, draft_id=draft_id, reason=body.reason if body else None,
                             submit=runtime.submit, store=runtime.store, lifecycle=lifecycle(request))
    return await _answer(request, draft_id, principal)


@router.post("/api/v1/alerts/drafts/{draft_id}/issue", status_code=202, response_model=AcceptedOut,
             responses=STEP_CONFLICT)
async def issue_draft(draft_id: str, request: Request, principal: TokenRecord = Depends(READER)) -> AcceptedOut:
    """Issue an approved draft (its author or an approver): 202 with the alert id, as ``POST /api/v1/alerts``."""
    runtime = request.app.state.runtime
    accepted = await flows.issue_draft(principal=principal, draft_id=draft_id, submit=runtime.submit,
                                       store=runtime.store, lifecycle=lifecycle(request), policy=policy(request))
    return AcceptedOut(id=accepted.event_id, duplicate=False)
