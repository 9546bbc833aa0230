"""Shared intake helpers: idempotency keys, the 202 answer, and where accepted inputs go.

Idempotency keys (``Idempotency-Key`` header, as in the IETF httpapi Idempotency-Key draft) are scoped
to their sender, so no sender can claim, answer or suppress another's key:

- an authenticated sender's key is scoped to its token (``sender`` = the token's identity); the same key
  with the same payload is answered with the original id and ``duplicate: true``; the same key with a
  different payload is refused, 422 naming ``Idempotency-Key`` (``IdempotencyKeyReused``);
- an anonymous sender's key is scoped to the payload itself (key + the payload's digest): the same key
  and payload is a retry (``duplicate: true``), while the same key with another payload is simply a
  different submission, since anonymous senders cannot be told apart.

"The same payload" is the request as its validated model reads it (:func:`request_digest`): canonical
JSON of every field with defaults filled in, so key order, whitespace, number spelling (``1`` vs ``1.0``)
and an explicit ``null`` versus an omitted optional field do not count; any field value that differs does.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Protocol

from pydantic import BaseModel

from emergency.errors import RequestRefused, ValidationFailed
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


def request_digest(payload: BaseModel) -> str:
    """SHA-256 (hex) of a request as its validated model reads it: canonical JSON, sorted keys, every field."""
    canonical = json.dumps(payload.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotent_id(prefix: str, key: str | None, *, sender: str | None = None,
                  payload: BaseModel | None = None) -> str | None:
    """Stable event id for a client's Idempotency-Key scoped to its sender: ``sender`` (an authenticated
    sender's token identity) or, for anonymous senders, the ``payload``'s digest. None when no key; 400 for
    a bad key."""
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.match(key):
        raise RequestRefused("Idempotency-Key", "1-128 characters of letters, digits and . _ : -")
    if sender is not None:
        scope = f"sender:{sender}"
    elif payload is not None:
        scope = f"anonymous:{request_digest(payload)}"
    else:
        raise TypeError("idempotent_id needs the sender or, for an anonymous sender, the payload")
    digest = hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()
    return f"{prefix}:key:{digest[:32]}"


class IdempotencyKeyReused(ValidationFailed):
    """The sender used this Idempotency-Key before for a different payload (422 ``Idempotency-Key``)."""

    def __init__(self) -> None:
        super().__init__("Idempotency-Key", "this key was already used for a different request; a retry must "
                                            "repeat the original request exactly, a new request needs a new key")
