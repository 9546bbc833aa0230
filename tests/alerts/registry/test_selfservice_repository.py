"""The registry repository's self-registration rows on both stores: a pending entry is kept but not covered by
alerts (``locations``) until saved active; saves are optimistic (a stale version is refused); code attempts are
counted in the record; erasing removes the entry and its pending mark; the confirmation notice is rendered from
the pending code, in the registrant's language."""

from __future__ import annotations

from datetime import timedelta

from alerts.delivery.models import ChannelType
from alerts.registry.repository import REGISTRY
from alerts.registry.selfservice.service import confirm_key
from alerts.subscriptions.models import StoredChannel
from emergency.events import utcnow
from tests.alerts.registry.test_repository import job, registrant, store  # noqa: F401 - the store fixture


def pending(rid: str):
    code = StoredChannel(channel_id="email-0", channel=ChannelType.email, address="ada@example.org",
                         confirmed=False, code="123456", code_expires_at=utcnow() + timedelta(hours=1))
    return registrant(rid).model_copy(update={"status": "pending_confirmation", "source": "self",
                                              "channels": [code], "token_hash": "f" * 64, "language": "es"})


async def test_pending_entries_are_kept_but_not_covered_until_active(store):  # noqa: F811
    repo = store.repository(REGISTRY)
    await repo.create(registrant("reg-active"))
    await repo.create(pending("reg-pending"))
    assert [r[0] for r in await repo.locations()] == ["reg-active"]
    assert (await repo.get("reg-pending")).status == "pending_confirmation"
    assert await repo.count() == 2  # officers see it (as pending)

    assert await repo.count_attempt("reg-pending", "email-0") == 1
    assert await repo.count_attempt("reg-pending", "email-0") == 2
    assert await repo.count_attempt("reg-none", "email-0") == 0
    held = await repo.get("reg-pending")
    assert held.channels[0].attempts == 2

    # the confirmation notice: the pending code, in the registrant's language (es)
    rendered = await repo.notice(job("registrant:reg-pending", confirm_key(registrant_id="reg-pending",
                                                                           channel_id="email-0", version=1)))
    assert rendered is not None and "123456" in rendered.wea_long and "confirmación" in rendered.wea_long
    contact = await repo.contact("registrant:reg-pending", "email-0")
    assert contact is not None and contact.address == "ada@example.org"

    active = held.model_copy(update={"status": "active", "version": 2,
                                     "channels": [held.channels[0].model_copy(update={"confirmed": True,
                                                                                       "code": None})]})
    assert not await repo.save(active, expected_version=5)  # a stale version is refused
    assert await repo.save(active, expected_version=1)
    assert sorted(r[0] for r in await repo.locations()) == ["reg-active", "reg-pending"]
    assert await repo.notice(job("registrant:reg-pending", confirm_key(registrant_id="reg-pending",
                                                                       channel_id="email-0", version=1))) is None

    back = active.model_copy(update={"status": "pending_confirmation", "version": 3})  # never marked active
    assert await repo.save(back, expected_version=2)
    assert [r[0] for r in await repo.locations()] == ["reg-active"]
    # once active, a changed contact to confirm keeps the entry covered (its confirmed contacts are used)
    assert await repo.save(back.model_copy(update={"version": 4, "activated_at": utcnow()}), expected_version=3)
    assert sorted(r[0] for r in await repo.locations()) == ["reg-active", "reg-pending"]
    back = back.model_copy(update={"version": 4})
    assert await repo.delete("reg-pending")
    assert await repo.get("reg-pending") is None and await repo.count() == 1
    assert not await repo.save(back, expected_version=4)  # gone


async def test_only_entries_never_active_and_older_than_the_limit_are_erased(store):  # noqa: F811
    repo = store.repository(REGISTRY)
    now = utcnow()
    old, recent = now - timedelta(days=4), now - timedelta(hours=2)
    await repo.create(pending("reg-old-unconfirmed").model_copy(update={"created_at": old}))
    await repo.create(pending("reg-new-unconfirmed").model_copy(update={"created_at": recent}))
    await repo.create(pending("reg-old-was-active").model_copy(update={"created_at": old, "activated_at": old}))
    await repo.create(registrant("reg-old-officer").model_copy(update={"created_at": old}))
    assert await repo.erase_unconfirmed(created_before=now - timedelta(days=3)) == ["reg-old-unconfirmed"]
    assert await repo.get("reg-old-unconfirmed") is None
    assert sorted(r.id for r in await repo.page(after=None, limit=10)) == [
        "reg-new-unconfirmed", "reg-old-officer", "reg-old-was-active"]
    assert await repo.erase_unconfirmed(created_before=now - timedelta(days=3)) == []
    assert await repo.erase_unconfirmed(created_before=now, limit=1) == ["reg-new-unconfirmed"]
