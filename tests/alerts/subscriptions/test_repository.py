"""The subscription repository on both stores: whole-record writes with a version check, code attempts, the
Directory reads, SMS opt-out by number, admin counts, the unsubscribe key kept in the store."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerts.delivery.models import ChannelType
from alerts.subscriptions.models import StoredChannel, Subscription
from alerts.subscriptions.repository import SUBSCRIPTIONS, PostGISSubscriptions, SQLiteSubscriptions
from alerts.tiers import Tier
from emergency.events import utcnow
from emergency.store import open_store

NUMBER = "+15035550100"


def sub(sid: str, *, confirmed: bool = False, number: str = NUMBER) -> Subscription:
    now = utcnow()
    return Subscription(
        id=sid, token_hash="ab" * 32, version=1, areas=[{"type": "Point", "coordinates": [-122.6, 45.5], "radius_m": 5.0}],
        tiers=[Tier.presidential], languages=["en"], created_at=now, updated_at=now,
        channels=[StoredChannel(channel_id="sms-0", channel=ChannelType.sms, number=number, confirmed=confirmed,
                                code=None if confirmed else "123456", code_expires_at=now + timedelta(hours=24)),
                  StoredChannel(channel_id="mqtt-0", channel=ChannelType.mqtt, cell="85283473f", confirmed=True)])


@pytest.fixture
async def store(store_url):
    s = await open_store(store_url)
    yield s
    await s.close()


async def test_write_read_and_version_check(store):
    repo = store.repository(SUBSCRIPTIONS)
    assert isinstance(repo, {"sqlite": SQLiteSubscriptions, "postgis": PostGISSubscriptions}[store.dialect])
    s = sub("sub-a")
    await repo.create(s)
    got = await repo.get("sub-a")
    assert got == s and [c.channel_id for c in got.channels] == ["sms-0", "mqtt-0"]
    newer = s.model_copy(update={"version": 2, "languages": ["es"]})
    assert await repo.save(newer, expected_version=1)
    assert not await repo.save(newer.model_copy(update={"version": 3}), expected_version=1)  # lost update refused
    assert (await repo.get("sub-a")).languages == ["es"]
    assert await repo.count_attempt("sub-a", "sms-0") == 1 and await repo.count_attempt("sub-a", "sms-0") == 2
    assert await repo.count_attempt("sub-a", "nope") == 0
    gone = newer.model_copy(update={"version": 3, "deleted_at": utcnow(), "channels": []})
    assert await repo.save(gone, expected_version=2)
    assert await repo.get("sub-a") is None and (await repo.target("sub-a")).deleted
    assert await repo.target("sub-unknown") is None


async def test_directory_reads(store):
    repo = store.repository(SUBSCRIPTIONS)
    await repo.create(sub("sub-a"))
    await repo.create(sub("sub-b", confirmed=True))
    assert await repo.contact("sub-a", "sms-0") is None  # unconfirmed
    assert await repo.confirmation("sub-a", "sms-0") == "123456"
    assert (await repo.pending_contact("sub-a", "sms-0")).number == NUMBER
    assert (await repo.contact("sub-a", "mqtt-0")).cell == "85283473f"
    confirmed = await repo.contact("sub-b", "sms-0")
    assert confirmed.number == NUMBER and confirmed.unsubscribe_url.startswith(
        "http://127.0.0.1:8000/api/v1/subscriptions/sub-b/unsubscribe/sms-0?sig=")
    assert await repo.confirmation("sub-b", "sms-0") is None and await repo.pending_contact("sub-b", "sms-0") is None
    assert await repo.contact("sub-b", "nope") is None and await repo.contact("nope", "sms-0") is None
    targets = await repo.targets()
    assert [t.subscription_id for t in targets] == ["sub-a", "sub-b"]
    assert [(c.channel_id, c.confirmed) for c in targets[0].channels] == [("sms-0", False), ("mqtt-0", True)]
    assert await repo.count() == 2
    assert await repo.channel_counts() == {"sms": {"confirmed": 1, "unconfirmed": 1, "stopped": 0},
                                           "mqtt": {"confirmed": 2, "unconfirmed": 0, "stopped": 0}}
    assert [s.id for s in await repo.page(after="sub-a", limit=5)] == ["sub-b"]


async def test_number_opt_out(store):
    repo = store.repository(SUBSCRIPTIONS)
    await repo.create(sub("sub-a", confirmed=True))
    await repo.create(sub("sub-b", confirmed=True))
    await repo.create(sub("sub-c", confirmed=True, number="+15035550199"))
    assert await repo.set_number_opt_out(NUMBER, True) == 2
    assert await repo.set_number_opt_out(NUMBER, True) == 0
    assert await repo.contact("sub-a", "sms-0") is None and (await repo.contact("sub-c", "sms-0")) is not None
    assert [(t.subscription_id, t.version) for t in await repo.targets_with_number(NUMBER)] == [("sub-a", 2),
                                                                                               ("sub-b", 2)]
    assert [c.channel_id for c in (await repo.target("sub-a")).channels] == ["mqtt-0"]
    assert (await repo.get("sub-a")).version == 2
    assert await repo.set_number_opt_out(NUMBER, False) == 2
    assert (await repo.contact("sub-b", "sms-0")).number == NUMBER


async def test_the_unsubscribe_key_is_kept_in_the_store(store_url):
    first = await open_store(store_url)
    try:
        key = await first.repository(SUBSCRIPTIONS).unsubscribe_key()
    finally:
        await first.close()
    again = await open_store(store_url)
    try:
        assert len(key) == 32 and await again.repository(SUBSCRIPTIONS).unsubscribe_key() == key
    finally:
        await again.close()
