"""Stream runners: one live adapter → the social pipeline → clusters journaled to raw.social,
with its resume point kept durably in the store.

A runner takes the adapter's checkpoint (Jetstream ``time_us`` and the posts yielded within
its rewind window, Mastodon's highest status id), journals every changed cluster, and only
then stores the checkpoint under the stream's cursor name (``social:<network>:<url>``). So a
stored cursor never points past a post whose cluster is not in the journal, and a restarted
process resumes from it without loss or duplicates. A starting runner also puts back the
clusters it journaled within the deduper's window (``feeds.social.resume``), so a copy of an
already mapped post updates that item instead of starting a second one.

``EMERGENCY_SOCIAL_STREAMS`` lists the streams the system runs itself (``Runtime`` starts one
supervised runner per entry, sharing the API process's rules holder); ``emergency social
stream`` runs one on its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import parse_qs, urlsplit, urlunsplit

from emergency.config import Settings
from emergency.errors import EmergencyError
from emergency.store.base import Store
from emergency.store.cursors import CURSORS
from feeds.social.pipeline import ClusterPublisher, RulesHolder, Sink, SocialPipeline
from feeds.social.resume import seed_from_journal
from feeds.social.service import RulesWatcher, runtime_sink, shared_rules

log = logging.getLogger(__name__)
Network = Literal["jetstream", "mastodon", "twitter"]
NETWORKS: tuple[Network, ...] = ("jetstream", "mastodon", "twitter")
_ENTRY = re.compile(r",\s*(?=[A-Za-z][\w-]*\s*=)")  # a new entry starts at "name=": "?tag=a,b" stays one URL
SETTING = "EMERGENCY_SOCIAL_STREAMS"


class Adapter(Protocol):
    stats: Any

    def posts(self) -> Any: ...
    def checkpoint(self) -> dict[str, Any] | None: ...
    def restore(self, state: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class StreamSpec:
    """One stream: its network and URL (see ``parse_streams``)."""

    network: Network
    url: str

    @property
    def cursor_name(self) -> str:
        """Name of this stream's durable cursor in the store."""
        return f"social:{self.network}:{self.url}"


def parse_streams(text: str, *, field: str = SETTING) -> list[StreamSpec]:
    """``jetstream=wss://host/subscribe,mastodon=https://host/api/v1/streaming/public`` → specs.
    Raises EmergencyError naming ``field`` and the reason for a bad entry."""
    specs: list[StreamSpec] = []
    for entry in (e.strip() for e in _ENTRY.split(text.strip()) if e.strip()):
        network, sep, url = (part.strip() for part in entry.partition("="))
        if not sep or network not in NETWORKS:
            raise EmergencyError(f"{field}: {entry!r}: expected NETWORK=URL with NETWORK one of {', '.join(NETWORKS)}")
        parts = urlsplit(url)
        schemes = ("ws", "wss") if network == "jetstream" else ("http", "https", "ws", "wss") \
            if network == "mastodon" else ("http", "https")
        if parts.scheme not in schemes or not parts.netloc:
            raise EmergencyError(f"{field}: {network}: {url!r} is not a {'/'.join(schemes)} URL")
        spec = StreamSpec(network, url)  # type: ignore[arg-type]
        if spec in specs:
            raise EmergencyError(f"{field}: {entry!r} is listed twice")
        specs.append(spec)
    return specs


def _mastodon(url: str, cursor: str | None, transport: str | None, access_token: str) -> Adapter:
    """A Mastodon adapter from an instance URL or a streaming URL (``/api/v1/streaming/public``,
    ``.../public/local``, ``.../hashtag?tag=x``; ``ws(s)://host/api/v1/streaming?stream=public``
    selects the WebSocket transport), sending ``access_token`` when not empty."""
    from feeds.social.adapters.mastodon import MastodonAdapter

    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    websocket = parts.scheme in ("ws", "wss")
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/")
    prefix = "/api/v1/streaming"
    stream = "public"
    if prefix in path:
        path, _, rest = path.partition(prefix)
        stream = query.get("stream") or {"": "public", "/public": "public", "/public/local": "public:local",
                                         "/hashtag": "hashtag"}.get(rest, "public")
    base = urlunsplit((scheme, parts.netloc, path, "", ""))
    return MastodonAdapter(base, transport=transport or ("websocket" if websocket else "sse"),  # type: ignore[arg-type]
                           stream=stream, tag=query.get("tag"), cursor=cursor, access_token=access_token or None)


