"""The feed poller: one background task per system (it runs where the stream workers run).

Each feed is fetched on its interval with a conditional GET (``If-None-Match`` / ``If-Modified-Since`` from
the validators saved in its cursor ``feed:<name>``), bounded by ``EMERGENCY_FEED_TIMEOUT_S`` and
``EMERGENCY_FEED_MAX_BYTES``. A 304, or a body identical to the last one, journals nothing. A new body is
recognised and parsed (off the event loop), compared item by item with the stored hashes
(``feeds.external.service.diff``), and only new, changed and ended items are journaled to ``raw.feeds``;
then the hashes, then the validators are saved, so a crash in between re-reads the body and journals the
same versions again (harmless: the projection keeps the newest). A failed poll (network error, timeout,
HTTP error, too large, unknown format) is counted and retried after the interval doubled per failure in a
row, capped at ``EMERGENCY_FEED_BACKOFF_MAX_S`` (a longer ``Retry-After`` is honoured). Feeds added through
the admin API are checked by the outbound-URL guard again before every request (DNS may have changed), and
their redirects are not followed.

Where several workers run (scale-out), each feed is polled by one of them at a time: a poll takes the store
lease ``feed:<name>`` first (``emergency.store.leases``; it expires after twice the longest a poll may take,
so a crashed worker's feed is taken over), and a due poll re-reads the saved state under the lease, so a
feed another worker has just polled is not fetched (or journaled) again before its next interval.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx

from emergency.config import Settings
from emergency.errors import RequestRefused
from emergency.events import utcnow
from emergency.metrics import Registry
from emergency.netguard import check_outbound_url, parse_allow_hosts
from emergency.store.base import Store
from emergency.store.cursors import CURSORS
from emergency.store.leases import LEASES, holder_name, leased
from emergency.stream.topics import RAW_FEEDS
from feeds.external import service
from feeds.external.formats import UnknownFormat, ZoneResolver, parse
from feeds.external.models import FeedConfig, FeedState
from feeds.external.repository import FEEDS
from feeds.intake import Submitter

log = logging.getLogger(__name__)
USER_AGENT = "emergency-cop feed poller (+https://github.com/)"
REFRESH_FEEDS_S = 5.0  # how often the loop re-reads the feed list (admin-added feeds)
TICK_S = 0.5
LEASE_BUSY_RETRY_S = 5.0  # a feed another worker is polling: look again after this long


class PollFailed(Exception):
    """A poll that got no usable answer; the message is safe to show (no URL, no credentials)."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class FeedRemoved(Exception):
    """The admin deleted the feed during its poll."""


