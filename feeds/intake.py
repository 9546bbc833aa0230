"""Shared intake helpers: idempotency keys, the 202 answer, and where accepted inputs go."""

from __future__ import annotations

import hashlib
import re
from typing import Protocol

from fastapi import HTTPException
from pydantic import BaseModel

from emergency.events import Envelope
from emergency.geocoding import Geocoder
from emergency.store.base import Accepted, OnConflict

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class AcceptedOut(BaseModel):
    """Answer to an accepted submission: it is journaled and will reach the picture."""

    id: str
    status: str = "accepted"
    duplicate: bool = False


class Submitter(Protocol):
    """Where intake hands an accepted input (the runtime is one): journaled for ``topic`` on return."""

    async def submit(self, event: Envelope, topic: str, *, on_conflict: OnConflict = "keep") -> Accepted: ...


class Intake(Submitter, Protocol):
    """What intake flows need of the running system (``emergency.assembly.runtime.Runtime`` is one)."""

    geocoder: Geocoder | None  # the region's geocoder, loaded once per process; None when no region loads


def idempotent_id(prefix: str, key: str | None) -> str | None:
    """Stable event id for a client's Idempotency-Key (None when no key); 400 for a bad key."""
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.match(key):
        raise HTTPException(400, "Idempotency-Key: 1-128 characters of letters, digits and . _ : -")
    return f"{prefix}:key:{hashlib.sha256(key.encode()).hexdigest()[:32]}"
