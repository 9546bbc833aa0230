"""The feeds repository on both stores: admin-added feeds, and per feed the items' hashes and envelopes."""

from __future__ import annotations

from emergency.store import open_store
from feeds.external.models import FeedConfig
from feeds.external.repository import FEEDS, StoredItem


async def test_feeds_and_items_are_durable_on_both_stores(store_url: str):
    store = await open_store(store_url)
    try:
        repo = store.repository(FEEDS)
        assert await repo.put_feed(FeedConfig("gdacs", "https://example.org/rss", 120, "admin", "ops"))
        assert not await repo.put_feed(FeedConfig("gdacs", "https://example.org/other", 60, "admin", "ops"))
        assert await repo.put_feed(FeedConfig("a-first", "https://example.org/a", 60, "admin", None))
        await repo.apply("gdacs", put={"1": StoredItem("h1", "{}"), "2": StoredItem("h2", "{}")}, remove=[])
        await repo.apply("gdacs", put={"2": StoredItem("h2b", '{"x":1}')}, remove=["1", "missing"])
        await repo.apply("other", put={"1": StoredItem("o1", "{}")}, remove=[])
    finally:
        await store.close()
    store = await open_store(store_url)
    try:
        repo = store.repository(FEEDS)
        assert await repo.list_feeds() == [FeedConfig("a-first", "https://example.org/a", 60, "admin", None),
                                           FeedConfig("gdacs", "https://example.org/rss", 120, "admin", "ops")]
        assert await repo.items("gdacs") == {"2": StoredItem("h2b", '{"x":1}')}
        assert await repo.items("other") == {"1": StoredItem("o1", "{}")}
        assert await repo.items("none") == {}
        assert await repo.delete_feed("gdacs") and not await repo.delete_feed("gdacs")
        assert [f.name for f in await repo.list_feeds()] == ["a-first"]
    finally:
        await store.close()