def public_url(url: str) -> str:
    """``url`` without user info or query values that could hold a secret (tokens, keys)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    query = "&".join(f"{k}=…" if re.search(r"token|key|secret|auth|pass", k, re.I) else f"{k}={v[0]}"
                     for k, v in parse_qs(parts.query).items())
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def make_adapter(spec: StreamSpec, settings: Settings, *, cursor: str | None = None,
                 transport: str | None = None) -> Adapter:
    """The adapter for ``spec``, starting at ``cursor`` when given (Jetstream time_us, Mastodon id), with
    the network's token from ``settings`` (Twitter bearer token, Mastodon access token)."""
    if spec.network == "twitter":
        from feeds.social.adapters.twitter import TwitterStreamAdapter

        return TwitterStreamAdapter(spec.url, settings.twitter_bearer_token.get_secret_value())
    if spec.network == "jetstream":
        from feeds.social.adapters.jetstream import JetstreamAdapter

        if cursor is not None and not cursor.isdigit():
            raise EmergencyError(f"--cursor: {cursor!r}: a Jetstream cursor is a time_us integer")
        return JetstreamAdapter(spec.url, cursor=int(cursor) if cursor else None)
    return _mastodon(spec.url, cursor, transport, settings.mastodon_access_token.get_secret_value())


