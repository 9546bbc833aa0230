"""Bluesky Jetstream (WebSocket, JSON): ``app.bsky.feed.post`` and ``app.bsky.feed.repost`` creates.

Jetstream replays from ``?cursor=<time_us>`` (microseconds since the epoch). Events arrive
roughly, not strictly, in ``time_us`` order, so on reconnect we rewind the cursor by
``rewind_us`` below the highest ``time_us`` seen and skip the ids already yielded: nothing is
lost and nothing is yielded twice. Bluesky events carry the account DID, not the handle; the
DID is used as ``author`` (private).

``checkpoint()`` is the durable form of that state: the highest ``time_us`` and the (time_us,
id) of the posts yielded inside the rewind window; ``restore()`` in a new process rewinds the
same way and skips exactly those ids.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from feeds.social.adapters.base import Backoff, SeenIds, StreamStats, admit, record_failure, wait_to_retry
from feeds.social.models import Post

log = logging.getLogger(__name__)
POST = "app.bsky.feed.post"
REPOST = "app.bsky.feed.repost"


def _uri(did: str, collection: str, rkey: str) -> str:
    return f"at://{did}/{collection}/{rkey}"


def parse_event(event: dict[str, Any]) -> Post | None:
    """The Post in one Jetstream event, or None for anything that is not a post or repost create.
    Raises ValueError/ValidationError for a malformed post record."""
    commit = event.get("commit")
    if event.get("kind") != "commit" or not isinstance(commit, dict) or commit.get("operation") != "create":
        return None
    collection, did, record = commit.get("collection"), event.get("did"), commit.get("record") or {}
    if collection not in (POST, REPOST) or not did:
        return None
    uri = _uri(did, collection, commit["rkey"])
    if collection == REPOST:
        return Post(id=uri, source="bluesky", author=did, text="", created_at=record.get("createdAt"),
                    repost_of=(record.get("subject") or {}).get("uri"))
    links, tags = [], []
    for facet in record.get("facets") or []:
        for feature in facet.get("features") or []:
            kind = feature.get("$type", "")
            if kind.endswith("#link") and feature.get("uri"):
                links.append(feature["uri"])
            elif kind.endswith("#tag") and feature.get("tag"):
                tags.append(feature["tag"])
    embed = record.get("embed") or {}
    external = (embed.get("external") or {}).get("uri")
    if external and external not in links:
        links.append(external)
    quoted = (embed.get("record") or {}).get("uri") or ((embed.get("record") or {}).get("record") or {}).get("uri")
    langs = record.get("langs") or []
    return Post(id=uri, source="bluesky", author=did, text=record.get("text") or "", created_at=record.get("createdAt"),
                lang=langs[0] if langs else None, links=links[:100], tags=tags[:200],
                reply_to=((record.get("reply") or {}).get("parent") or {}).get("uri"), quote_of=quoted)


def with_cursor(url: str, cursor: int | None) -> str:
    """``url`` asking for posts and reposts, from ``cursor`` (time_us) when given."""
    parts = urlsplit(url)
    query = [("wantedCollections", POST), ("wantedCollections", REPOST)]
    if cursor is not None:
        query.append(("cursor", str(cursor)))
    extra = "&".join(q for q in [parts.query, urlencode(query)] if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/subscribe", extra, ""))


class JetstreamAdapter:
    """``async for post in JetstreamAdapter(url).posts()``; ``cursor`` is the resume point (time_us)."""

    def __init__(self, url: str, *, cursor: int | None = None, rewind_us: int = 5_000_000,
                 backoff: Backoff | None = None, max_reconnects: int | None = None) -> None:
        self.url, self.cursor, self.rewind_us = url, cursor, rewind_us
        self.backoff = backoff or Backoff()
        self.max_reconnects = max_reconnects
        self.seen = SeenIds()
        self.stats = StreamStats()
        self._max_time_us: int | None = cursor
        self._recent: deque[tuple[int, str]] = deque()  # (time_us, id) of posts yielded, roughly in order

    def _resume_cursor(self) -> int | None:
        return None if self._max_time_us is None else max(0, self._max_time_us - self.rewind_us)

    async def posts(self) -> AsyncIterator[Post]:
        """Posts forever (or until ``max_reconnects`` reconnects have failed)."""
        first = True
        while True:
            url = with_cursor(self.url, self.cursor if first else self._resume_cursor())
            try:
                # close_timeout: a consumer leaving with frames still queued cannot read the peer's close
                # frame, so the handshake only ends at the timeout; do not hold shutdown for long
                async with connect(url, max_size=2**22, open_timeout=10, close_timeout=1) as ws:
                    self.backoff.reset()
                    async for message in ws:
                        post = self._handle(message)
                        if post is not None:
                            yield post
            except (TimeoutError, OSError, WebSocketException) as exc:
                log.warning("jetstream %s: %s (%s); resuming", self.url, record_failure(self.stats, exc), exc)
            first = False
            if not await wait_to_retry(self.stats, self.backoff, self.max_reconnects):
                return

    def _handle(self, message: str | bytes) -> Post | None:
        try:
            event = json.loads(message)
        except (json.JSONDecodeError, UnicodeDecodeError):
            self.stats.skip("not JSON")
            return None
        if not isinstance(event, dict):
            self.stats.skip("not an object")
            return None
        time_us = event.get("time_us")
        if isinstance(time_us, int):
            self._max_time_us = time_us if self._max_time_us is None else max(self._max_time_us, time_us)
            self.cursor = self._max_time_us
        post = admit(lambda: parse_event(event), seen=self.seen, stats=self.stats, nothing="not a post",
                     malformed="malformed post")
        if post is not None and isinstance(time_us, int):
            self._recent.append((time_us, post.id))
            floor = (self._max_time_us or 0) - self.rewind_us
            while self._recent and self._recent[0][0] < floor:
                self._recent.popleft()
        return post

    def checkpoint(self) -> dict[str, Any] | None:
        """The resume state as JSON-able data: highest time_us seen and the posts yielded within
        ``rewind_us`` of it (``[time_us, id]`` pairs), which a rewound replay would repeat."""
        if self._max_time_us is None:
            return None
        floor = self._max_time_us - self.rewind_us
        return {"time_us": self._max_time_us, "recent": [[t, i] for t, i in self._recent if t >= floor]}

    def restore(self, state: dict[str, Any]) -> None:
        """Resume from a ``checkpoint()`` (before ``posts()``): rewound cursor, its posts skipped."""
        self._max_time_us = int(state["time_us"])
        self.cursor = self._resume_cursor()
        for t, post_id in state.get("recent", []):
            self.seen.first_time(str(post_id))
            self._recent.append((int(t), str(post_id)))
