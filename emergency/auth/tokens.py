"""Creating, hashing and revoking API tokens."""

from __future__ import annotations

import hashlib
import secrets
from enum import Enum
from typing import Any

from emergency.events import utcnow
from emergency.store.base import Store, TokenRecord


class Role(str, Enum):
    agency = "agency"
    coordinator = "coordinator"
    alert_originator = "alert_originator"
    amber = "amber"  # with alert_originator: may issue child-abduction (AMBER) alerts
    national_authority = "national_authority"
    admin = "admin"
    collector = "collector"  # an external social collector: may only post to the social webhook


def hash_token(token: str) -> str:
    """SHA-256 hex of a bearer token; only this is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_id(token_hash: str) -> str:
    """Short public handle of a token (first 16 hex digits of its hash), for listing and revoking."""
    return token_hash[:16]


async def create_token(store: Store, *, name: str, roles: list[Role], agency: str | None = None,
                       jurisdiction: dict[str, Any] | None = None, token: str | None = None) -> tuple[str, TokenRecord]:
    """Store a new token (random unless given) and return (token, record). The token is shown only once."""
    if Role.agency in roles and (not agency or not jurisdiction):
        raise ValueError("an agency token needs an agency name and a jurisdiction polygon")
    token = token or secrets.token_urlsafe(32)
    record = TokenRecord(token_hash=hash_token(token), name=name, roles=[r.value for r in roles],
                         agency=agency, jurisdiction=jurisdiction, created_at=utcnow())
    await store.put_token(record)
    return token, record


async def find_token(store: Store, token: str) -> TokenRecord | None:
    """The stored record of a bearer token (revoked or not), or None when it was never stored."""
    return await store.get_token(hash_token(token))


async def ensure_token(store: Store, *, token: str, name: str, roles: list[Role], agency: str | None = None,
                       jurisdiction: dict[str, Any] | None = None) -> TokenRecord:
    """Store the given ``token`` unless it is stored already (idempotent: for tokens that stay the same
    across restarts, such as the configured admin token and the demo's)."""
    found = await find_token(store, token)
    if found is not None:
        return found
    _, record = await create_token(store, name=name, roles=roles, agency=agency, jurisdiction=jurisdiction, token=token)
    return record
