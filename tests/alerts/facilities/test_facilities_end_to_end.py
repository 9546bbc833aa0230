"""Critical facilities end to end through the real API, the ``facilities`` consumer group, the delivery path and a
real SMTP peer (aiosmtpd): an issued alert within a facility's radius notifies its first contact with an
acknowledgement link; acknowledged, nobody else is told; unacknowledged, the next contact is told after the
escalation time (a row the worker's loop reads); a verified incident within the radius notifies too; the
dashboard shows who was told, who acknowledged and when."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

from alerts.facilities.flows import sweep
from emergency.events import utcnow
from emergency.stream.producer import start_producer, stop_producer
from tests.alerts.delivery.peers import INSIDE, OUTSIDE
from tests.alerts.registry.conftest import mail_text
from tests.conftest import eventually, report_body
from tests.emergency.assembly.test_durability import alert_body

ACK_LINK = re.compile(r"https?://\S+/facilities/ack/([0-9a-f]{64})")


def facility_body(name: str, lat: float, lon: float, *contacts: str, radius_m: float = 1000.0,
                  kind: str = "water") -> dict:
    return {"name": name, "type": kind, "lat": lat, "lon": lon, "radius_m": radius_m,
            "contacts": [{"name": c.title(), "channels": [{"type": "email", "address": f"{c}@utility.example"}]}
                         for c in contacts]}


async def create(system, body: dict) -> dict:
    r = await system.http.post("/api/v1/facilities", json=body, headers=system.auth("admin"))
    assert r.status_code == 201, r.text
    return r.json()


async def dashboard(system) -> list[dict]:
    r = await system.http.get("/api/v1/facilities/notifications", headers=system.auth("coordinator"))
    assert r.status_code == 200, r.text
    return r.json()["items"]


def ack_id(msg) -> str:
    [found] = set(ACK_LINK.findall(mail_text(msg)))  # in the text and as the link below it
    return found


async def test_alert_notifies_the_first_contact_and_an_acknowledgement_stops_escalation(mailed):
    system, box = mailed  # escalation after the default 15 minutes: the sweep is run at a later time below
    plant = await create(system, facility_body("Division St pump station", *INSIDE, "ana", "ben"))
    await create(system, facility_body("Downtown substation", *OUTSIDE, "eve", radius_m=200, kind="power"))
    assert plant["contacts"][0]["channels"][0]["contact"] == "a***@utility.example"  # masked in answers

    issued = await system.http.post("/api/v1/alerts", json=alert_body(), headers=system.auth("alert_originator"))
    assert issued.status_code == 202, issued.text
    alert_id = issued.json()["id"]
    await eventually(lambda: box.count("ana@utility.example") == 1)
    mail = box.by_rcpt["ana@utility.example"][0]
    assert "Division St pump station" in mail["Subject"] and "Evacuate now" in mail_text(mail)
    [item] = await dashboard(system)
    assert item["state"] == "notified" and item["next_escalation_at"] is not None

    # Ana acknowledges through the link's page, which posts the delivery's own acknowledgement
    delivery = ack_id(mail)
    page = await system.http.get(f"/facilities/ack/{delivery}")
    assert page.status_code == 200 and f"/api/v1/deliveries/{delivery}/ack" in page.text
    ack = await system.http.post(f"/api/v1/deliveries/{delivery}/ack")
    assert ack.status_code == 200 and ack.json()["state"] == "acknowledged", ack.text
    [item] = await dashboard(system)
    assert item["state"] == "acknowledged" and item["acknowledged_by"] == "Ana"

    # past the escalation time the timer's sweep records the acknowledgement and tells nobody else
    producer = await start_producer(system.settings, system.runtime.bootstrap)
    try:
        later = utcnow() + timedelta(seconds=system.settings.facility_escalation_s + 1)
        assert await sweep(store=system.runtime.store, settings=system.settings, producer=producer, now=later) == 0
    finally:
        await stop_producer(producer)
    [item] = await dashboard(system)
    assert item["state"] == "acknowledged" and item["next_escalation_at"] is None
    assert item["cause"] == "alert" and item["cause_id"] == alert_id and item["acknowledged_at"] is not None
    assert [x["contact_name"] for x in item["told"]] == ["Ana"]
    assert item["told"][0]["deliveries"][0]["state"] == "acknowledged"

    # an Update of the same alert notifies nobody again
    update = await system.http.post(f"/api/v1/alerts/{alert_id}/update", json=alert_body(),
                                    headers=system.auth("alert_originator"))
    assert update.status_code == 202, update.text
    await system.runtime.wait_applied()
    page = await system.http.get("/facilities/notifications")
    assert page.status_code == 200 and "utility.example" not in page.text
    assert box.count("ana@utility.example") == 1
    assert box.count("ben@utility.example") == 0 and box.count("eve@utility.example") == 0


async def test_unacknowledged_escalates_to_the_next_contact_after_the_time(mailed_short_timer):
    system, box = mailed_short_timer  # escalation after 1 s, read by the worker's timer loop
    tower = await create(system, facility_body("Hawthorne cell tower", *INSIDE, "cat", "dan", kind="telecom"))
    issued = await system.http.post("/api/v1/alerts", json=alert_body(), headers=system.auth("alert_originator"))
    assert issued.status_code == 202, issued.text
    await eventually(lambda: box.count("cat@utility.example") == 1)
    await eventually(lambda: box.count("dan@utility.example") == 1)  # Cat did not acknowledge

    async def settled():
        items = await dashboard(system)
        return items[0] if items and items[0]["state"] == "unacknowledged" else None

    item = await eventually(settled)  # Dan did not either: nobody is left to tell
    assert item["facility_id"] == tower["id"] and item["acknowledged_by"] is None
    assert [x["contact_name"] for x in item["told"]] == ["Cat", "Dan"]
    assert item["told"][1]["at"] > item["told"][0]["at"]
    assert item["told"][0]["deliveries"][0]["contact"] == "c***@utility.example"
    assert box.count("cat@utility.example") == 1 and box.count("dan@utility.example") == 1


async def test_verified_incident_within_the_radius_notifies(mailed):
    system, box = mailed
    lat, lon = 45.5122, -122.6587  # the citizen report's point (tests.conftest.PORTLAND_POINT)
    await create(system, facility_body("Hawthorne school", lat + 0.003, lon, "gus", radius_m=500, kind="school"))
    await create(system, facility_body("Far hospital", lat + 0.05, lon, "hal", radius_m=500, kind="hospital"))
    r = await system.http.post("/api/v1/reports", json=report_body())
    assert r.status_code == 202, r.text
    report_id = r.json()["id"]

    async def incident_of():
        got = await system.http.get(f"/api/v1/events/{report_id}")
        return got.json()["properties"].get("incident_id") if got.status_code == 200 else None

    incident_id = await eventually(incident_of)
    await system.runtime.wait_applied()
    assert box.count("gus@utility.example") == 0  # not verified yet: nobody is told
    v = await system.http.post(f"/api/v1/incidents/{incident_id}/verify", json={},
                               headers=system.auth("coordinator"))
    assert v.status_code in (200, 202), v.text
    await eventually(lambda: box.count("gus@utility.example") == 1)
    assert "Verified incident near Hawthorne school" in mail_text(box.by_rcpt["gus@utility.example"][0])
    [item] = await dashboard(system)
    assert item["cause"] == "incident" and item["cause_id"] == incident_id and item["state"] == "notified"
    assert box.count("hal@utility.example") == 0
    link = urlsplit(ACK_LINK.search(mail_text(box.by_rcpt["gus@utility.example"][0])).group(0)).path
    assert link.startswith("/facilities/ack/")
