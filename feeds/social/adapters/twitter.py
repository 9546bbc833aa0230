"""Twitter / X API v2 filtered stream: one JSON object per line over a long HTTP response.

Each line is ``{"data": Tweet, "includes": {"users": [...], "places": [...]}, "matching_rules":
[...]}``; blank lines are keep-alives. The stream has no cursor; what the API offers to recover
missed tweets is ``backfill_minutes`` (1-5). So the resume point is the newest ``created_at``
seen and the ids seen within ``BACKFILL_MAX`` of it: a reconnect, or a new process after
``restore(checkpoint())``, asks for the minutes since that time (rounded up, at least 1) and
skips those ids; when it is more than 5 minutes old no backfill can cover the gap, which is
logged. ``geo.coordinates`` (GeoJSON Point, lon/lat) gives exact coordinates; a
tagged place gives its ``full_name`` for the geocoder; the author's profile ``location`` is kept
as the last resort.
"""

from __future__ import annotations

import json
import logging
import math
from collections import deque
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from emergency.events import utcnow
from feeds.social.adapters.base import Backoff, SeenIds, StreamStats, admit, record_failure, wait_to_retry
from feeds.social.models import Post

log = logging.getLogger(__name__)
FIELDS = {"tweet.fields": "created_at,lang,geo,entities,referenced_tweets,author_id",
          "expansions": "author_id,geo.place_id", "user.fields": "username,location",
          "place.fields": "full_name,geo"}
BACKFILL_MAX = timedelta(minutes=5)  # the most the filtered stream can replay


def parse_line(doc: dict[str, Any]) -> Post | None:
    """The Post in one stream line, or None when it holds no tweet. Raises on a malformed tweet."""
    data = doc.get("data")
    if not isinstance(data, dict):
        return None
    includes = doc.get("includes") or {}
    users = {u.get("id"): u for u in includes.get("users") or []}
    places = {p.get("id"): p for p in includes.get("places") or []}
    user = users.get(data.get("author_id")) or {}
    geo = data.get("geo") or {}
    point = (geo.get("coordinates") or {}).get("coordinates") if (geo.get("coordinates") or {}).get("type") == "Point" \
        else None
    refs = {r.get("type"): str(r.get("id")) for r in data.get("referenced_tweets") or []}
    entities = data.get("entities") or {}
    text = data.get("text") or ""
    repost_of = refs.get("retweeted")
    return Post(id=str(data["id"]), source="twitter", text=text, created_at=data.get("created_at"),
                author=user.get("username") or data.get("author_id"), lang=data.get("lang"),
                lat=point[1] if point else None, lon=point[0] if point else None,
                links=[u["expanded_url"] for u in entities.get("urls") or [] if u.get("expanded_url")][:100],
                tags=[h["tag"] for h in entities.get("hashtags") or [] if h.get("tag")][:200],
                reply_to=refs.get("replied_to"), repost_of=repost_of, quote_of=refs.get("quoted"),
                place_name=(places.get(geo.get("place_id")) or {}).get("full_name"),
                profile_location=user.get("location"))


class TwitterStreamAdapter:
    """``async for post in TwitterStreamAdapter(url, bearer_token).posts()``; ``now`` is the clock
    the backfill minutes are measured with (aware UTC)."""

    def __init__(self, url: str = "https://api.twitter.com/2/tweets/search/stream", bearer_token: str = "", *,
                 backoff: Backoff | None = None, max_reconnects: int | None = None,
                 now: Callable[[], datetime] = utcnow) -> None:
        self.url, self.bearer_token, self.now = url, bearer_token, now
        self.backoff = backoff or Backoff()
        self.max_reconnects = max_reconnects
        self.seen = SeenIds()
        self.stats = StreamStats()
        self._newest: datetime | None = None  # newest created_at seen
        self._recent: deque[tuple[datetime, str]] = deque()  # (created_at, id) yielded, roughly in order

    def backfill_minutes(self) -> int | None:
        """Minutes to ask the API to replay on (re)connect: since the newest tweet seen, rounded up
        to 1..5; None before any tweet, or when that tweet is older than 5 minutes (a gap may exist)."""
        if self._newest is None:
            return None
        behind = self.now() - self._newest
        if behind > BACKFILL_MAX:
            log.warning("twitter stream %s: the last tweet seen is %d min old, more than the %d min the API can "
                        "backfill: tweets in between may be missing", self.url, behind // timedelta(minutes=1),
                        BACKFILL_MAX // timedelta(minutes=1))
            return None
        return min(5, max(1, math.ceil(behind / timedelta(minutes=1))))

    async def posts(self) -> AsyncIterator[Post]:
        """Posts forever (or until ``max_reconnects`` reconnects have failed)."""
        headers = {"Authorization": f"Bearer {self.bearer_token}"} if self.bearer_token else {}
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=60.0), headers=headers) as http:
            while True:
                params = dict(FIELDS)
                minutes = self.backfill_minutes()
                if minutes is not None:
                    params["backfill_minutes"] = str(minutes)
                try:
                    async with http.stream("GET", self.url, params=params) as r:
                        r.raise_for_status()
                        self.backoff.reset()
                        async for line in r.aiter_lines():
                            post = self._handle(line)
                            if post is not None:
                                yield post
                except (TimeoutError, OSError, httpx.HTTPError) as exc:
                    log.warning("twitter stream %s: %s (%s); resuming", self.url, record_failure(self.stats, exc), exc)
                if not await wait_to_retry(self.stats, self.backoff, self.max_reconnects):
                    return

    def checkpoint(self) -> dict[str, Any] | None:
        """The resume state as JSON-able data: the newest ``created_at`` seen (ISO 8601 UTC) and the
        ids of the tweets yielded within 5 minutes of it, which a backfill would replay."""
        if self._newest is None:
            return None
        floor = self._newest - BACKFILL_MAX
        return {"created_at": self._newest.isoformat(), "recent": [i for t, i in self._recent if t >= floor]}

    def restore(self, state: dict[str, Any]) -> None:
        """Resume from a ``checkpoint()`` (before ``posts()``): backfill since its time, its ids skipped."""
        self._newest = datetime.fromisoformat(str(state["created_at"]))
        for post_id in state.get("recent", []):
            self.seen.first_time(str(post_id))
            self._recent.append((self._newest, str(post_id)))

    def _handle(self, line: str) -> Post | None:
        if not line.strip():
            return None  # keep-alive
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            self.stats.skip("not JSON")
            return None
        post = admit(lambda: parse_line(doc) if isinstance(doc, dict) else None, seen=self.seen, stats=self.stats,
                     nothing="no tweet", malformed="malformed tweet")
        if post is not None:
            at = post.created_at or self.now()
            self._newest = at if self._newest is None else max(self._newest, at)
            self._recent.append((at, post.id))
            floor = self._newest - BACKFILL_MAX
            while self._recent and self._recent[0][0] < floor:
                self._recent.popleft()
        return post
