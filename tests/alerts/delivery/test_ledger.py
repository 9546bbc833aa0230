"""The delivery ledger on both stores: unique key, claim (the redelivery dedupe), marks, bulk insert."""

from __future__ import annotations

from datetime import timedelta

from alerts.delivery.ledger import DELIVERIES, Delivery, delivery_id
from emergency.events import utcnow
from emergency.store import open_store


def row(version: str, sub: str, channel_id: str = "email-0", **over) -> Delivery:
    now = utcnow()
    values = dict(delivery_id=delivery_id(version, sub, channel_id), alert_id="alert:a", alert_version=version,
                  subscription_id=sub, channel_id=channel_id, channel=channel_id.split("-")[0], priority=4,
                  state="queued", attempts=0, created_at=now, updated_at=now)
    values.update(over)
    return Delivery(**values)


async def test_rows_are_added_once_and_claimed_once(store_url):
    store = await open_store(store_url)
    try:
        ledger = store.repository(DELIVERIES)
        new, existing = await ledger.add([row("alert:a", "s1"), row("alert:a", "s2")])
        assert len(new) == 2 and existing == {}
        again, existing = await ledger.add([row("alert:a", "s1"), row("alert:a", "s3")])
        assert again == [delivery_id("alert:a", "s3", "email-0")]
        assert existing == {delivery_id("alert:a", "s1", "email-0"): "queued"}

        did = delivery_id("alert:a", "s1", "email-0")
        claimed = await ledger.claim(did, utcnow())
        assert claimed is not None and claimed.state == "sending" and claimed.attempts == 1
        sent = await ledger.mark(did, "sent", utcnow(), remote_id="q-1")
        assert sent is not None and sent.sent_at is not None and sent.remote_id == "q-1"
        assert await ledger.claim(did, utcnow()) is None  # a redelivered job is not sent again
        acked = await ledger.mark(did, "acknowledged", utcnow() + timedelta(seconds=1))
        assert acked is not None and acked.acknowledged_at is not None and acked.sent_at == sent.sent_at
        # acknowledging a row that was never sent changes nothing
        assert await ledger.mark(delivery_id("alert:a", "s2", "email-0"), "acknowledged", utcnow()) is None
        assert await ledger.claim("0" * 64, utcnow()) is None

        await ledger.add([row("alert:a:1", "s4", "sms-0")])
        assert {(r.subscription_id, r.channel_id) for r in await ledger.recipients("alert:a")} == {
            ("s1", "email-0"), ("s2", "email-0"), ("s3", "email-0"), ("s4", "sms-0")}
        progress = await ledger.progress("alert:a")
        assert len(progress) == 4 and sum(p.sent_at is not None for p in progress) == 1
        assert (await ledger.get(did)).state == "acknowledged"
    finally:
        await store.close()


async def test_a_hundred_thousand_rows_go_in_one_batch(store_url):
    store = await open_store(store_url)
    try:
        ledger = store.repository(DELIVERIES)
        rows = [row("alert:big", f"s{i}") for i in range(100_000)]
        new, existing = await ledger.add(rows)
        assert len(new) == 100_000 and not existing
        new, existing = await ledger.add(rows[:10])
        assert new == [] and len(existing) == 10
    finally:
        await store.close()
