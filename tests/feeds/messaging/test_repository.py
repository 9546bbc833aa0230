"""The conversation repository on both stores: values by key until their expiry."""

from __future__ import annotations

from datetime import timedelta

from emergency.events import utcnow
from emergency.store import open_store
from feeds.messaging.repository import CONVERSATIONS


async def test_a_value_is_kept_until_its_expiry_replaced_and_deleted(store_url):
    store = await open_store(store_url)
    try:
        repo = store.repository(CONVERSATIONS)
        now = utcnow()
        await repo.put("conv:sms:abc", {"pending": "where", "texts": ["smoke"]}, expires_at=now + timedelta(minutes=30))
        assert await repo.get("conv:sms:abc", now=now) == {"pending": "where", "texts": ["smoke"]}
        await repo.put("conv:sms:abc", {"pending": "what"}, expires_at=now + timedelta(minutes=30))
        assert await repo.get("conv:sms:abc", now=now) == {"pending": "what"}
        assert await repo.get("conv:sms:abc", now=now + timedelta(minutes=31)) is None  # expired
        assert await repo.get("conv:sms:abc", now=now) is None  # and swept
        await repo.put("msg:sms:1", {"text": "ok"}, expires_at=now + timedelta(minutes=5))
        await repo.delete("msg:sms:1")
        assert await repo.get("msg:sms:1", now=now) is None
        assert await repo.get("never", now=now) is None
    finally:
        await store.close()
