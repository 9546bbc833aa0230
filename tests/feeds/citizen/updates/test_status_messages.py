"""Status messages to a report's reporter end to end: the real API, the ``reporter-updates`` consumer group, the
delivery path (ledger, channel worker) and a real SMTP peer (aiosmtpd). A contact given on the API gets only a
confirmation code until it is confirmed; then one message per status change, in the reporter's language, with the
tracking link and a one-click way out; a replay or a lost "queued" mark sends nothing twice; the address never
reaches a topic or a log line."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from alerts.delivery.ledger import DELIVERIES, delivery_id
from emergency.stream.producer import start_producer, stop_producer
from feeds.citizen.updates import flows
from feeds.citizen.updates.repository import UPDATES
from feeds.citizen.updates.service import STATUS_CHANNEL, confirm_key, person, status_key
from tests.alerts.registry.conftest import mail_text, mailed_system, read_all_topics
from tests.conftest import eventually, report_body

ANA, BEN = "ana.reporter@example.org", "ben.reporter@example.org"
CODE = re.compile(r"\b(\d{6})\b")


@pytest.fixture
async def mailed(broker, sqlite_url, tmp_path):
    system, box, stop = await mailed_system(broker, sqlite_url, tmp_path, reporter_update_interval_s=0)
    try:
        yield system, box
    finally:
        await stop()


async def report(system, *, contact: str, language: str, **over) -> str:
    r = await system.http.post("/api/v1/reports", json=report_body(contact=contact, **over),
                               headers={"Accept-Language": language})
    assert r.status_code == 202, r.text
    return r.json()["id"]


async def incident_of(system, report_id: str) -> str:
    async def found():
        r = await system.http.get(f"/api/v1/reports/{report_id}/status")
        return r.json()["incident_id"] if r.status_code == 200 else None

    return await eventually(found)


async def act(system, incident_id: str, action: str, **body) -> None:
    r = await system.http.post(f"/api/v1/incidents/{incident_id}/{action}", json=body or None,
                               headers=system.auth("coordinator"))
    assert r.status_code == 202, r.text


async def row(system, report_id: str):
    return await system.runtime.store.repository(UPDATES).get(report_id)


async def seen_version(system, report_id: str, version: int):
    """The reporter-updates row once the worker has seen status version ``version`` and decided on it (nothing
    left due)."""
    async def check():
        u = await row(system, report_id)
        return u if u is not None and u.version >= version and u.due_at is None else None

    return await eventually(check)


async def ledger_row(system, key: str, report_id: str, channel_id: str):
    return await system.runtime.store.repository(DELIVERIES).get(delivery_id(key, person(report_id), channel_id))


async def test_a_confirmed_contact_gets_one_message_per_status_change_and_an_unconfirmed_one_only_its_code(
        mailed, caplog):
    caplog.set_level(logging.DEBUG)
    system, box = mailed
    ana = await report(system, contact=ANA, language="es")
    ben = await report(system, contact=BEN, language="en", category="flooding", lat=45.5230, lon=-122.6760)

    # each gets a confirmation, and nothing else yet; Ana's in Spanish
    await eventually(lambda: box.count(ANA) == 1 and box.count(BEN) == 1)
    [confirm] = box.by_rcpt[ANA]
    assert confirm["Subject"] == "Confirme los mensajes de estado de su reporte"
    text = mail_text(confirm)
    [code] = CODE.findall(text)
    assert f"/r/{ana}" in text

    # a wrong code is refused naming the field (with the tries left), the right one confirms
    wrong = "000000" if code != "000000" else "111111"
    r = await system.http.post(f"/api/v1/reports/{ana}/contact/confirm", json={"code": wrong})
    assert r.status_code == 422 and r.json()["detail"].startswith("code: ") and "4 tries left" in r.json()["detail"]
    r = await system.http.post(f"/api/v1/reports/{ana}/contact/confirm", json={"code": code})
    assert r.status_code == 200 and r.json() == {"id": ana, "confirmed": True}, r.text
    r = await system.http.post("/api/v1/reports/citizen:nope/contact/confirm", json={"code": code})
    assert r.status_code == 404

    # the coordinator verifies both incidents: Ana gets one message, in Spanish, with her tracking link
    ana_incident, ben_incident = await incident_of(system, ana), await incident_of(system, ben)
    await act(system, ana_incident, "verify")
    await act(system, ben_incident, "verify")
    await eventually(lambda: box.count(ANA) == 2)
    status = box.by_rcpt[ANA][1]
    assert status["Subject"] == "Su reporte: verificado"
    body = mail_text(status)
    assert "Su reporte ahora está verificado." in body
    assert f"{system.settings.public_base_url()}/r/{ana}" in body
    assert status["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = status["List-Unsubscribe"].strip("<>")

    # Ben's status changed too, but his contact is not confirmed: the worker saw it and queued nothing
    u = await seen_version(system, ben, 1)
    assert u.sent_version == 0
    assert await ledger_row(system, status_key(ben, 1), ben, STATUS_CHANNEL) is None
    assert box.count(BEN) == 1

    # once Ben confirms, the change he missed is sent (by the timer): one message, the current state
    [ben_code] = CODE.findall(mail_text(box.by_rcpt[BEN][0]))
    r = await system.http.post(f"/api/v1/reports/{ben}/contact/confirm", json={"code": ben_code})
    assert r.status_code == 200, r.text
    await eventually(lambda: box.count(BEN) == 2)
    assert box.by_rcpt[BEN][1]["Subject"] == "Your report: verified"

    # a replay of the same input, and a crash that lost the "queued" mark, send nothing twice (the ledger)
    store, settings = system.runtime.store, system.settings
    producer = await start_producer(settings, system.runtime.bootstrap)
    try:
        events = [await store.get_event(ana), await store.get_event(ana_incident)]
        await flows.process(store=store, settings=settings, producer=producer, events=events)
        u = await row(system, ana)
        lost = u.model_copy(update={"sent_version": u.version - 1, "due_at": u.sent_at})
        assert await store.repository(UPDATES).save(lost)
        assert await flows.sweep(store=store, settings=settings, producer=producer) == 1  # queued again ...
    finally:
        await stop_producer(producer)
    assert (await ledger_row(system, confirm_key(ana), ana, "confirm")).state in ("sending", "sent")

    # ... and the next change is the only new message: resolved, with the coordinators' public reply
    await act(system, ana_incident, "reply", text="The fire crew put it out.")
    await eventually(lambda: box.count(ANA) == 3)
    assert "Respuesta de los coordinadores: The fire crew put it out." in mail_text(box.by_rcpt[ANA][2])
    await act(system, ana_incident, "resolve")
    await eventually(lambda: box.count(ANA) == 4)
    assert [m["Subject"] for m in box.by_rcpt[ANA]] == [
        "Confirme los mensajes de estado de su reporte", "Su reporte: verificado", "Su reporte: verificado",
        "Su reporte: resuelto"]  # verified, the reply (still verified), resolved: one message each

    # the one-click way out: no more messages to that address
    r = await system.http.post(urlsplit(unsubscribe).path + "?" + urlsplit(unsubscribe).query,
                               content=b"List-Unsubscribe=One-Click",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and r.json()["stopped"] is True, r.text
    bad = await system.http.post(f"/api/v1/reports/{ana}/unsubscribe?sig=00", content=b"List-Unsubscribe=One-Click",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert bad.status_code == 403 and bad.json()["detail"].startswith("sig: ")
    before = (await row(system, ana)).version
    await act(system, ana_incident, "reopen")
    u = await seen_version(system, ana, before + 1)
    assert u.sent_version == before
    assert await ledger_row(system, status_key(ana, before + 1), ana, STATUS_CHANNEL) is None
    assert box.count(ANA) == 4

    # the address never reached a topic, a public answer or a log line
    for address in (ANA, BEN):
        assert not [m for m in await read_all_topics(system) if address.encode() in m]
        assert not [r.getMessage() for r in caplog.records if address in r.getMessage()
                    and r.name != "mail.log"]  # but the test's SMTP peer, the receiving server, logs its RCPT TO
        for path in (f"/api/v1/reports/{ana}/status", f"/api/v1/events/{ana}", f"/api/v1/incidents/{ana_incident}"):
            assert address not in (await system.http.get(path)).text


@pytest.fixture
async def mailed_bounded(broker, sqlite_url, tmp_path):
    system, box, stop = await mailed_system(broker, sqlite_url, tmp_path, reporter_update_interval_s=300)
    try:
        yield system, box
    finally:
        await stop()


async def test_changes_within_the_rate_bound_wait_and_only_the_latest_state_is_sent(mailed_bounded):
    system, box = mailed_bounded
    rid = await report(system, contact=ANA, language="en")
    await eventually(lambda: box.count(ANA) == 1)
    [code] = CODE.findall(mail_text(box.by_rcpt[ANA][0]))
    r = await system.http.post(f"/api/v1/reports/{rid}/contact/confirm", json={"code": code})
    assert r.status_code == 200, r.text
    incident = await incident_of(system, rid)
    await act(system, incident, "verify")  # the first message goes at once
    await eventually(lambda: box.count(ANA) == 2)
    assert box.by_rcpt[ANA][1]["Subject"] == "Your report: verified"

    # a busy incident: a reply and the resolution within the bound wait in the row, nothing is sent
    await act(system, incident, "reply", text="Crews are on site.")
    await act(system, incident, "resolve")

    async def held():
        u = await row(system, rid)
        return u if u.status.status == "resolved" and u.status.replies == 1 and u.due_at is not None else None

    u = await eventually(held)  # version 3, or 2 when both changes came in one batch (coalesced there already)
    assert u.version in (2, 3) and u.sent_version == 1 and u.due_at == u.sent_at + timedelta(seconds=300)
    assert await ledger_row(system, status_key(rid, 2), rid, STATUS_CHANNEL) is None
    assert box.count(ANA) == 2

    # when the bound has passed the timer sends one message: the latest state, with the reply
    producer = await start_producer(system.settings, system.runtime.bootstrap)
    try:
        assert await flows.sweep(store=system.runtime.store, settings=system.settings, producer=producer,
                                 now=u.due_at) == 1
    finally:
        await stop_producer(producer)
    await eventually(lambda: box.count(ANA) == 3)
    last = box.by_rcpt[ANA][2]
    assert last["Subject"] == "Your report: resolved"
    assert "Reply from the coordinators: Crews are on site." in mail_text(last)
    async def sent():
        found = await ledger_row(system, status_key(rid, u.version), rid, STATUS_CHANNEL)
        return found is not None and found.state == "sent"

    await eventually(sent)
    assert [await ledger_row(system, status_key(rid, v), rid, STATUS_CHANNEL) for v in range(2, u.version)] == \
        [None] * (u.version - 2)  # the versions between were never sent: coalesced into the latest
