"""Bluesky Jetstream (WebSocket, JSON): ``app.bsky.feed.post`` and ``app.bsky.feed.repost`` creates.

Jetstream replays from ``?cursor=<time_us>`` (microseconds since the epoch). Events arrive
roughly, not strictly, in ``time_us`` order, so on reconnect we rewind the cursor by
``rewind_us`` below the highest ``time_us`` seen and skip the ids already yielded: nothing is
lost and nothing is yielded twice. Bluesky events carry the account DID, not the handle; the
DID is used as ``author`` (private).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from feeds.social.adapters.base import Backoff, SeenIds, StreamStats, admit, wait_to_retry
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

    def _resume_cursor(self) -> int | None:
        return None if self._max_time_us is None else max(0, self._max_time_us - self.rewind_us)

    async def posts(self) -> AsyncIterator[Post]:
        """Posts forever (or until ``max_reconnects`` reconnects have failed)."""
        first = True
        while True:
            url = with_cursor(self.url, self.cursor if first else self._resume_cursor())
            try:
                async with connect(url, max_size=2**22, open_timeout=10) as ws:
                    self.backoff.reset()
                    async for message in ws:
                        post = self._handle(message)
                        if post is not None:
                            yield post
            except (TimeoutError, OSError, WebSocketException) as exc:
                log.warning("jetstream %s: connection lost (%s); resuming", self.url, exc)
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
        return admit(lambda: parse_event(event), seen=self.seen, stats=self.stats, nothing="not a post",
                     malformed="malformed post")
