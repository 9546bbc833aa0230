"""Twitter / X API v2 filtered stream: one JSON object per line over a long HTTP response.

Each line is ``{"data": Tweet, "includes": {"users": [...], "places": [...]}, "matching_rules":
[...]}``; blank lines are keep-alives. The stream has no cursor: after a drop we reconnect
with ``backfill_minutes`` (what the API offers to recover missed tweets) and skip the ids
already yielded. ``geo.coordinates`` (GeoJSON Point, lon/lat) gives exact coordinates; a
tagged place gives its ``full_name`` for the geocoder; the author's profile ``location`` is kept
as the last resort.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx

from feeds.social.adapters.base import Backoff, SeenIds, StreamStats, admit, wait_to_retry
from feeds.social.models import Post

log = logging.getLogger(__name__)
FIELDS = {"tweet.fields": "created_at,lang,geo,entities,referenced_tweets,author_id",
          "expansions": "author_id,geo.place_id", "user.fields": "username,location",
          "place.fields": "full_name,geo"}


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
    """``async for post in TwitterStreamAdapter(url, bearer_token).posts()``."""

    def __init__(self, url: str = "https://api.twitter.com/2/tweets/search/stream", bearer_token: str = "", *,
                 backfill_minutes: int = 5, backoff: Backoff | None = None, max_reconnects: int | None = None) -> None:
        self.url, self.bearer_token, self.backfill_minutes = url, bearer_token, backfill_minutes
        self.backoff = backoff or Backoff()
        self.max_reconnects = max_reconnects
        self.seen = SeenIds()
        self.stats = StreamStats()

    async def posts(self) -> AsyncIterator[Post]:
        headers = {"Authorization": f"Bearer {self.bearer_token}"} if self.bearer_token else {}
        first = True
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=60.0), headers=headers) as http:
            while True:
                params = dict(FIELDS)
                if not first and self.backfill_minutes:
                    params["backfill_minutes"] = str(self.backfill_minutes)
                try:
                    async with http.stream("GET", self.url, params=params) as r:
                        r.raise_for_status()
                        self.backoff.reset()
                        async for line in r.aiter_lines():
                            post = self._handle(line)
                            if post is not None:
                                yield post
                except (TimeoutError, OSError, httpx.HTTPError) as exc:
                    log.warning("twitter stream %s: connection lost (%s); resuming", self.url, exc)
                first = False
                if not await wait_to_retry(self.stats, self.backoff, self.max_reconnects):
                    return

    def checkpoint(self) -> None:
        """No durable resume point: the filtered stream has no cursor (a new process starts live)."""
        return None

    def restore(self, state: dict[str, Any]) -> None:
        """Nothing to restore (see ``checkpoint``)."""

    def _handle(self, line: str) -> Post | None:
        if not line.strip():
            return None  # keep-alive
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            self.stats.skip("not JSON")
            return None
        return admit(lambda: parse_line(doc) if isinstance(doc, dict) else None, seen=self.seen, stats=self.stats,
                     nothing="no tweet", malformed="malformed tweet")