class FeedPoller:
    """Polls every configured feed on its interval and journals what changed."""

    def __init__(self, *, settings: Settings, store: Store, submitter: Submitter, metrics: Registry,
                 zones: Callable[[], ZoneResolver | None] | None = None,
                 client: httpx.AsyncClient | None = None) -> None:
        self.settings, self.store, self.submitter, self.metrics = settings, store, submitter, metrics
        self._zones = zones or (lambda: None)
        self._client = client
        self._own_client = client is None
        self._due: dict[str, datetime] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._allow = parse_allow_hosts(settings.webhook_allow_hosts)
        self.holder = holder_name()  # this poller's name on the feed leases

    def client(self) -> httpx.AsyncClient:
        """The poller's HTTP client (one connection pool for every feed)."""
        if self._client is None:
            t = self.settings.feed_timeout_s
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(t, connect=min(t, 5.0)),
                                             headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip"},
                                             limits=httpx.Limits(max_connections=32))
        return self._client

    async def close(self) -> None:
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def run(self) -> None:
        """Poll for ever: each feed when it is due, a few at a time."""
        feeds: list[FeedConfig] = []
        refreshed = 0.0
        loop = asyncio.get_running_loop()
        running: dict[str, asyncio.Task] = {}
        try:
            while True:
                if loop.time() - refreshed >= REFRESH_FEEDS_S:
                    try:
                        feeds = await service.all_feeds(store=self.store, settings=self.settings)
                        refreshed = loop.time()
                    except Exception as exc:  # the store is away: keep the list we have
                        log.warning("feed list not readable: %s", exc or type(exc).__name__)
                now = utcnow()
                for feed in feeds:
                    task = running.get(feed.name)
                    if task is not None and not task.done():
                        continue
                    if feed.name not in self._due:
                        self._due[feed.name] = await self._first_due(feed)
                    if self._due[feed.name] <= now:
                        running[feed.name] = asyncio.create_task(self._poll_logged(feed), name=f"feed-{feed.name}")
                await asyncio.sleep(TICK_S)
        finally:
            for task in running.values():
                task.cancel()
            if running:
                await asyncio.wait(running.values(), timeout=5)
            await self.close()

    async def _first_due(self, feed: FeedConfig) -> datetime:
        """When a feed first seen by this loop is due: its saved ``next_poll`` if the URL is the same, else now."""
        try:
            state = await service.load_state(store=self.store, feed=feed.name)
        except Exception:
            return utcnow()
        if state.url == feed.url and state.next_poll:
            return min(datetime.fromisoformat(state.next_poll), utcnow() + timedelta(seconds=feed.interval_s))
        return utcnow()

    async def _poll_logged(self, feed: FeedConfig) -> None:
        try:
            await self.poll(feed, if_due=True)
        except asyncio.CancelledError:
            raise
        except Exception:  # poll() counts its own failures; this is a defect, never a stop of the loop
            log.exception("feed %s: poll crashed", feed.name)
            self._due[feed.name] = utcnow() + timedelta(seconds=feed.interval_s)

    async def _removed(self, feed: FeedConfig) -> bool:
        """Whether an admin-added feed was deleted since the loop read the feed list."""
        if feed.origin != "admin":
            return False
        return all(f.name != feed.name for f in await self.store.repository(FEEDS).list_feeds())

    def lease_ttl_s(self) -> float:
        """How long a feed's lease lasts: twice the longest one poll may take (fetch, parse, journal)."""
        return 2 * (self.settings.feed_timeout_s + 60.0)

    async def poll(self, feed: FeedConfig, *, if_due: bool = False) -> FeedState | None:
        """Poll ``feed`` once now: fetch, journal what changed, save the state; returns the state saved. None when
        nothing was fetched: the admin deleted the feed meanwhile, another worker holds its lease, or (``if_due``,
        the loop's calls) another worker polled it since and its next poll is not due yet."""
        lock = self._locks.setdefault(feed.name, asyncio.Lock())
        async with lock:
            async with leased(self.store.repository(LEASES), f"feed:{feed.name}", self.holder,
                              ttl_s=self.lease_ttl_s()) as held:
                if not held:
                    self._due[feed.name] = utcnow() + timedelta(seconds=min(feed.interval_s, LEASE_BUSY_RETRY_S))
                    return None
                return await self._poll_leased(feed, if_due=if_due)

    async def _poll_leased(self, feed: FeedConfig, *, if_due: bool) -> FeedState | None:
        if await self._removed(feed):
            self._due.pop(feed.name, None)
            return None
        state = await service.load_state(store=self.store, feed=feed.name)
        if if_due and state.url == feed.url and state.next_poll:
            due = datetime.fromisoformat(state.next_poll)
            if due > utcnow():  # another worker polled it after this one planned to
                self._due[feed.name] = due
                return None
        if state.url != feed.url:  # validators and the last body belong to another URL
            state = FeedState(errors=state.errors, polls=state.polls, not_modified=state.not_modified,
                              changes=state.changes, last_change=state.last_change, items=state.items)
            state.url = feed.url
        now = utcnow()
        state.last_poll = now.isoformat()
        state.polls += 1
        self.metrics.feed_polls.inc(feed=feed.name)
        delay = feed.interval_s
        try:
            await self._poll(feed, state, now)
            state.failures, state.last_error = 0, None
        except FeedRemoved:
            self._due.pop(feed.name, None)
            return None
        except PollFailed as exc:
            state.errors += 1
            state.failures += 1
            state.last_error = str(exc)
            self.metrics.feed_errors.inc(feed=feed.name)
            delay = min(self.settings.feed_backoff_max_s, feed.interval_s * 2 ** state.failures)
            if exc.retry_after_s:
                delay = max(delay, min(exc.retry_after_s, self.settings.feed_backoff_max_s))
            log.info("feed %s: %s (%d in a row); next try in %.0f s", feed.name, exc, state.failures, delay)
        due = utcnow() + timedelta(seconds=delay)
        state.next_poll = due.isoformat()
        await self.store.repository(CURSORS).put(service.cursor_name(feed.name), state.to_json())
        self._due[feed.name] = due
        self.metrics.feed_items.set(state.items, feed=feed.name)
        return state

    async def _poll(self, feed: FeedConfig, state: FeedState, now: datetime) -> None:
        body, response = await self._fetch(feed, state)
        if body is None:
            state.not_modified += 1
            self.metrics.feed_not_modified.inc(feed=feed.name)
            return
        digest = hashlib.sha256(body).hexdigest()
        validators = response.headers.get("etag"), response.headers.get("last-modified")
        if digest == state.body_hash and state.format:  # the same body again (a server without validators)
            state.etag, state.last_modified = validators
            return
        zones = self._zones()
        try:
            parsed = await asyncio.to_thread(parse, body, zones=zones)
        except UnknownFormat as exc:
            state.format = None
            raise PollFailed(f"unknown format: {exc}") from None
        except ValueError as exc:
            raise PollFailed(f"unreadable {state.format or 'feed'}: {exc}"[:300]) from None
        repo = self.store.repository(FEEDS)
        if await self._removed(feed):  # deleted while we fetched: its items were ended, do not bring them back
            raise FeedRemoved
        changes = service.diff(feed=feed.name, parsed=parsed, stored=await repo.items(feed.name), at=now)
        for envelope in changes.envelopes:
            await self.submitter.submit(envelope, RAW_FEEDS, on_conflict="append")
        if changes.put or changes.remove:
            await repo.apply(feed.name, put=changes.put, remove=changes.remove)
        for what, n in (("new", changes.new), ("changed", changes.changed), ("ended", changes.ended)):
            if n:
                self.metrics.feed_changes.inc(n, feed=feed.name, change=what)
        if changes.envelopes:
            state.last_change = now.isoformat()
            state.changes += len(changes.envelopes)
        state.format, state.items, state.unlocated = parsed.format, len(parsed.items), parsed.unlocated
        state.body_hash = digest
        state.etag, state.last_modified = validators

    async def _fetch(self, feed: FeedConfig, state: FeedState) -> tuple[bytes | None, httpx.Response]:
        """The new body (None for 304 Not Modified) and the response; PollFailed for anything unusable."""
        admin = feed.origin == "admin"
        if admin:
            try:
                await check_outbound_url(feed.url, field="url", allow_hosts=self._allow)
            except RequestRefused as exc:
                raise PollFailed(f"refused by the outbound-URL guard: {exc.message}") from None
        headers = {}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        limit = self.settings.feed_max_bytes
        try:
            async with asyncio.timeout(self.settings.feed_timeout_s):
                async with self.client().stream("GET", feed.url, headers=headers,
                                                follow_redirects=not admin) as response:
                    if response.status_code == 304:
                        return None, response
                    if response.status_code != 200:
                        raise PollFailed(_status_message(response), _retry_after(response))
                    declared = response.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > limit:
                        raise PollFailed(f"the body is larger than {limit} bytes")
                    chunks, size = [], 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > limit:
                            raise PollFailed(f"the body is larger than {limit} bytes")
                        chunks.append(chunk)
                    return b"".join(chunks), response
        except TimeoutError:
            raise PollFailed(f"no complete answer within {self.settings.feed_timeout_s:g} s") from None
        except httpx.HTTPError as exc:  # connection refused, reset, protocol errors: the type, never the URL
            raise PollFailed(f"request failed ({type(exc).__name__})") from None


def _status_message(response: httpx.Response) -> str:
    if response.is_redirect:
        return f"HTTP {response.status_code}: redirects are not followed for feeds added through the API"
    return f"HTTP {response.status_code}"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None
