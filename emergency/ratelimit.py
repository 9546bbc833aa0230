"""The one rate limiter of the intake paths: per client address, per contact, per partner application.

Every way a citizen report comes in (``POST /api/v1/reports`` JSON and multipart, Open311 ``POST requests``,
the SMS and email intake), the alert subscription creation and the registry self-registration count against
the same ``IntakeLimits``
(``Runtime.intake_limits``): a moving window per key (the ``limits`` package), in memory, **per process**:
with several API processes each keeps its own count, so the effective limit is the setting times the number
of processes (a shared storage such as Redis would make it global; none is wired today).

Keys never hold a contact in the clear: a contact is counted by the SHA-256 of its normalised form (email
addresses lower-cased, phone numbers reduced to their digits). A client address is what the ASGI server says
the peer is (behind a reverse proxy, run uvicorn with ``--proxy-headers`` and ``--forwarded-allow-ips`` so
it is the citizen's address, not the proxy's).

A request over a limit raises ``emergency.errors.RateLimited`` (429 with ``Retry-After``), whose ``detail``
names the limit and its setting, never the key.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from emergency.errors import RateLimited


@dataclass(frozen=True)
class Limit:
    """One configured limit: its rate, what it counts per (``per``: "address", "contact"...) and its setting."""

    name: str
    rate: RateLimitItem
    per: str
    setting: str

    def describe(self) -> str:
        """``60 per 1 minute from one address (EMERGENCY_INTAKE_RATE)``."""
        r = self.rate
        return f"{r.amount} per {r.multiples} {r.GRANULARITY.name} from one {self.per} ({self.setting})"


def contact_key(contact: str) -> str:
    """The key a contact is counted under: SHA-256 of the lower-cased address, or of a number's digits."""
    text = contact.strip().lower()
    if "@" not in text:
        digits = re.sub(r"\D", "", text)
        text = digits or text
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class IntakeLimits:
    """Moving-window limits per key, in this process's memory; ``check`` counts one request or refuses it."""

    def __init__(self, limits: list[Limit]) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self.limits = {limit.name: limit for limit in limits}

    @classmethod
    def from_settings(cls, settings: Any) -> IntakeLimits:
        """The limits of ``emergency.config.Settings``: reports per address, per contact, per partner; subscriptions."""
        return cls([
            Limit("address", parse(settings.intake_rate), "address", "EMERGENCY_INTAKE_RATE"),
            Limit("contact", parse(settings.intake_contact_rate), "contact", "EMERGENCY_INTAKE_CONTACT_RATE"),
            Limit("partner", parse(settings.intake_partner_rate), "partner application",
                  "EMERGENCY_INTAKE_PARTNER_RATE"),
            Limit("subscription", parse(settings.subscribe_rate), "address", "EMERGENCY_SUBSCRIBE_RATE"),
            Limit("registration", parse(settings.registry_register_rate), "address",
                  "EMERGENCY_REGISTRY_REGISTER_RATE"),  # public self-registration (alerts.registry.selfservice)
        ])

    async def check(self, *, field: str = "rate", **keys: str | None) -> None:
        """Count one request against each named limit (``address=``, ``contact=``, ``partner=``, ``subscription=``
        with its key; None skips it); ``RateLimited`` naming ``field`` and the first limit it is over.

        Every limit is tested before any is counted, so a refused request uses up none of them.
        """
        wanted = [(self.limits[name], self._key(name, key)) for name, key in keys.items() if key]
        for limit, key in wanted:
            if not await self._limiter.test(limit.rate, limit.name, key):
                raise await self._refusal(limit, key, field)
        for limit, key in wanted:
            if not await self._limiter.hit(limit.rate, limit.name, key):  # another request took the last slot
                raise await self._refusal(limit, key, field)

    async def check_contact(self, contact: str, *, field: str = "rate") -> None:
        """The hook of the SMS and email intake: count one report from ``contact`` (a phone number or an address)."""
        await self.check(field=field, contact=contact)

    @staticmethod
    def _key(name: str, key: str) -> str:
        return contact_key(key) if name == "contact" else key

    async def _refusal(self, limit: Limit, key: str, field: str) -> RateLimited:
        stats = await self._limiter.get_window_stats(limit.rate, limit.name, key)
        retry = max(1, math.ceil(stats.reset_time - time.time()))
        return RateLimited(field, f"at most {limit.describe()}; try again in {retry} s", retry)
