"""FastAPI dependencies that check the bearer token and its roles."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from emergency.auth.models import TokenRecord
from emergency.auth.tokens import Role, lookup_token
from emergency.store.errors import store_unreachable_is_store_error

bearer = HTTPBearer(auto_error=False, description="API token")
TOKEN_REQUIRED = "Authorization: a bearer token is required"


async def current_principal(request: Request,
                            creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> TokenRecord:
    """The token's record; 401 when the Authorization header is missing, unknown or revoked."""
    if creds is None or not creds.credentials:
        raise HTTPException(401, TOKEN_REQUIRED, headers={"WWW-Authenticate": "Bearer"})
    with store_unreachable_is_store_error("the token cannot be checked"):
        record = await lookup_token(request.app.state.runtime.store, creds.credentials)
    if record is None:
        raise HTTPException(401, "Authorization: the token is unknown or revoked", headers={"WWW-Authenticate": "Bearer"})
    return record


async def optional_principal(request: Request,
                             creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> TokenRecord | None:
    """The token's record on a public route, or None when no token, or an unknown or revoked one, was given."""
    if creds is None or not creds.credentials:
        return None
    return await lookup_token(request.app.state.runtime.store, creds.credentials)


def require(*roles: Role) -> Callable[..., Awaitable[TokenRecord]]:
    """Dependency: the principal must hold at least one of ``roles`` (403 otherwise)."""
    wanted = {r.value for r in roles}

    async def check(principal: TokenRecord = Depends(current_principal)) -> TokenRecord:
        if not wanted & set(principal.roles):
            raise HTTPException(403, f"Authorization: this needs role {' or '.join(sorted(wanted))}; "
                                     f"the token has {', '.join(principal.roles) or 'no roles'}")
        return principal

    check.required_roles = frozenset(wanted)  # type: ignore[attr-defined]  # read by the OpenAPI document
    return check
