"""Mastodon streaming API: server-sent events or WebSocket, ``update`` events (Status entities).

The streaming API has no replay cursor, so the cursor is the highest status id seen and a
reconnect first back-fills from the REST timeline (``GET /api/v1/timelines/public?min_id=``,
pages of up to 40, oldest page first) before streaming again; ids already yielded are skipped.
Status ids are numeric strings that grow with time. HTML content becomes plain text.

``access_token`` (many instances require one) goes as ``Authorization: Bearer`` on every
request: SSE, the WebSocket upgrade and the REST back-fill; it is never put in a URL, so it
cannot reach a log line or an error message. A refused token (HTTP 401/403) is reported in
``stats.last_error`` and the log, and retried with the usual backoff.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, WebSocketException

from feeds.social.adapters.base import MALFORMED, Backoff, SeenIds, StreamStats, record_failure, wait_to_retry
from feeds.social.models import Post

log = logging.getLogger(__name__)
_BLOCKS = {"p", "br", "div", "li", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6"}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCKS and tag != "br":
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """Plain text of a Mastodon ``content`` field (paragraphs and <br> become newlines; links keep
    their full URL, including the parts Mastodon hides in "invisible" spans)."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    return "\n".join(line.strip() for line in "".join(parser.parts).strip().splitlines())


def refusal(exc: Exception, has_token: bool) -> str | None:
    """A one-line explanation when ``exc`` is the instance refusing us (HTTP 401/403), else None."""
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
    elif isinstance(exc, InvalidStatus):
        status = exc.response.status_code
    else:
        return None
    if status not in (401, 403):
        return None
    why = "refused the access token" if has_token else "requires an access token"
    return f"HTTP {status}: the instance {why} (EMERGENCY_MASTODON_ACCESS_TOKEN or --access-token)"


def _id_key(status_id: str) -> tuple[int, str]:
    return (int(status_id), "") if status_id.isdigit() else (0, status_id)


def parse_status(status: dict[str, Any], *, source: str = "mastodon") -> list[Post]:
    """Posts from one Status: a boost gives the boosted status (if it has content) then the boost."""
    reblog = status.get("reblog")
    if isinstance(reblog, dict):
        boost = Post(id=str(status["id"]), source=source, text="", created_at=status.get("created_at"),
                     author=(status.get("account") or {}).get("acct"), repost_of=str(reblog["id"]))
        return [*parse_status(reblog, source=source), boost]
    account = status.get("account") or {}
    card = status.get("card") or {}
    links = [card["url"]] if card.get("url") else []
    return [Post(id=str(status["id"]), source=source, text=html_to_text(status.get("content") or ""),
                 created_at=status.get("created_at"), author=account.get("acct"), lang=status.get("language"),
                 tags=[t["name"] for t in status.get("tags") or [] if t.get("name")][:200], links=links,
                 reply_to=str(status["in_reply_to_id"]) if status.get("in_reply_to_id") else None,
                 quote_of=str((status.get("quote") or {}).get("id")) if (status.get("quote") or {}).get("id") else None)]


class SSEParser:
    """Incremental server-sent-events parser: ``feed(line)`` returns (event, data) when an event ends."""

    def __init__(self) -> None:
        self.event, self.data = "message", []

    def feed(self, line: str) -> tuple[str, str] | None:
        if line == "":
            done = (self.event, "\n".join(self.data)) if self.data else None
            self.event, self.data = "message", []
            return done
        if not line.startswith(":"):  # a comment line (":thump" heartbeats) carries nothing
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                self.event = value
            elif name == "data":
                self.data.append(value)
        return None


