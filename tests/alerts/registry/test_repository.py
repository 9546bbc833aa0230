"""The registry repository on both stores: registrants and their locations, check-ins unique per alert and
registrant, answers only from the states given, due rows (the timer), the audit, the link key kept in the store,
the Notice owner reads (contact, message)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerts.delivery.models import ChannelType, DeliveryJob
from alerts.registry.models import AuditItem, Need, Outreach, Registrant
from alerts.registry.repository import REGISTRY, PostGISRegistry, SQLiteRegistry
from alerts.subscriptions.models import StoredChannel
from emergency.events import GeoPrecision, utcnow
from emergency.store import open_store


@pytest.fixture
async def store(store_url):
    s = await open_store(store_url)
    yield s
    await s.close()


def registrant(rid: str, lat: float = 45.5, lon: float = -122.6) -> Registrant:
    now = utcnow()
    return Registrant(id=rid, name="Ada Lovelace", lat=lat, lon=lon, location_label="here",
                      geo_precision=GeoPrecision.exact, needs=[Need.oxygen],
                      channels=[StoredChannel(channel_id="email-0", channel=ChannelType.email,
                                              address="ada@example.org", confirmed=True)],
                      consent_at=now, created_at=now, created_by="0" * 16)


def outreach(oid: str, rid: str, *, due_in_s: float) -> Outreach:
    now = utcnow()
    return Outreach(id=oid, alert_id="alert:a", alert_version="alert:a", registrant_id=rid, headline="Fire",
                    distance_m=10.0, created_at=now, due_at=now + timedelta(seconds=due_in_s))


def job(person: str, key: str) -> DeliveryJob:
    now = utcnow()
    return DeliveryJob(delivery_id="d" * 64, alert_id="registry:alert:a", alert_version=key, msg_type="Notice",
                       subscription_id=person, channel_id="email-0", channel=ChannelType.email, priority=2,
                       expires=now + timedelta(hours=1), created_at=now)


async def test_registry_rows_checkins_timer_audit_and_notices(store):
    repo = store.repository(REGISTRY)
    assert isinstance(repo, {"sqlite": SQLiteRegistry, "postgis": PostGISRegistry}[store.dialect])
    await repo.create(registrant("reg-a"))
    await repo.create(registrant("reg-b", 45.6, -122.7))
    assert (await repo.get("reg-a")).name == "Ada Lovelace" and await repo.get("reg-x") is None
    assert await repo.locations() == [("reg-a", 45.5, -122.6), ("reg-b", 45.6, -122.7)]
    assert [r.id for r in await repo.page(after="reg-a", limit=5)] == ["reg-b"] and await repo.count() == 2
    assert set(await repo.many(["reg-a", "reg-x"])) == {"reg-a"}

    made = await repo.add_outreach([outreach("chk-1", "reg-a", due_in_s=-1), outreach("chk-2", "reg-b", due_in_s=3600)])
    assert [o.id for o in made] == ["chk-1", "chk-2"]
    assert await repo.add_outreach([outreach("chk-1", "reg-a", due_in_s=-1)]) == []  # once per alert and registrant
    await repo.set_deliveries("chk-1", ["d1"])
    assert (await repo.outreach("chk-1")).delivery_ids == ["d1"]
    assert [o.id for o in await repo.due(utcnow())] == ["chk-1"]  # only the one past its due time
    done = await repo.answer("chk-1", state="silent", at=utcnow(), report_id="citizen:x", only_from=("awaiting",))
    assert done.state == "silent" and done.report_id == "citizen:x"
    assert await repo.answer("chk-1", state="safe", at=utcnow(), report_id=None, only_from=("awaiting",)) is None
    assert await repo.due(utcnow() + timedelta(hours=2)) == [await repo.outreach("chk-2")]
    assert [o.id for o in await repo.for_alert("alert:a")] == ["chk-1", "chk-2"]

    await repo.audit(AuditItem(at=utcnow(), actor="desk", actor_token="1" * 16, action="registrants.read",
                               entries=["reg-a"]))
    await repo.audit(AuditItem(at=utcnow(), actor="desk", actor_token="1" * 16, action="tasking.read",
                               alert_id="alert:a", entries=["reg-a", "reg-b"]))
    assert [a.action for a in await repo.audit_log(limit=10)] == ["tasking.read", "registrants.read"]

    key = await repo.key()
    assert len(key) == 32 and await store.repository(REGISTRY).key() == key
    contact = await repo.contact("registrant:reg-b", "email-0")
    assert contact.address == "ada@example.org" and contact.subscription_id == "registrant:reg-b"
    assert await repo.contact("registrant:reg-b", "sms-0") is None
    message = await repo.notice(job("registrant:reg-b", "checkin:chk-2"))
    assert "/api/v1/registry/checkins/chk-2.safe." in message.wea_long and "chk-2.help." in message.wea_long
    assert await repo.notice(job("registrant:reg-a", "checkin:chk-1")) is None  # answered: nothing to send
    assert await repo.notice(job("registrant:reg-a", "checkin:chk-2")) is None  # not this person's check-in
    assert await repo.delete("reg-a") and not await repo.delete("reg-a")


async def test_caregivers_numbers_and_confirmation_requests_on_both_stores(store):
    """Issue 15: the registrants with a number (an sms channel or the caregiver's phone), a record replaced, the
    caregivers' confirmation requests as rows, who answered a check-in, and the caregiver's notices."""
    from alerts.registry.models import Caregiver

    repo = store.repository(REGISTRY)
    sms = StoredChannel(channel_id="sms-0", channel=ChannelType.sms, number="+15035550177", confirmed=True)
    await repo.create(registrant("reg-a").model_copy(update={"channels": [sms]}))
    await repo.create(registrant("reg-b").model_copy(update={"caregiver": Caregiver(name="Sam", phone="+15035550177")}))
    await repo.create(registrant("reg-c").model_copy(update={"caregiver": Caregiver(name="Al", phone="+15035550100")}))
    assert [r.id for r in await repo.with_number("+15035550177")] == ["reg-a", "reg-b"]
    assert await repo.with_number("+1503555017") == []  # the whole number only

    await repo.request_confirmation("reg-b")
    await repo.request_confirmation("reg-b")  # once
    assert await repo.confirmations_due() == ["reg-b"]
    message = await repo.notice(job("registrant:reg-b", "cgconfirm:reg-b").model_copy(update={"channel_id": "caregiver"}))
    assert "/api/v1/registry/caregivers/reg-b." in message.wea_long and "Ada" not in message.wea_long
    assert (await repo.contact("registrant:reg-b", "caregiver")).number == "+15035550177"
    await repo.confirmation_sent("reg-b")
    assert await repo.confirmations_due() == []

    b = await repo.get("reg-b")
    await repo.replace(b.model_copy(update={"caregiver": b.caregiver.model_copy(update={"confirmed_at": utcnow()})}))
    assert (await repo.get("reg-b")).caregiver.confirmed_at is not None
    assert await repo.notice(job("registrant:reg-b", "cgconfirm:reg-b").model_copy(
        update={"channel_id": "caregiver"})) is None  # confirmed: no second request

    await repo.add_outreach([outreach("chk-b", "reg-b", due_in_s=3600)])
    cg = await repo.notice(job("registrant:reg-b", "checkin:chk-b").model_copy(update={"channel_id": "caregiver"}))
    assert "chk-b.cgsafe." in cg.wea_long and "chk-b.cghelp." in cg.wea_long and "Ada" in cg.wea_long
    done = await repo.answer("chk-b", state="safe", at=utcnow(), report_id=None, only_from=("awaiting",), by="caregiver")
    assert done.answered_by == "caregiver" and (await repo.outreach("chk-b")).answered_by == "caregiver"

    b = await repo.get("reg-b")
    await repo.replace(b.model_copy(update={"caregiver": b.caregiver.model_copy(update={"stopped": True})}))
    assert await repo.contact("registrant:reg-b", "caregiver") is None  # STOPped: no contact
    a = await repo.get("reg-a")
    await repo.replace(a.model_copy(update={"channels": [sms.model_copy(update={"stopped": True})]}))
    assert await repo.contact("registrant:reg-a", "sms-0") is None
