"""Per-domain repositories on the store's connection, each run against both backends
(SQLite file and PostGIS): API tokens, named cursors, social filter rules, and the mechanism."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from emergency.auth.models import TokenRecord
from emergency.auth.repository import TOKENS, PostGISTokens, SQLiteTokens
from emergency.store import open_store
from emergency.store.cursors import CURSORS
from emergency.store.leases import LEASES
from feeds.social.repository import SOCIAL_RULES

POLYGON = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}


@pytest.fixture
async def store(store_url):
    s = await open_store(store_url)
    yield s
    await s.close()


async def test_a_repository_is_built_once_per_store_for_its_dialect(store):
    tokens = store.repository(TOKENS)
    assert tokens is store.repository(TOKENS)
    assert isinstance(tokens, {"sqlite": SQLiteTokens, "postgis": PostGISTokens}[store.dialect])
    for gone in ("put_token", "get_token", "revoke_token", "get_social_rules", "put_social_rules",
                 "get_cursor", "put_cursor"):
        assert not hasattr(store, gone), gone  # domains live in their repositories, not on the store


async def test_tokens_store_hash_and_revoke(store):
    tokens = store.repository(TOKENS)
    rec = TokenRecord(token_hash="ab" * 32, name="City", roles=["agency"], agency="City", jurisdiction=POLYGON)
    await tokens.put(rec)
    got = await tokens.get("ab" * 32)
    assert got.roles == ["agency"] and got.jurisdiction == rec.jurisdiction and got.revoked_at is None
    assert await tokens.revoke("ab" * 32, datetime.now(UTC))
    assert not await tokens.revoke("ab" * 32, datetime.now(UTC))
    assert (await tokens.get("ab" * 32)).revoked_at is not None
    assert await tokens.get("cd" * 32) is None


async def test_cursors_are_durable(store_url):
    store = await open_store(store_url)
    try:
        cursors = store.repository(CURSORS)
        assert await cursors.get("social:test:a") is None
        await cursors.put("social:test:a", '{"id": "1"}')
        await cursors.put("social:test:a", '{"id": "2"}')  # replaced whole
        await cursors.put("social:test:b", "x")
    finally:
        await store.close()
    reopened = await open_store(store_url)
    try:
        assert await reopened.repository(CURSORS).get("social:test:a") == '{"id": "2"}'
        assert await reopened.repository(CURSORS).get("social:test:b") == "x"
    finally:
        await reopened.close()


async def test_social_rules_are_versioned_and_durable(store_url):
    store = await open_store(store_url)
    try:
        rules = store.repository(SOCIAL_RULES)
        assert await rules.get() is None
        assert await rules.put({"keywords": ["sinkhole"]}, updated_by="ECC") == 1
        assert await rules.put({"keywords": ["landslide"]}, updated_by="ECC") == 2
    finally:
        await store.close()
    reopened = await open_store(store_url)
    try:
        assert await reopened.repository(SOCIAL_RULES).get() == ({"keywords": ["landslide"]}, 2)
    finally:
        await reopened.close()


async def test_repositories_share_one_store_file_and_read_rows_written_before(tmp_path):
    """A SQLite file with the domain tables of earlier versions keeps working (same tables and columns)."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as c:  # the rows an earlier version wrote, in its own DDL
        c.executescript("""
            CREATE TABLE tokens (token_hash TEXT PRIMARY KEY, name TEXT NOT NULL, roles TEXT NOT NULL,
                agency TEXT, jurisdiction TEXT, created_at TEXT NOT NULL, revoked_at TEXT);
            CREATE TABLE social_rules (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL,
                rules TEXT NOT NULL, updated_by TEXT NOT NULL, updated_at TEXT NOT NULL);
            CREATE TABLE cursors (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL);
            INSERT INTO tokens VALUES ('ef', 'ECC', '["coordinator"]', NULL, NULL, '2026-11-27T10:00:00.000000Z', NULL);
            INSERT INTO social_rules VALUES (1, 7, '{"keywords": ["flood"]}', 'ECC', '2026-11-27T10:00:00.000000Z');
            INSERT INTO cursors VALUES ('social:old', '{"id": "9"}', '2026-11-27T10:00:00.000000Z');
        """)
    c.close()
    store = await open_store(f"sqlite:///{path}")
    try:
        assert (await store.repository(TOKENS).get("ef")).roles == ["coordinator"]
        assert await store.repository(SOCIAL_RULES).get() == ({"keywords": ["flood"]}, 7)
        assert await store.repository(SOCIAL_RULES).put({"keywords": []}, updated_by="ECC") == 8
        assert await store.repository(CURSORS).get("social:old") == '{"id": "9"}'
        assert await store.count_events() == 0  # the kernel's own tables were added beside them
    finally:
        await store.close()


async def test_a_lease_has_one_holder_until_released_or_expired(store):
    leases = store.repository(LEASES)
    assert await leases.acquire("feed:usgs", "worker-a", 60)
    assert not await leases.acquire("feed:usgs", "worker-b", 60)  # held by a
    assert await leases.acquire("feed:usgs", "worker-a", 60)  # a renews its own
    assert await leases.acquire("feed:nws", "worker-b", 60)  # another name is another lease
    await leases.release("feed:usgs", "worker-b")  # not b's to give up: nothing happens
    assert not await leases.acquire("feed:usgs", "worker-b", 60)
    await leases.release("feed:usgs", "worker-a")
    assert await leases.acquire("feed:usgs", "worker-b", 60)  # released: b takes it
    assert await leases.acquire("feed:dead", "crashed", -1)  # a holder that died: its lease has run out
    assert await leases.acquire("feed:dead", "worker-a", 60)  # taken over
    assert not await leases.acquire("feed:dead", "crashed", 60)
