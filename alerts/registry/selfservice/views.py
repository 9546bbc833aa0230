"""``/api/v1/registry/registrations``: the public self-registration (rate-limited like every public intake),
managed with its own token (``Authorization: Bearer``; another token or an unknown id: the same 404), and
``/registry``, its page; an officer's review of a self-registered entry."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse

from alerts.page.service import page_language
from alerts.registry.models import Registrant, RegistrantOut
from alerts.registry.selfservice import flows
from alerts.registry.selfservice.models import (
    RegistrationConfirmed,
    RegistrationCreated,
    RegistrationDeleted,
    RegistrationIn,
    RegistrationOut,
    RegistrationPatch,
)
from alerts.registry.selfservice.page import registry_page
from alerts.registry.selfservice.service import registration_out, unconfirmed
from alerts.registry.service import registrant_out
from alerts.subscriptions.models import ConfirmIn
from alerts.subscriptions.views import holder_token
from emergency.auth.deps import require
from emergency.auth.models import TokenRecord
from emergency.auth.tokens import Role
from emergency.http import client_address

router = APIRouter(tags=["vulnerable-persons registry"])
HOLDER = {401: {"description": "no management token was given"},
          404: {"description": "no such registration, or the token is not its own (the same answer either way)"}}
CHANGED = {409: {"description": "changed by another request at the same time"}}


def _runtime(request: Request) -> Any:
    return request.app.state.runtime


def _out(rt: Any, reg: Registrant) -> RegistrationOut:
    return registration_out(reg, unconfirmed_ttl_s=rt.settings.registry_unconfirmed_ttl_s)


@router.post("/api/v1/registry/registrations", status_code=201, response_model=RegistrationCreated)
async def create_registration(body: RegistrationIn, request: Request) -> dict[str, Any]:
    """Register yourself, or the person you care for, with explicit consent. The answer echoes what was understood
    (the address as matched, the needs taken, the contacts masked) and carries the management token, shown once.
    Each contact gets a confirmation code; until every one is confirmed the entry is pending and gets no check-in,
    and one never confirmed is erased at ``unconfirmed_expires_at``.
    An address that is not one place (a whole street, a district) or unknown: 422 naming ``address`` with what it
    matched. Rate-limited per client address (429)."""
    rt = _runtime(request)
    await rt.intake_limits.check(field="registration", registration=client_address(request))
    reg, token = await flows.register(store=rt.store, intake=rt, payload=body)
    await flows.send_codes(store=rt.store, settings=rt.settings, producer=await rt.api_producer(), reg=reg)
    return {**_out(rt, reg).model_dump(), "token": token}


@router.get("/api/v1/registry/registrations/{registration_id}", response_model=RegistrationOut, responses=HOLDER)
async def read_registration(registration_id: str, request: Request,
                            token: str = Depends(holder_token)) -> RegistrationOut:
    """The registration as its holder reads it (contacts masked)."""
    rt = _runtime(request)
    return _out(rt, await flows.held(store=rt.store, registration_id=registration_id, token=token))


@router.patch("/api/v1/registry/registrations/{registration_id}", response_model=RegistrationOut,
              responses={**HOLDER, **CHANGED})
async def patch_registration(registration_id: str, body: RegistrationPatch, request: Request,
                             token: str = Depends(holder_token)) -> RegistrationOut:
    """Replace the fields given; a new or changed contact gets a code and must be confirmed again."""
    rt = _runtime(request)
    reg = await flows.patch(store=rt.store, intake=rt, registration_id=registration_id, token=token, payload=body)
    if body.channels is not None:
        await flows.send_codes(store=rt.store, settings=rt.settings, producer=await rt.api_producer(), reg=reg)
    return _out(rt, reg)


@router.delete("/api/v1/registry/registrations/{registration_id}", response_model=RegistrationDeleted,
               responses=HOLDER)
async def delete_registration(registration_id: str, request: Request,
                              token: str = Depends(holder_token)) -> RegistrationDeleted:
    """Withdraw consent: the entry and its personal data are erased."""
    await flows.withdraw(store=_runtime(request).store, registration_id=registration_id, token=token)
    return RegistrationDeleted(id=registration_id, deleted=True)


@router.post("/api/v1/registry/registrations/{registration_id}/confirm", response_model=RegistrationConfirmed,
             responses={**HOLDER, **CHANGED})
async def confirm_registration(registration_id: str, body: ConfirmIn, request: Request,
                               token: str = Depends(holder_token)) -> RegistrationConfirmed:
    """Confirm a contact with the code it received (5 tries; codes last 24 h); active once every one is."""
    reg, channel = await flows.confirm(store=_runtime(request).store, registration_id=registration_id, token=token,
                                       payload=body)
    return RegistrationConfirmed(id=reg.id, channel_id=channel.channel_id, confirmed=channel.confirmed,
                                 status=reg.status, pending_confirmation=unconfirmed(reg.channels))


@router.post("/api/v1/registry/registrants/{registrant_id}/review", response_model=RegistrantOut,
             responses=CHANGED)
async def review_registrant(registrant_id: str, request: Request,
                            principal: TokenRecord = Depends(require(Role.registry_officer))) -> RegistrantOut:
    """An officer marks an entry reviewed (a self-registration checked by phone or visit); audited."""
    return registrant_out(await flows.review(store=_runtime(request).store, registrant_id=registrant_id,
                                             principal=principal))


@router.get("/registry", response_class=HTMLResponse, include_in_schema=False)
async def registration_page(lang: str | None = Query(None), accept_language: str | None = Header(None)
                            ) -> HTMLResponse:
    """The public self-registration page (en, es, ko; self-contained: works offline)."""
    language = page_language(lang=lang, accept_language=accept_language)
    return HTMLResponse(registry_page(language=language),
                        headers={"Vary": "Accept-Language", "Content-Language": language})
