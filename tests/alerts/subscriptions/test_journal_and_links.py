"""Subscription changes on the journal and the broker (the Target only: no address, number, URL, secret or code),
their journal rows applied, signed one-click unsubscribe links, and SMS STOP/START."""

from __future__ import annotations

import asyncio
import json

from aiokafka import AIOKafkaConsumer

from alerts.delivery.models import Target
from alerts.subscriptions import flows
from alerts.subscriptions.flows import repository
from emergency.stream.topics import SUBSCRIPTIONS
from tests.alerts.subscriptions.conftest import create, holder, subscription_body

NUMBER = "+15035550100"


async def journal_payloads(store) -> list[bytes]:
    """Every journal row's payload, raw."""
    if store.dialect == "sqlite":
        rows = await store.run(lambda c: c.execute("SELECT payload FROM outbox ORDER BY seq").fetchall())
    else:
        rows = await store.pool.fetch("SELECT payload FROM outbox ORDER BY seq")
    return [bytes(r[0]) for r in rows]


async def topic_messages(system, n: int, timeout: float = 20.0) -> list[bytes]:
    """The first ``n`` raw message values on alerts.subscriptions."""
    consumer = AIOKafkaConsumer(system.settings.topic(SUBSCRIPTIONS), bootstrap_servers=system.broker.bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        got: list[bytes] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(got) < n and loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            got += [m.value for msgs in batches.values() for m in msgs]
        assert len(got) >= n, f"{len(got)} of {n} messages on the topic"
        return got
    finally:
        await consumer.stop()


async def test_every_change_is_journaled_and_published_without_personal_data(subs):
    got = await create(subs)
    sid, headers, repo = got["id"], holder(got["token"]), repository(subs.runtime.store)
    codes = [await repo.confirmation(sid, "email-0"), await repo.confirmation(sid, "sms-0")]
    await subs.http.post(f"/api/v1/subscriptions/{sid}/confirm", json={"channel": "email", "code": codes[0]},
                         headers=headers)
    await subs.http.patch(f"/api/v1/subscriptions/{sid}", json={"languages": ["fr"]}, headers=headers)
    await flows.set_number_opt_out(store=subs.runtime.store, submit=subs.runtime.submit, number=NUMBER, stopped=True)
    await subs.http.delete(f"/api/v1/subscriptions/{sid}", headers=headers)
    assert await subs.runtime.wait_applied(timeout_s=30), "the subscription journal rows are applied"
    journaled = await journal_payloads(subs.runtime.store)
    published = await topic_messages(subs, 5)
    assert len(journaled) == 5
    body = subscription_body()
    private = ["a@example.org", NUMBER, "hooks.example.org", body["channels"][2]["secret"],
               body["channels"][4]["subscription"]["endpoint"], body["channels"][4]["subscription"]["keys"]["auth"],
               body["channels"][4]["subscription"]["keys"]["p256dh"], got["token"], *codes]
    for raw in journaled + published:
        for value in private:
            assert value.encode() not in raw, value
    versions = []
    for raw in published:
        envelope = json.loads(raw)
        assert envelope["kind"] == "subscription" and envelope["id"] == f"subscription:{sid}"
        target = Target.model_validate(envelope["attributes"])
        versions.append(target.version)
    assert sorted(versions) == [1, 2, 3, 4, 5]
    first = Target.model_validate(json.loads(published[versions.index(1)])["attributes"])
    assert [c.channel_id for c in first.channels] == ["email-0", "sms-0", "webhook-0", "mqtt-0", "webpush-0"]
    assert [c.confirmed for c in first.channels] == [False, False, True, True, True]
    assert first.tiers[0] == "presidential" and first.areas[0]["radius_m"] == 1000.0
    stopped = Target.model_validate(json.loads(published[versions.index(4)])["attributes"])
    assert "sms-0" not in [c.channel_id for c in stopped.channels] and stopped.languages == ["fr"]
    last = Target.model_validate(json.loads(published[versions.index(5)])["attributes"])
    assert last.deleted and last.channels == [] and last.areas == []


async def test_targets_rebuild_the_index_from_the_store(subs):
    a, b = await create(subs), await create(subs)
    await subs.http.delete(f"/api/v1/subscriptions/{b['id']}", headers=holder(b["token"]))
    targets = await repository(subs.runtime.store).targets()
    assert [t.subscription_id for t in targets] == [a["id"]]
    assert targets[0].version == 1 and not targets[0].deleted


async def test_one_click_unsubscribe_with_the_signed_link(subs):
    got = await create(subs)
    sid, repo = got["id"], repository(subs.runtime.store)
    link = (await repo.pending_contact(sid, "email-0")).unsubscribe_url
    path = link.removeprefix("https://alerts.example.org")
    page = await subs.http.get(path)
    assert page.status_code == 200 and "List-Unsubscribe" in page.text and "One-Click" in page.text
    sig = path.rsplit("sig=", 1)[1]
    forged = "0" * 64 if sig != "0" * 64 else "1" * 64
    for bad in (path.replace(sig, forged), path.replace("email-0", "sms-0"),
                path.replace(sid, "sub-000000000000000000000000")):
        for method in ("GET", "POST"):
            answer = await subs.http.request(method, bad, content=b"List-Unsubscribe=One-Click",
                                             headers={"Content-Type": "application/x-www-form-urlencoded"})
            assert answer.status_code == 403 and answer.json()["detail"] == "sig: this unsubscribe link is not valid"
    for odd in ("%C3%A9", "x" * 128):  # a non-ASCII sig was a 500 (found by schemathesis)
        answer = await subs.http.get(path.replace(sig, odd))
        assert answer.status_code == 403, answer.text
    wrong_body = await subs.http.post(path, content=b"unsubscribe=yes",
                                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert wrong_body.status_code == 422 and wrong_body.json()["detail"].startswith("List-Unsubscribe:")
    for _ in range(2):  # mail clients may send it twice: the same answer
        done = await subs.http.post(path, content=b"List-Unsubscribe=One-Click",
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert done.status_code == 200, done.text
        assert done.json() == {"id": sid, "channel_id": "email-0", "unsubscribed": True}
    sub = await repo.get(sid)
    assert "email-0" not in [c.channel_id for c in sub.channels] and sub.version == 2
    assert await repo.pending_contact(sid, "email-0") is None
    # the last channel gone: the subscription is gone
    for channel in [c.channel_id for c in sub.channels]:
        link = (await repo.pending_contact(sid, channel) or await repo.contact(sid, channel)).unsubscribe_url
        answer = await subs.http.post(link.removeprefix("https://alerts.example.org"),
                                      content=b"List-Unsubscribe=One-Click",
                                      headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 200
    assert await repo.get(sid) is None and (await repo.target(sid)).deleted


async def test_sms_stop_and_start_cover_every_channel_on_the_number(subs):
    store, submit, repo = subs.runtime.store, subs.runtime.submit, repository(subs.runtime.store)
    one, two = await create(subs), await create(subs)
    other = await create(subs, {"areas": [{"zone": "ORZ111"}], "channels": [{"type": "sms", "number": "+15035550199"}]})
    for got in (one, two):
        code = await repo.confirmation(got["id"], "sms-0")
        answer = await subs.http.post(f"/api/v1/subscriptions/{got['id']}/confirm",
                                      json={"channel": "sms", "code": code}, headers=holder(got["token"]))
        assert answer.status_code == 200
    assert (await repo.contact(one["id"], "sms-0")).number == NUMBER
    assert await flows.set_number_opt_out(store=store, submit=submit, number=NUMBER, stopped=True) == 2
    assert await flows.set_number_opt_out(store=store, submit=submit, number=NUMBER, stopped=True) == 0
    for got in (one, two):
        assert await repo.contact(got["id"], "sms-0") is None
        assert "sms-0" not in [c.channel_id for c in (await repo.target(got["id"])).channels]
        assert (await repo.target(got["id"])).version == 3
    assert (await repo.target(other["id"])).version == 1
    read = await subs.http.get(f"/api/v1/subscriptions/{one['id']}", headers=holder(one["token"]))
    assert {c["channel_id"]: c["stopped"] for c in read.json()["channels"]}["sms-0"] is True
    admin = await subs.http.get("/api/v1/admin/subscriptions", headers=subs.auth("admin"))
    assert admin.json()["counts"]["sms"] == {"confirmed": 0, "unconfirmed": 1, "stopped": 2}
    assert await flows.set_number_opt_out(store=store, submit=submit, number=NUMBER, stopped=False) == 2
    assert (await repo.contact(two["id"], "sms-0")).number == NUMBER
    assert await subs.runtime.wait_applied(timeout_s=30)