class MastodonAdapter:
    """``async for post in MastodonAdapter(base_url).posts()`` over SSE (default) or WebSocket.

    ``base_url`` is the instance (``https://mastodon.example``); ``stream`` the timeline
    (``public``, ``public:local``, ``hashtag`` with ``tag``...)."""

    def __init__(self, base_url: str, *, transport: Literal["sse", "websocket"] = "sse", stream: str = "public",
                 tag: str | None = None, access_token: str | None = None, cursor: str | None = None,
                 backoff: Backoff | None = None, max_reconnects: int | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.transport, self.stream, self.tag = transport, stream, tag
        self.access_token, self.cursor = access_token, cursor
        self.backoff = backoff or Backoff()
        self.max_reconnects = max_reconnects
        self.seen = SeenIds()
        self.stats = StreamStats()

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"} if self.access_token else {}

    async def posts(self) -> AsyncIterator[Post]:
        """Posts forever (or until ``max_reconnects`` reconnects have failed)."""
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None), headers=self._headers) as http:
            while True:
                try:
                    if self.cursor is not None:
                        async for post in self._backfill(http):
                            yield post
                    source = self._sse(http) if self.transport == "sse" else self._websocket()
                    async for post in source:
                        yield post
                except (TimeoutError, OSError, httpx.HTTPError, WebSocketException) as exc:
                    refused = refusal(exc, bool(self.access_token))
                    record_failure(self.stats, exc, refused)
                    if refused:
                        log.error("mastodon %s: %s; retrying with backoff", self.base_url, refused)
                    else:
                        log.warning("mastodon %s: connection lost (%s); resuming", self.base_url, exc)
                if not await wait_to_retry(self.stats, self.backoff, self.max_reconnects):
                    return

    def checkpoint(self) -> dict[str, Any] | None:
        """The resume state as JSON-able data: the highest status id seen."""
        return None if self.cursor is None else {"id": self.cursor}

    def restore(self, state: dict[str, Any]) -> None:
        """Resume from a ``checkpoint()`` (before ``posts()``): back-fill what is newer than its id."""
        self.cursor = str(state["id"])

    def _accept(self, status: Any) -> list[Post]:
        if not isinstance(status, dict) or "id" not in status:
            self.stats.skip("not a status")
            return []
        try:
            posts = parse_status(status)
        except MALFORMED:
            self.stats.skip("malformed status")
            return []
        if self.cursor is None or _id_key(str(status["id"])) > _id_key(self.cursor):
            self.cursor = str(status["id"])
        out = [p for p in posts if self.seen.first_time(p.id)]
        self.stats.posts += len(out)
        if len(out) < len(posts):
            self.stats.skip("already yielded")
        return out

    def _event(self, event: str, data: str) -> list[Post]:
        if event != "update":
            self.stats.skip(f"event {event}")
            return []
        try:
            status = json.loads(data)
        except json.JSONDecodeError:
            self.stats.skip("not JSON")
            return []
        return self._accept(status)

    async def _backfill(self, http: httpx.AsyncClient) -> AsyncIterator[Post]:
        path = {"public": "public", "public:local": "public?local=true", "hashtag": f"tag/{self.tag}"}.get(
            self.stream, "public")
        url = f"{self.base_url}/api/v1/timelines/{path}"
        while True:
            r = await http.get(url, params={"min_id": self.cursor, "limit": 40})
            r.raise_for_status()
            page = r.json()
            if not page:
                return
            before = self.cursor
            for status in sorted(page, key=lambda s: _id_key(str(s.get("id", "")))):
                for post in self._accept(status):
                    yield post
            if self.cursor == before:
                return

    def _stream_query(self) -> dict[str, str]:
        q = {"stream": self.stream}
        if self.tag:
            q["tag"] = self.tag
        return q

    async def _sse(self, http: httpx.AsyncClient) -> AsyncIterator[Post]:
        path = {"public": "public", "public:local": "public/local", "hashtag": "hashtag"}.get(self.stream, "public")
        params = {"tag": self.tag} if self.tag else None
        async with http.stream("GET", f"{self.base_url}/api/v1/streaming/{path}", params=params,
                               headers={"Accept": "text/event-stream"}) as r:
            r.raise_for_status()
            self.backoff.reset()
            parser = SSEParser()
            async for line in r.aiter_lines():
                done = parser.feed(line)
                if done is not None:
                    for post in self._event(*done):
                        yield post

    async def _websocket(self) -> AsyncIterator[Post]:
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        query = "&".join(f"{k}={v}" for k, v in self._stream_query().items())
        url = urlunsplit((scheme, parts.netloc, "/api/v1/streaming", query, ""))
        # close_timeout: a consumer leaving with frames still queued cannot read the peer's close
        # frame, so the handshake only ends at the timeout; do not hold shutdown for long
        async with connect(url, additional_headers=self._headers, max_size=2**22, open_timeout=10,
                           close_timeout=1) as ws:
            self.backoff.reset()
            async for message in ws:
                try:
                    frame = json.loads(message)
                    event, payload = frame.get("event"), frame.get("payload")
                except (json.JSONDecodeError, AttributeError):
                    self.stats.skip("not JSON")
                    continue
                for post in self._event(str(event), payload if isinstance(payload, str) else json.dumps(payload)):
                    yield post
