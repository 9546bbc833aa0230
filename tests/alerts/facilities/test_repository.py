"""The facilities repository on both stores: facilities replaced whole, notifications once per facility and
cause, due rows (the escalation timer), the Notice owner reads (contact, message)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerts.delivery.models import ChannelType
from alerts.facilities.models import Facility, FacilityType, Notification, Operator
from alerts.facilities.repository import FACILITIES, PostGISFacilities, SQLiteFacilities
from alerts.subscriptions.models import StoredChannel
from emergency.events import utcnow
from emergency.store import open_store
from tests.alerts.registry.test_repository import job


@pytest.fixture
async def store(store_url):
    s = await open_store(store_url)
    yield s
    await s.close()


async def test_facility_rows_notifications_and_due_rows(store):
    repo = store.repository(FACILITIES)
    assert isinstance(repo, {"sqlite": SQLiteFacilities, "postgis": PostGISFacilities}[store.dialect])
    now = utcnow()
    f = Facility(id="fac-a", name="Pump", type=FacilityType.water, lat=45.5, lon=-122.6, radius_m=500,
                 contacts=[Operator(name="Ana", channels=[StoredChannel(channel_id="email-0", channel=ChannelType.email,
                                                                        address="ana@u.example", confirmed=True)])],
                 created_at=now, updated_at=now)
    await repo.put(f)
    await repo.put(f.model_copy(update={"name": "Pump station"}))  # replace
    assert [x.name for x in await repo.all()] == ["Pump station"]
    n = Notification(id="fn-1", facility_id="fac-a", cause="alert", cause_id="alert:a", headline="Fire", priority=2,
                     created_at=now, due_at=now - timedelta(seconds=1))
    assert await repo.add_notification(n) and not await repo.add_notification(n)
    assert [x.id for x in await repo.due(utcnow())] == ["fn-1"]
    await repo.save_notification(n.model_copy(update={"state": "acknowledged"}))
    assert await repo.due(utcnow()) == [] and (await repo.notification("fn-1")).state == "acknowledged"
    assert [x.id for x in await repo.notifications(limit=5)] == ["fn-1"]
    assert (await repo.contact("facility:fac-a:0", "email-0")).address == "ana@u.example"
    assert await repo.contact("facility:fac-a:1", "email-0") is None
    assert await repo.notice(job("facility:fac-a:0", "facility:fn-1:0")) is None  # acknowledged: nothing to send
    await repo.save_notification(n)
    message = await repo.notice(job("facility:fac-a:0", "facility:fn-1:0"))
    assert message.link.endswith("/facilities/ack/" + "d" * 64) and "Pump station" in message.headline
    assert await repo.delete("fac-a") and await repo.get("fac-a") is None


async def test_open_notifications_and_an_opted_out_channel_on_both_stores(store):
    """Issue 15: a facility's notifications still waiting, and no contact for a channel its number STOPped."""
    repo = store.repository(FACILITIES)
    now = utcnow()
    sms = StoredChannel(channel_id="sms-0", channel=ChannelType.sms, number="+15035550188", confirmed=True, stopped=True)
    await repo.put(Facility(id="fac-b", name="Tower", type=FacilityType.telecom, lat=45.5, lon=-122.6, radius_m=500,
                            contacts=[Operator(name="Desk", channels=[sms])], created_at=now, updated_at=now))
    for nid, state in (("fn-2", "notified"), ("fn-3", "acknowledged"), ("fn-4", "notified")):
        await repo.add_notification(Notification(id=nid, facility_id="fac-b", cause="alert", cause_id=f"alert:{nid}",
                                                 headline="Fire", priority=2, state=state, created_at=now, due_at=now))
    assert [n.id for n in await repo.open_notifications("fac-b")] == ["fn-2", "fn-4"]
    assert await repo.open_notifications("fac-x") == []
    assert await repo.contact("facility:fac-b:0", "sms-0") is None
