"""``/api/v1/subscriptions`` (public creation; the rest with the subscription's own management token), one-click
unsubscribe links (RFC 8058, signed), and ``GET /api/v1/admin/subscriptions`` (admin: counts, masked values)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from alerts.subscriptions import flows
from alerts.subscriptions.models import (
    AdminSubscriptions,
    ConfirmIn,
    ConfirmOut,
    DeletedOut,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
    SubscriptionPatched,
    UnsubscribedOut,
)
from alerts.subscriptions.service import admin_item, pending, subscription_out
from emergency.auth.deps import require
from emergency.auth.models import TokenRecord
from emergency.auth.tokens import Role
from emergency.errors import ValidationFailed
from emergency.http import client_address

router = APIRouter(tags=["subscriptions"])
holder_bearer = HTTPBearer(auto_error=False, scheme_name="SubscriptionToken",
                           description="the management token answered when the subscription was created")
TOKEN_NEEDED = "Authorization: the subscription's management token is required (Bearer)"
HOLDER = {401: {"description": "no management token was given"},
          404: {"description": "no such subscription, or the token is not its own (the same answer either way)"}}
SIGNED = {403: {"description": "`sig` does not sign this link"}}
ONE_CLICK = {"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
    "type": "object", "required": ["List-Unsubscribe"],
    "properties": {"List-Unsubscribe": {"type": "string", "enum": ["One-Click"]}}}}}}}


async def holder_token(creds: HTTPAuthorizationCredentials | None = Depends(holder_bearer)) -> str:
    """The management token of the request; 401 when none was given."""
    if creds is None or not creds.credentials:
        raise HTTPException(401, TOKEN_NEEDED, headers={"WWW-Authenticate": "Bearer"})
    return creds.credentials


def _runtime(request: Request) -> Any:
    return request.app.state.runtime


async def _limit_creation(request: Request) -> None:
    """429 with Retry-After beyond ``EMERGENCY_SUBSCRIBE_RATE`` creations per client address (the intake limiter)."""
    await _runtime(request).intake_limits.check(field="subscription", subscription=client_address(request))


@router.post("/api/v1/subscriptions", status_code=201, response_model=SubscriptionCreated)
async def create_subscription(body: SubscriptionIn, request: Request) -> dict[str, Any]:
    """Subscribe areas to alerts on channels; the answer echoes what was understood and carries the management
    token (shown once). Email and sms channels get a confirmation code first and nothing else until confirmed."""
    await _limit_creation(request)
    rt = _runtime(request)
    sub, token, made = await flows.create_subscription(
        store=rt.store, submit=rt.submit, payload=body, region_dir=rt.settings.region_dir,
        webhook_allow_hosts=rt.settings.webhook_allow_hosts)
    return {**subscription_out(sub), "token": token, "webhook_secrets": made or None}


@router.get("/api/v1/subscriptions/{subscription_id}", response_model=SubscriptionOut, responses=HOLDER)
async def read_subscription(subscription_id: str, request: Request,
                            token: str = Depends(holder_token)) -> dict[str, Any]:
    """The subscription, with its contacts masked."""
    sub = await flows.held_subscription(store=_runtime(request).store, subscription_id=subscription_id, token=token)
    return subscription_out(sub)


@router.patch("/api/v1/subscriptions/{subscription_id}", response_model=SubscriptionPatched,
              responses={**HOLDER, 409: {"description": "changed by another request at the same time"}})
async def patch_subscription(subscription_id: str, body: SubscriptionPatch, request: Request,
                             token: str = Depends(holder_token)) -> dict[str, Any]:
    """Replace the fields given; a new or changed email address or number is confirmed again."""
    rt = _runtime(request)
    sub, made = await flows.patch_subscription(
        store=rt.store, submit=rt.submit, subscription_id=subscription_id, token=token, payload=body,
        region_dir=rt.settings.region_dir, webhook_allow_hosts=rt.settings.webhook_allow_hosts)
    return {**subscription_out(sub), "webhook_secrets": made or None}


@router.delete("/api/v1/subscriptions/{subscription_id}", response_model=DeletedOut,
               responses={**HOLDER, 409: {"description": "changed by another request at the same time"}})
async def delete_subscription(subscription_id: str, request: Request,
                              token: str = Depends(holder_token)) -> DeletedOut:
    """Delete the subscription and erase its contacts."""
    rt = _runtime(request)
    await flows.delete_subscription(store=rt.store, submit=rt.submit, subscription_id=subscription_id, token=token)
    return DeletedOut(id=subscription_id, deleted=True)


@router.post("/api/v1/subscriptions/{subscription_id}/confirm", response_model=ConfirmOut,
             responses={**HOLDER, 409: {"description": "changed by another request at the same time"}})
async def confirm_channel(subscription_id: str, body: ConfirmIn, request: Request,
                          token: str = Depends(holder_token)) -> ConfirmOut:
    """Confirm an email or sms channel with the code it received (5 tries; codes last 24 h)."""
    rt = _runtime(request)
    sub, channel = await flows.confirm_channel(store=rt.store, submit=rt.submit, subscription_id=subscription_id,
                                               token=token, payload=body)
    return ConfirmOut(id=sub.id, channel_id=channel.channel_id, confirmed=channel.confirmed,
                      pending_confirmation=pending(sub.channels))


@router.get("/api/v1/subscriptions/{subscription_id}/unsubscribe/{channel_id}", response_class=HTMLResponse,
            responses=SIGNED)
async def unsubscribe_page(subscription_id: str, channel_id: str, request: Request,
                           sig: str = Query(min_length=1, max_length=128)) -> HTMLResponse:
    """A page with one button that unsubscribes this channel (the link in every email)."""
    await flows.check_unsubscribe(store=_runtime(request).store, subscription_id=subscription_id,
                                  channel_id=channel_id, sig=sig)
    return HTMLResponse(  # the form posts to this same URL (sig included), as RFC 8058 one-click does
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Unsubscribe</title>"
        "<body><h1>Stop alerts on this channel?</h1>"
        "<form method=\"post\" action=\"\"><input type=\"hidden\" name=\"List-Unsubscribe\" "
        "value=\"One-Click\"><button type=\"submit\">Unsubscribe</button></form></body></html>")


@router.post("/api/v1/subscriptions/{subscription_id}/unsubscribe/{channel_id}", response_model=UnsubscribedOut,
             responses={**SIGNED, 409: {"description": "changed by another request at the same time"}},
             openapi_extra=ONE_CLICK)
async def unsubscribe(subscription_id: str, channel_id: str, request: Request,
                      sig: str = Query(min_length=1, max_length=128)) -> UnsubscribedOut:
    """One-click unsubscribe (RFC 8058): body ``List-Unsubscribe=One-Click``; the signed link is the authority."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    if form.get("List-Unsubscribe") != ["One-Click"]:
        raise ValidationFailed("List-Unsubscribe", "the body must be List-Unsubscribe=One-Click (RFC 8058)")
    rt = _runtime(request)
    await flows.unsubscribe_channel(store=rt.store, submit=rt.submit, subscription_id=subscription_id,
                                    channel_id=channel_id, sig=sig)
    return UnsubscribedOut(id=subscription_id, channel_id=channel_id, unsubscribed=True)


@router.get("/api/v1/admin/subscriptions", response_model=AdminSubscriptions, tags=["admin"])
async def admin_subscriptions(request: Request, after: str | None = Query(None, max_length=64),
                              limit: int = Query(100, ge=1, le=1000),
                              _: TokenRecord = Depends(require(Role.admin))) -> AdminSubscriptions:
    """Channels by type and state, and a page of subscriptions with masked contacts only."""
    repo = flows.repository(_runtime(request).store)
    counts = await repo.channel_counts()
    page = await repo.page(after=after, limit=limit + 1)
    more = len(page) > limit
    page = page[:limit]
    total = await repo.count()
    return AdminSubscriptions(total=total, counts=counts, items=[admin_item(s) for s in page],
                              next=page[-1].id if more and page else None)
