"""The record of an API token, as the token repository stores it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass
class TokenRecord:
    """An API token's holder, roles and (for agencies) jurisdiction polygon (GeoJSON, WGS 84).

    ``agency_id`` is the stable identity of ``agency``, shared by all its tokens
    (``emergency.auth.agencies``); None for a token that acts for no agency. ``person`` is the human who holds
    the token (None: not named); approving an alert draft compares it (``alerts.drafts``)."""

    token_hash: str
    name: str
    roles: list[str]
    agency: str | None = None
    jurisdiction: dict[str, Any] | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    revoked_at: datetime | None = None
    agency_id: str | None = None
    person: str | None = None
