"""How much of the picture one client may read: page-size caps and a per-client read budget.

Reads of the picture are the heaviest answers the system gives (a 50,000-item page is ~40 MB of
GeoJSON) and they are public, while intake is what the system is for. So:

- a read without a coordinator or admin token may ask for at most ``Settings.anon_max_limit``
  items per page; a larger ``limit`` is refused (422 naming ``limit`` and the cap), never clipped;
- every client has a read budget in items per moving window (the ``limits`` package, in-memory
  storage, per process), and each read counts the ``limit`` it asks for. Clients without a valid
  token are told apart by address, the others by token. A read beyond the budget gets 429 with
  ``Retry-After`` and a detail naming the budget;
- at most ``Settings.read_concurrency`` pages are read and encoded at once (encoding runs in a worker
  thread); further reads wait their turn, so reads queue behind each other, not in front of intake;
- intake routes never pass through here: no amount of reading refuses a report.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from emergency.auth.models import TokenRecord
from emergency.auth.tokens import Role
from emergency.errors import ValidationFailed

FULL_READ_ROLES = frozenset({Role.coordinator.value, Role.admin.value})  # may use a layer's own max_limit


def check_page_size(*, limit: int, layer_max: int, anon_max: int, principal: TokenRecord | None) -> None:
    """Refuse (``ValidationFailed`` naming ``limit``) a page larger than the caller may ask for."""
    if principal is not None and FULL_READ_ROLES & set(principal.roles):
        return  # the route's own bound (layer_max) applies
    if limit > anon_max:
        raise ValidationFailed("limit", f"at most {anon_max} items per page without a coordinator or admin token "
                                        f"(with one: up to {layer_max}); got {limit}; page on with `next`")


@dataclass(frozen=True)
class Overdrawn:
    """A read that does not fit the client's budget: when to come back, and the budget it hit."""

    retry_after_s: int
    budget: RateLimitItem

    def detail(self) -> str:
        """The 429's ``detail``: ``limit: ...`` naming the budget and when to try again."""
        per = f"{self.budget.multiples} {self.budget.GRANULARITY.name}" if self.budget.multiples > 1 \
            else self.budget.GRANULARITY.name
        return (f"limit: read budget spent: a client may ask for {self.budget.amount} items of the picture per "
                f"{per} (each read counts its `limit`); try again in {self.retry_after_s} s, or ask for fewer")


class ReadBudget:
    """Items of the picture per client per moving window (in memory, this process), and the read slots."""

    def __init__(self, *, anonymous: str, authenticated: str, concurrency: int) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self.anonymous, self.authenticated = parse(anonymous), parse(authenticated)
        self._slots = asyncio.Semaphore(concurrency)

    def slot(self) -> asyncio.Semaphore:
        """Held while a page is read and encoded: at most ``concurrency`` at once, the others wait their turn
        (so however many clients read, the loop and the store stay free for intake)."""
        return self._slots

    async def spend(self, *, client: str, items: int, authenticated: bool) -> Overdrawn | None:
        """Count ``items`` against ``client``'s budget; None when they fit, else an ``Overdrawn``."""
        budget = self.authenticated if authenticated else self.anonymous
        cost = max(1, min(items, budget.amount))  # one read may always use a whole window
        if await self._limiter.hit(budget, client, cost=cost):
            return None
        stats = await self._limiter.get_window_stats(budget, client)
        return Overdrawn(max(1, math.ceil(stats.reset_time - time.time())), budget)


def client_key(*, principal: TokenRecord | None, address: str | None) -> str:
    """Whose budget a read spends: the token's (by hash) when valid, else the client address's."""
    return f"token:{principal.token_hash}" if principal is not None else f"addr:{address or 'unknown'}"


__all__ = ["FULL_READ_ROLES", "Overdrawn", "ReadBudget", "check_page_size", "client_key"]
