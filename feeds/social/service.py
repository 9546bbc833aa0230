"""Rules persistence and the live pipeline of one process.

Rules live in the store (one versioned JSON document, ``feeds.social.repository``), so they
survive restarts and every process sees the same set. A process applies a new version as soon
as it learns of it: the API process at once (the PUT handler swaps the process's holder, which
the stream runners of ``EMERGENCY_SOCIAL_STREAMS`` share), other processes by polling the
version (``RulesWatcher``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from emergency.events import Envelope
from emergency.store.base import OnConflict, Store
from emergency.stream.topics import RAW_SOCIAL
from feeds.social.pipeline import ClusterPublisher, RulesHolder, SocialPipeline
from feeds.social.repository import SOCIAL_RULES
from feeds.social.rules import Rules

log = logging.getLogger(__name__)


async def load_rules(store: Store) -> tuple[Rules, int]:
    """The stored rules and their version; the default rules (version 0) when none were saved."""
    stored = await store.repository(SOCIAL_RULES).get()
    if stored is None:
        return Rules(), 0
    doc, version = stored
    return Rules.model_validate(doc), version


async def save_rules(store: Store, rules: Rules, *, updated_by: str) -> int:
    """Persist ``rules``; returns the new version."""
    return await store.repository(SOCIAL_RULES).put(rules.model_dump(mode="json"), updated_by=updated_by)


class RulesWatcher:
    """Keeps a ``RulesHolder`` at the store's latest version."""

    def __init__(self, store: Store, holder: RulesHolder) -> None:
        self.store, self.holder = store, holder

    async def refresh(self) -> bool:
        """Load the stored rules if their version is newer than the holder's; True when it was
        (never older: a PUT in this process may swap the holder while the read is in flight)."""
        stored = await self.store.repository(SOCIAL_RULES).get()
        if stored is None or stored[1] <= self.holder.current.version:
            return False
        self.holder.set(Rules.model_validate(stored[0]), stored[1])
        log.info("social rules version %d applied", stored[1])
        return True

    async def run(self, interval_s: float) -> None:
        """Refresh every ``interval_s`` seconds until cancelled (store errors are logged and retried)."""
        while True:
            try:
                await self.refresh()
            except Exception as exc:  # noqa: BLE001 - a store hiccup must not stop the stream
                log.warning("social rules refresh failed: %s", exc)
            await asyncio.sleep(interval_s)


def store_sink(store: Store):
    """A publisher sink that journals envelopes to raw.social through ``store.accept``."""

    async def sink(event: Envelope, on_conflict: OnConflict) -> bool:
        return (await store.accept(event, RAW_SOCIAL, event.id, on_conflict)).created

    return sink


def runtime_sink(runtime):
    """A publisher sink through ``Runtime.submit`` (journal and wake the relay)."""

    async def sink(event: Envelope, on_conflict: OnConflict) -> bool:
        return (await runtime.submit(event, RAW_SOCIAL, on_conflict=on_conflict)).created

    return sink


def shared_rules(runtime: Any) -> RulesHolder:
    """The process's one rules holder (``runtime.social_rules``): the API's PUT swaps it and the
    in-process stream runners read it, so an edit applies to their next post."""
    if runtime.social_rules is None:
        runtime.social_rules = RulesHolder()
    return runtime.social_rules


class LiveSocial:
    """The API process's pipeline: rules holder, pipeline and publisher (webhook intake)."""

    def __init__(self, runtime) -> None:
        self.runtime = runtime
        self.holder = shared_rules(runtime)
        self.pipeline = SocialPipeline(self.holder)
        self.publisher = ClusterPublisher(self.pipeline, runtime_sink(runtime))
        self.lock = asyncio.Lock()
        self.checked_at: float | None = None

    async def ensure_loaded(self, max_age_s: float = 1.0) -> None:
        """Pick up a version saved by another process when the last look is older than ``max_age_s``."""
        now = asyncio.get_running_loop().time()
        if self.checked_at is None or now - self.checked_at > max_age_s:
            await RulesWatcher(self.runtime.store, self.holder).refresh()
            self.checked_at = now


def live_social(app) -> LiveSocial:
    """The app's ``LiveSocial``, created on first use."""
    live = getattr(app.state, "social", None)
    if live is None:
        live = app.state.social = LiveSocial(app.state.runtime)
    return live
