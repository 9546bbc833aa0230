"""Creating, hashing and revoking API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from enum import Enum
from typing import Any

from emergency.auth.agencies import assign_agency_id
from emergency.auth.models import TokenRecord
from emergency.auth.registry import AGENCIES
from emergency.auth.repository import TOKENS
from emergency.errors import NotFound, ValidationFailed
from emergency.events import utcnow
from emergency.geometry import check_area_geometry
from emergency.store.base import Store


class Role(str, Enum):
    agency = "agency"
    coordinator = "coordinator"
    alert_originator = "alert_originator"
    amber = "amber"  # with alert_originator: may issue child-abduction (AMBER) alerts
    national_authority = "national_authority"
    admin = "admin"
    collector = "collector"  # an external social collector: may only post to the social webhook
    partner = "partner"  # an Open311 partner application (a FixMyStreet or Mark-a-Spot server) sending reports
    registry_officer = "registry_officer"  # reads and enters the vulnerable-persons registry (alerts/registry)
    alert_approver = "alert_approver"  # approves (or rejects) alert drafts of other people (alerts/drafts)


# Roles that may originate public alerts. Each such token carries an authorised area (its jurisdiction,
# as IPAWS gives every alerting authority one), except a national authority, which alerts nationwide:
# a national_authority token without a jurisdiction may alert anywhere, and says so by its role.
ALERT_ORIGINATOR_ROLES = frozenset({Role.alert_originator, Role.national_authority})
NATIONWIDE_ROLE = Role.national_authority


def hash_token(token: str) -> str:
    """SHA-256 hex of a bearer token; only this is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def lookup_token(store: Store, token: str) -> TokenRecord | None:
    """The record of an active (not revoked) bearer token, or None."""
    record = await find_token(store, token)
    return record if record is not None and record.revoked_at is None else None


def token_id(token_hash: str) -> str:
    """Short public handle of a token (first 16 hex digits of its hash), for listing and revoking."""
    return token_hash[:16]


_TOKEN_REF = re.compile(r"^(?:[0-9a-f]{16}|[0-9a-f]{64})$")


async def revoke_token(store: Store, *, ref: str, field: str = "token_id") -> str:
    """Revoke the active token ``ref`` names (its ``token_id`` as create and list show it, or its full
    SHA-256 hash) and return its ``token_id``; ``ValidationFailed``/``NotFound`` naming ``field`` otherwise."""
    ref = ref.strip().lower()
    if not _TOKEN_REF.match(ref):
        raise ValidationFailed(field, "expected a token_id (16 hex digits, as shown when the token was created) "
                                      "or the token's full SHA-256 hash (64 hex digits)")
    repository = store.repository(TOKENS)
    found = await repository.hashes_starting(ref)
    if not found:
        raise NotFound(field, "no active token with this token_id or hash")
    if len(found) > 1:  # two hashes sharing 64 bits: say so rather than guess
        raise ValidationFailed(field, "more than one active token starts with this token_id: give the full hash")
    if not await repository.revoke(found[0], utcnow()):
        raise NotFound(field, "no active token with this token_id or hash")
    return token_id(found[0])


async def create_token(store: Store, *, name: str, roles: list[Role], agency: str | None = None,
                       jurisdiction: dict[str, Any] | None = None, token: str | None = None,
                       person: str | None = None) -> tuple[str, TokenRecord]:
    """Store a new token (random unless given) and return (token, record). The token is shown only once.

    ``jurisdiction`` is a GeoJSON Polygon/MultiPolygon (WGS 84 degrees). Agency tokens need one and an agency
    name; alert originator tokens need one (their authorised area) unless they are national authority
    tokens (nationwide). Refused with ``ValidationFailed`` naming the field otherwise.

    A token with an ``agency`` gets that agency's ``agency_id``: the existing one when the exact name is
    known, a new one otherwise; a name differing from a known agency's only in case, accents, punctuation
    or spacing is refused (``agency``, with the existing name as candidate). A token of a registered agency
    (``emergency.auth.registry``) gets its ``agency_id`` and, when none is given, its jurisdiction.

    ``person`` names the human who holds the token (alert drafts need two different people to approve a
    presidential alert: ``alerts.drafts``); blank is refused (``person``)."""
    if person is not None and not person.strip():
        raise ValidationFailed("person", "give the name of the person who holds the token, or leave it out")
    roles = [Role(r) for r in roles]
    repository = store.repository(TOKENS)
    agency_id = assign_agency_id(agency=agency, known=await known_agencies(store)) if agency else None
    if agency and jurisdiction is None:  # a registered agency's tokens act in its jurisdiction
        registered = await store.repository(AGENCIES).by_name(agency)
        jurisdiction = registered.jurisdiction if registered is not None else None
    if jurisdiction is not None:
        try:
            check_area_geometry(jurisdiction)
        except ValueError as exc:
            raise ValidationFailed("jurisdiction", str(exc)) from None
    if Role.agency in roles and (not agency or not jurisdiction):
        raise ValidationFailed("roles", "an agency token needs an agency name and a jurisdiction polygon")
    if ALERT_ORIGINATOR_ROLES & set(roles) and NATIONWIDE_ROLE not in roles and not jurisdiction:
        raise ValidationFailed("jurisdiction", "an alert_originator token needs an authorised area: give the "
                               "GeoJSON Polygon or MultiPolygon it may issue alerts in (only a "
                               "national_authority token may alert nationwide without one)")
    token = token or secrets.token_urlsafe(32)
    record = TokenRecord(token_hash=hash_token(token), name=name, roles=[r.value for r in roles],
                         agency=agency, jurisdiction=jurisdiction, created_at=utcnow(), agency_id=agency_id,
                         person=person.strip() if person else None)
    await repository.put(record)
    return token, record


async def known_agencies(store: Store) -> list[tuple[str, str]]:
    """Every (agency_id, exact name) pair known: registered agencies and those that tokens carry."""
    registered = [(r.agency_id, r.name) for r in await store.repository(AGENCIES).all()]
    return list(dict.fromkeys([*registered, *await store.repository(TOKENS).agencies()]))


async def find_token(store: Store, token: str) -> TokenRecord | None:
    """The stored record of a bearer token (revoked or not), or None when it was never stored."""
    return await store.repository(TOKENS).get(hash_token(token)) if token else None


async def ensure_token(store: Store, *, token: str, name: str, roles: list[Role], agency: str | None = None,
                       jurisdiction: dict[str, Any] | None = None, person: str | None = None) -> TokenRecord:
    """Store the given ``token`` unless it is stored already (idempotent: for tokens that stay the same
    across restarts, such as the configured admin token and the demo's)."""
    found = await find_token(store, token)
    if found is not None:
        return found
    _, record = await create_token(store, name=name, roles=roles, agency=agency, jurisdiction=jurisdiction, token=token,
                                   person=person)
    return record