class StreamRunner:
    """Runs one stream into raw.social through ``sink``, keeping its cursor in ``store``.

    ``run()`` is one supervised attempt: it starts a fresh adapter and pipeline (seeded with the
    stream's journaled clusters) from the stored cursor (or ``cursor``, which overrides it), processes posts, journals changed clusters and
    stores the cursor every ``flush_s`` seconds and once more when it ends or is cancelled."""

    def __init__(self, spec: StreamSpec, *, store: Store, holder: RulesHolder, sink: Sink, settings: Settings,
                 region: Any = None, cursor: str | None = None, transport: str | None = None) -> None:
        self.spec, self.store, self.holder, self.sink, self.settings = spec, store, holder, sink, settings
        self.region, self.cursor, self.transport = region, cursor, transport
        self.pipeline = SocialPipeline(holder, region=region)
        self.publisher = ClusterPublisher(self.pipeline, sink, stream=spec.cursor_name)
        self.adapter: Adapter | None = None
        self._saved: dict[str, Any] | None = None
        self.attempts = 0
        self._past: dict[str, Any] = {}  # counts of earlier attempts (each attempt has a fresh adapter)

    def status(self) -> dict[str, Any]:
        """What an operator needs to know about this stream, counted over every attempt since the
        process started: posts received and skipped (by reason), reconnects, pipeline outcomes
        (kept, or the drop reason), clusters journaled, live clusters, the last connection error."""
        current = self._counts()
        out: dict[str, Any] = {"network": self.spec.network, "url": public_url(self.spec.url),
                               "attempts": self.attempts, "live_clusters": len(self.pipeline.deduper.clusters),
                               "last_error": (self.adapter.stats.last_error if self.adapter is not None else None)
                               or self._past.get("last_error"),
                               "cursor_saved": self._saved is not None}
        for key in ("posts", "reconnects"):
            out[key] = self._past.get(key, 0) + current[key]
        for key in ("skipped", "outcomes", "journal"):
            merged = dict(self._past.get(key, {}))
            for k, v in current[key].items():
                merged[k] = merged.get(k, 0) + v
            out[key] = merged
        return out

    def _counts(self) -> dict[str, Any]:
        stats = self.adapter.stats if self.adapter is not None else None
        return {"posts": stats.posts if stats else 0, "reconnects": stats.reconnects if stats else 0,
                "skipped": dict(stats.skipped) if stats else {}, "outcomes": dict(self.pipeline.counts),
                "journal": dict(self.publisher.stats)}

    async def _start(self) -> Adapter:
        if self.adapter is not None:  # keep what the previous attempt counted
            status = self.status()
            self._past = {k: status[k] for k in ("posts", "reconnects", "skipped", "outcomes", "journal", "last_error")}
            self.adapter = None
        self.attempts += 1
        self.pipeline = SocialPipeline(self.holder, region=self.region)
        self.publisher = ClusterPublisher(self.pipeline, self.sink, stream=self.spec.cursor_name)
        await seed_from_journal(self.pipeline, self.store, stream=self.spec.cursor_name)
        adapter = make_adapter(self.spec, self.settings, cursor=self.cursor, transport=self.transport)
        if self.cursor is None:
            stored = await self.store.repository(CURSORS).get(self.spec.cursor_name)
            if stored is not None:
                self._saved = json.loads(stored)
                adapter.restore(self._saved)
                log.info("social stream %s resumes from its stored cursor", self.spec.url)
        self.adapter = adapter
        return adapter

    async def checkpoint(self) -> int:
        """Journal changed clusters, then store the cursor taken before them; returns envelopes written.

        The cursor is read first: every post up to it has already been decided (posts are
        processed as the adapter yields them), so once the flush succeeds they are all journaled."""
        mark = self.adapter.checkpoint() if self.adapter is not None else None
        written = await self.publisher.flush()
        if mark is not None and mark != self._saved:
            await self.store.repository(CURSORS).put(self.spec.cursor_name, json.dumps(mark, separators=(",", ":")))
            self._saved = mark
        return written

    async def run(self, limit: int | None = None) -> int:
        """Stream until ``limit`` posts (None: until cancelled or the adapter gives up); returns
        the posts processed in this attempt."""
        adapter = await self._start()
        flusher = asyncio.create_task(self._checkpoint_every(self.settings.social_flush_s))
        posts = adapter.posts()
        n = 0
        try:
            async for post in posts:
                self.pipeline.process(post)
                n += 1
                if limit and n >= limit:
                    break
        finally:
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)
            try:
                await self.checkpoint()
            except Exception as exc:  # noqa: BLE001 - the cursor stays behind; the posts come again
                log.warning("social stream %s: last checkpoint failed: %s", self.spec.url, exc)
            await posts.aclose()
        return n

    async def _checkpoint_every(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.checkpoint()
            except Exception as exc:  # noqa: BLE001 - the store may be briefly away; clusters stay dirty
                log.warning("social stream %s: checkpoint failed: %s", self.spec.url, exc)


def stream_tasks(runtime: Any, specs: list[StreamSpec]) -> list[tuple[str, Coroutine[Any, Any, None]]]:
    """(name, coroutine) of the background tasks that run ``specs`` inside ``runtime``: one
    supervised runner per stream, and a watcher for rules saved by other processes."""
    from emergency.stream.bounded import keep_running

    holder = shared_rules(runtime)
    s, store = runtime.settings, runtime.store
    runtime.social_runners = [StreamRunner(spec, store=store, holder=holder, sink=runtime_sink(runtime), settings=s)
                              for spec in specs]
    watcher = RulesWatcher(store, holder)

    async def load_rules_then(runner: StreamRunner) -> None:
        await watcher.refresh()  # the stored rules before the first post
        await runner.run()

    tasks: list[tuple[str, Coroutine[Any, Any, None]]] = [("social-rules", watcher.run(s.social_rules_poll_s))]
    for runner in runtime.social_runners:
        name = f"social {runner.spec.network} {runner.spec.url}"
        tasks.append((name, keep_running(lambda r=runner: load_rules_then(r), name=name, log=log)))
    return tasks
