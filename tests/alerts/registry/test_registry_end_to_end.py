"""The registry end to end through the real API, the real ``registry`` consumer group, the real delivery path
(ledger, priority topics, the email channel worker) and a real SMTP peer (aiosmtpd): an alert covers two
registrants and not a third; each gets one plain-language check-in mail; "I need help" and silence both open a
needs-help report that reaches the picture through the citizen intake; the tasking list puts the most urgent
need first; every read is audited; and no name, contact or need is on any public answer, topic or log line."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

from alerts.delivery.ledger import DELIVERIES
from alerts.delivery.models import ChannelType
from alerts.delivery.notices import Notice, send_notices
from alerts.registry.repository import REGISTRY
from alerts.registry.service import notice_key
from emergency.stream.producer import start_producer, stop_producer
from emergency.stream.topics import ALERTS_RECEIPTS, DEAD_LETTER
from tests.alerts.delivery.peers import INSIDE, OUTSIDE
from tests.alerts.registry.conftest import links_in, mail_text, read_all_topics, register, registrant_body
from tests.conftest import eventually
from tests.emergency.assembly.test_durability import alert_body
from tests.emergency.stream.test_stream import consume_all

PEER_LOGGERS = {"mail.log"}  # the test's SMTP server (aiosmtpd) logs what it receives: it is the recipient's side
PRIVATE = ("Ada Lovelace", "ada.lovelace@example.org", "Bea Brown", "bea.brown@example.org", "Cy Outside",
           "Sam Carer", "+15035550142", "oxygen", "dialysis", "hearing")


async def public_texts(system, report_id: str) -> str:
    """Every public answer a person without a token can get about the picture and this report."""
    texts = []
    for path in ("/api/v1/reports", "/api/v1/incidents", "/api/v1/changes", "/api/v1/alerts",
                 f"/api/v1/events/{report_id}", f"/api/v1/reports/{report_id}/status", "/api/v1/reports.csv",
                 "/api/v1/reports.geojson", "/api/v1/reports.kml"):
        r = await system.http.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text[:200])
        texts.append(r.text)
    return "\n".join(texts)


async def report_in_picture(system, report_id: str) -> dict | None:
    r = await system.http.get("/api/v1/reports")
    return next((f for f in r.json()["features"] if f["id"] == report_id), None)


async def test_need_help_opens_a_report_in_the_picture_and_nothing_private_leaks(mailed, caplog):
    caplog.set_level(logging.DEBUG)
    system, box = mailed
    ada = await register(system, registrant_body("Ada Lovelace", *INSIDE, needs=["mobility", "oxygen"]))
    bea = await register(system, registrant_body("Bea Brown", INSIDE[0] + 0.001, INSIDE[1], needs=["hearing"]))
    await register(system, registrant_body("Cy Outside", *OUTSIDE, needs=["dialysis"]))
    assert ada["needs"] == ["oxygen", "mobility"]  # kept in tasking order

    issued = await system.http.post("/api/v1/alerts", json=alert_body(), headers=system.auth("alert_originator"))
    assert issued.status_code == 202, issued.text
    alert_id = issued.json()["id"]
    await eventually(lambda: box.count("ada.lovelace@example.org") == 1 and box.count("bea.brown@example.org") == 1)
    [mail] = box.by_rcpt["ada.lovelace@example.org"]
    text = mail_text(mail)
    assert "Are you safe?" in text and "Evacuate now" in text
    assert mail["Subject"] == "Emergency near you. Are you safe?"
    assert not [p for p in mail.iter_attachments()]  # no CAP XML: a short, plain message
    links = links_in(mail)
    assert set(links) == {"safe", "help"}

    # the link opens a page with one button; a forged signature is refused
    page = await system.http.get(links["help"])
    assert page.status_code == 200 and "I need help" in page.text
    forged = links["help"][:-4] + ("0000" if not links["help"].endswith("0000") else "1111")
    assert (await system.http.post(forged)).status_code == 403

    answer = await system.http.post(links["help"])
    assert answer.status_code == 200, answer.text
    report_id = answer.json()["report_id"]
    assert answer.json()["state"] == "need_help" and answer.json()["tracking_url"].endswith(f"/r/{report_id}")
    again = await system.http.post(links["help"])  # idempotent: the same report
    assert again.json()["report_id"] == report_id
    bea_links = links_in(box.by_rcpt["bea.brown@example.org"][0])
    assert (await system.http.post(bea_links["safe"])).json() == {"state": "safe", "report_id": None,
                                                                  "tracking_url": None}

    feature = await eventually(lambda: report_in_picture(system, report_id))
    props = feature["properties"]
    assert props["category"] == "needs_help" and props["source_type"] == "registry_checkin"
    lon, lat = feature["geometry"]["coordinates"]
    assert (lat, lon) == (round(INSIDE[0], 3), round(INSIDE[1], 3))  # rounded: not the door
    assert props.get("incident_id")  # correlated into an incident like every report

    # the tasking list: most urgent need first (Ada: oxygen) then Bea (hearing); Cy is not covered
    t = await system.http.get(f"/api/v1/registry/alerts/{alert_id}/tasking", headers=system.auth("registry_officer"))
    assert t.status_code == 200, t.text
    items = t.json()["items"]
    assert [(i["registrant_id"], i["top_need"], i["checkin"]) for i in items] == [
        (ada["id"], "oxygen", "need_help"), (bea["id"], "hearing", "safe")]
    assert items[0]["report_id"] == report_id and items[0]["caregiver"]["phone"] == "+15035550142"
    csv = await system.http.get(f"/api/v1/registry/alerts/{alert_id}/tasking.csv",
                                headers=system.auth("registry_officer"))
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    rows = csv.text.strip().splitlines()
    assert rows[0].startswith("rank,registrant_id,name,top_need") and "Ada Lovelace" in rows[1]
    page = await system.http.get(f"/registry/alerts/{alert_id}/tasking")
    assert page.status_code == 200 and "Ada" not in page.text  # the page holds no data itself
    for role in ("coordinator", "alert_originator", "admin"):
        r = await system.http.get(f"/api/v1/registry/alerts/{alert_id}/tasking", headers=system.auth(role))
        assert r.status_code == 403, (role, r.status_code)

    # every read is audited: who, when, which entries
    audit = await system.http.get("/api/v1/registry/audit", headers=system.auth("admin"))
    assert audit.status_code == 200, audit.text
    reads = [a for a in audit.json()["items"] if a["action"].startswith("tasking.")]
    assert [a["action"] for a in reads] == ["tasking.csv", "tasking.read"]
    assert all(a["actor"] == "Register Ready desk" and a["alert_id"] == alert_id and
               a["entries"] == [ada["id"], bea["id"]] for a in reads)

    # deliveries went through the ledger (one per registrant's channel)
    ledger = system.runtime.store.repository(DELIVERIES)
    sent = [p for p in await ledger.progress(f"registry:{alert_id}") if p.state == "sent"]
    assert len(sent) == 2

    # a check-in message whose turn comes after the check-in was answered (Bea: safe) is skipped: done, with its
    # reason, not a failure and not a dead letter
    [bea_check] = [o for o in await system.runtime.store.repository(REGISTRY).for_alert(alert_id)
                   if o.registrant_id == bea["id"]]
    late = Notice(thread=f"registry:{alert_id}", key=notice_key(bea_check.id), person=f"registrant:{bea['id']}",
                  channel_id="email-1", channel=ChannelType.email, priority=1,
                  expires=datetime.now(UTC) + timedelta(hours=1))
    producer = await start_producer(system.settings, system.runtime.bootstrap)
    try:
        assert await send_notices(store=system.runtime.store, settings=system.settings, producer=producer,
                                  notices=[late], now=datetime.now(UTC)) == [late.delivery_id]
    finally:
        await stop_producer(producer)

    async def skipped():
        row = await ledger.get(late.delivery_id)
        return row if row is not None and row.state == "skipped" else None

    row = await eventually(skipped)
    assert row.failure == "nothing to send: the notice is answered or gone" and row.sent_at is None
    receipts = [json.loads(r.value) for r in await consume_all(system.runtime.bootstrap,
                                                              system.settings.topic(ALERTS_RECEIPTS), 10**6, 3)]
    assert [r["state"] for r in receipts if r["delivery_id"] == late.delivery_id][-1] == "skipped"
    letters = await consume_all(system.runtime.bootstrap, system.settings.topic(DEAD_LETTER), 10**6, 3)
    assert not [d for d in letters if late.delivery_id.encode() in d.value]
    assert box.count("bea.brown@example.org") == 1

    # nothing private on any public answer, topic or log line
    public = await public_texts(system, report_id)
    topics = b"\n".join(await read_all_topics(system)).decode("utf-8", "replace")
    logs = "\n".join(f"{r.name}: {r.getMessage()}" for r in caplog.records if r.name not in PEER_LOGGERS)
    for secret in PRIVATE:
        assert secret not in public, secret
        assert secret not in topics, secret
        assert secret not in logs, secret
    assert ada["id"] not in public  # not even the registrant's id


async def test_silence_past_the_due_time_opens_a_report(mailed_short_timer):
    system, box = mailed_short_timer
    ada = await register(system, registrant_body("Ada Lovelace", *INSIDE, needs=["dialysis"]))
    issued = await system.http.post("/api/v1/alerts", json=alert_body(), headers=system.auth("alert_originator"))
    alert_id = issued.json()["id"]
    await eventually(lambda: box.count("ada.lovelace@example.org") == 1)
    repo = system.runtime.store.repository(REGISTRY)

    async def silent():
        [o] = await repo.for_alert(alert_id)
        return o if o.state == "silent" and o.report_id else None

    outreach = await eventually(silent)  # nobody answered: the timer row came due, the worker's loop opened it
    feature = await eventually(lambda: report_in_picture(system, outreach.report_id))
    assert feature["properties"]["category"] == "needs_help"
    assert "did not answer" in feature["properties"]["text"] and "Ada" not in feature["properties"]["text"]
    # a late "I am safe" is recorded, and the report stays for the responders to close
    late = await system.http.post(links_in(box.by_rcpt["ada.lovelace@example.org"][0])["safe"])
    assert late.status_code == 200 and late.json()["state"] == "silent"
    t = await system.http.get(f"/api/v1/registry/alerts/{alert_id}/tasking", headers=system.auth("registry_officer"))
    assert [(i["registrant_id"], i["checkin"]) for i in t.json()["items"]] == [(ada["id"], "silent")]
