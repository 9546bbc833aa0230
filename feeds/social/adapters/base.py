"""What every stream adapter shares: reconnect backoff and a bounded memory of ids already yielded."""

from __future__ import annotations

import asyncio
import random
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import ValidationError

from feeds.social.models import Post


@dataclass
class Backoff:
    """Exponential backoff with full jitter, in seconds: ``delay()`` grows, ``reset()`` after success."""

    initial_s: float = 0.5
    max_s: float = 30.0
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self) -> float:
        cap = min(self.max_s, self.initial_s * (2 ** self.attempt))
        self.attempt += 1
        return self.rng.uniform(cap / 2, cap)

    def reset(self) -> None:
        self.attempt = 0


class SeenIds:
    """The last ``size`` ids yielded; a resumed stream replays some, and they are skipped."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def first_time(self, post_id: str) -> bool:
        """True (and remembered) if ``post_id`` was not seen before."""
        if post_id in self._ids:
            return False
        self._ids[post_id] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return True


@dataclass
class StreamStats:
    """Counters an adapter keeps: posts yielded, events skipped by reason, reconnects, and why the
    last connection failed (one line, no secrets)."""

    posts: int = 0
    reconnects: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    last_error: str | None = None

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


MALFORMED = (ValidationError, ValueError, KeyError, TypeError, AttributeError, IndexError)


def admit(parse: Callable[[], Post | None], *, seen: SeenIds, stats: StreamStats, nothing: str,
          malformed: str) -> Post | None:
    """Run ``parse`` and keep its post only the first time its id comes; count every skip by reason."""
    try:
        post = parse()
    except MALFORMED:
        stats.skip(malformed)
        return None
    if post is None:
        stats.skip(nothing)
        return None
    if not seen.first_time(post.id):
        stats.skip("already yielded")
        return None
    stats.posts += 1
    return post


def record_failure(stats: StreamStats, exc: BaseException, explained: str | None = None) -> str:
    """Note why a connection failed in ``stats.last_error`` and return it: ``explained`` if given,
    else the HTTP status (when the server answered one) or the exception type. One line, never the
    exception text, which may carry a URL with a token."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    stats.last_error = explained or (f"HTTP {status}" if isinstance(status, int)
                                     else f"connection lost: {type(exc).__name__}")
    return stats.last_error


async def wait_to_retry(stats: StreamStats, backoff: Backoff, max_reconnects: int | None) -> bool:
    """Count a reconnect and sleep the backoff delay; False when ``max_reconnects`` is used up."""
    stats.reconnects += 1
    if max_reconnects is not None and stats.reconnects > max_reconnects:
        return False
    await asyncio.sleep(backoff.delay())
    return True
