"""Caregivers and SMS STOP against real peers (issue 15): a real Kannel (bearerbox, smsbox, fakesmsc as the phone
network) for the texts and the inbound STOP/START, a real SMTP peer (aiosmtpd) for the mails, the real system.

- A caregiver's phone is texted a confirmation link (in their language) and gets nothing else until they
  confirm; then an alert covering the registrant texts them too, with links that answer for the registrant, and
  the registry audit says the caregiver answered.
- STOP from a number stops the registry's texts to it (a registrant's own sms channel, a caregiver's phone) and a
  facility operator's notifications: the dashboard shows the contact opted out and the escalation goes on to the
  next contact at once (not after the escalation time); START restores.
"""

from __future__ import annotations

import logging
import re
from contextlib import asynccontextmanager
from urllib.parse import unquote_to_bytes, urlsplit

import pytest
from aiosmtpd.controller import Controller

from alerts.delivery.channels import sms
from alerts.delivery.ledger import DELIVERIES
from alerts.registry.repository import REGISTRY
from emergency.auth.tokens import Role, create_token
from emergency.stream.broker import free_port
from tests.alerts.delivery.channels.kannel import running_kannel
from tests.alerts.delivery.peers import INSIDE
from tests.alerts.registry.conftest import read_all_topics, register, registrant_body
from tests.alerts.registry.test_registry_end_to_end import PEER_LOGGERS
from tests.alerts.test_delivery_end_to_end import Mailbox
from tests.alerts.test_translations import ES
from tests.conftest import eventually, make_settings, start_system
from tests.emergency.assembly.test_durability import alert_body

CAREGIVER = "+15035550142"
BEA_PHONE = "+15035550177"
OPERATOR = "+15035550188"
LINK = re.compile(r"https?://[^\s]+/api/v1/registry/(?:checkins|caregivers)/[^\s]+")


@asynccontextmanager
async def texted_system(broker, sqlite_url, tmp_path, **extra):
    """The system with email through aiosmtpd and SMS through a real Kannel whose get-url is this system's
    inbound SMS path; (system, mailbox, kannel)."""
    box = Mailbox()
    smtp = Controller(box, hostname="127.0.0.1", port=free_port())
    smtp.start()
    port = free_port()
    base = make_settings(broker, sqlite_url, tmp_path, public_url=f"http://127.0.0.1:{port}",
                         smtp_url=f"smtp://127.0.0.1:{smtp.port}", delivery_retry_base_s=0.2, notice_timer_s=0.2,
                         **extra)
    try:
        async with running_kannel(tmp_path / "kannel", get_url=sms.inbound_url(base)) as kannel:
            settings = base.model_copy(update={"sms_gateway_url": kannel.gateway_url, "sms_from": "12345"})
            system, task, server = await start_system(settings, broker, port=port)
            system.tokens["registry_officer"], _ = await create_token(system.runtime.store, name="Register Ready desk",
                                                                      roles=[Role.registry_officer])
            try:
                yield system, box, kannel
            finally:
                await system.http.aclose()
                server.should_exit = True
                await task
                await system.runtime.stop()
    finally:
        smtp.stop()


@pytest.fixture
async def texted(broker, sqlite_url, tmp_path):
    async with texted_system(broker, sqlite_url, tmp_path, facility_escalation_s=3600.0) as parts:
        yield parts


def texts_to(kannel, number: str) -> list[str]:
    """The whole texts the phone ``number`` got through the ``mt`` SMSC (concatenated parts joined)."""
    out, parts = [], []
    for line in kannel.messages():
        sender, receiver, kind, rest = line.split(" ", 3)
        if receiver != number:
            continue
        if kind == "text":
            out.append(unquote_plus(rest))
            continue
        udh, _data, data = rest.split(" ")  # "udh <UDH> data <payload>": one part of a concatenated text
        header = octets(udh)
        parts.append(octets(data))
        if header[5] == header[4]:  # the last part
            payload = b"".join(parts)
            parts = []
            out.append(payload.decode("utf-16-be") if b"\x00" in payload else payload.decode("latin-1"))
    return out


def octets(urlencoded: str) -> bytes:
    return unquote_to_bytes(urlencoded.replace("+", "%20"))


def unquote_plus(text: str) -> str:
    return octets(text).decode("utf-8", "replace")


def paths(text: str) -> dict[str, str]:
    """The links of a text by their last path part's kind (safe, help, cgsafe, cghelp, confirm), as paths."""
    out = {}
    for url in LINK.findall(text):
        path = urlsplit(url.rstrip(".")).path
        token = path.rsplit("/", 1)[1]
        out["confirm" if "/caregivers/" in path else token.split(".")[1]] = path
    return out


async def audit(system) -> list[dict]:
    r = await system.http.get("/api/v1/registry/audit", headers=system.auth("registry_officer"))
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def issue(system, body: dict | None = None) -> str:
    r = await system.http.post("/api/v1/alerts", json=body or alert_body(), headers=system.auth("alert_originator"))
    assert r.status_code == 202, r.text
    return r.json()["id"]


async def channels_reached(system, alert_id: str) -> list[str]:
    """The channel ids the registry's check-ins for ``alert_id`` went to (their ledger rows), once every check-in
    of the alert has its deliveries written."""
    ledger = system.runtime.store.repository(DELIVERIES)
    rows = await system.runtime.store.repository(REGISTRY).for_alert(alert_id)
    if not rows or any(not o.delivery_ids for o in rows):
        return []
    return sorted([(await ledger.get(d)).channel_id for o in rows for d in o.delivery_ids])


async def test_a_caregiver_confirms_then_answers_for_the_registrant_in_their_language(texted, caplog):
    caplog.set_level(logging.DEBUG)
    system, box, kannel = texted
    ada = await register(system, registrant_body("Ada Lovelace", *INSIDE, caregiver={
        "name": "Sam Carer", "phone": CAREGIVER, "relation": "son", "language": "es"}))
    assert ada["caregiver"]["confirmed_at"] is None and ada["caregiver"]["language"] == "es"

    # the confirmation text, in the caregiver's language, names nobody
    [confirm] = await eventually(lambda: texts_to(kannel, CAREGIVER))
    assert "Usted figura como cuidador" in confirm and "Ada" not in confirm
    link = paths(confirm)["confirm"]

    # not confirmed yet: an alert mails Ada and texts nobody
    first = await issue(system)
    await eventually(lambda: box.count("ada.lovelace@example.org") == 1)
    assert await eventually(lambda: channels_reached(system, first)) == ["email-0"]

    page = await system.http.get(link)
    assert page.status_code == 200 and '<html lang="es">' in page.text and "Sí, envíenme mensajes" in page.text
    assert (await system.http.post(link[:-3] + "000")).status_code == 403  # a forged link
    done = await system.http.post(link)
    assert done.status_code == 200 and done.json()["confirmed"] is True, done.text
    assert (await system.http.post(link)).status_code == 200  # idempotent

    # confirmed: the next alert texts the caregiver too, in Spanish, with the alert's Spanish headline
    second = await issue(system, {**alert_body(), "language": "en-US", "translations": {"es-US": ES}})
    await eventually(lambda: len(texts_to(kannel, CAREGIVER)) == 2)
    text = texts_to(kannel, CAREGIVER)[1]
    assert text.startswith("Emergencia cerca de Ada, a quien usted cuida: " + ES["headline"]), text
    links = paths(text)
    assert set(links) == {"cgsafe", "cghelp"}
    assert await channels_reached(system, second) == ["caregiver", "email-0"]
    page = await system.http.get(links["cghelp"])
    assert '<html lang="es">' in page.text and "Sí, necesita ayuda" in page.text

    answer = await system.http.post(links["cghelp"])
    assert answer.status_code == 200 and answer.json()["state"] == "need_help" and answer.json()["report_id"]
    items = await audit(system)
    [answered] = [a for a in items if a["action"] == "checkin.need_help"]
    assert answered["actor"] == "the caregiver (check-in link)" and answered["entries"] == [ada["id"]]
    assert answered["alert_id"] == second
    assert any(a["action"] == "caregiver.confirm" and a["entries"] == [ada["id"]] for a in items)
    t = await system.http.get(f"/api/v1/registry/alerts/{second}/tasking", headers=system.auth("registry_officer"))
    [item] = t.json()["items"]
    assert (item["checkin"], item["answered_by"]) == ("need_help", "caregiver")

    # the caregiver's name and phone are on no topic and in no log line of ours, even at DEBUG: httpx's INFO line
    # of each request would carry the Kannel sendsms URL, number and password included (emergency.http holds it)
    topics = b"\n".join(await read_all_topics(system)).decode("utf-8", "replace")
    logs = "\n".join(f"{r.name}: {r.getMessage()}" for r in caplog.records if r.name not in PEER_LOGGERS)
    for secret in ("Sam Carer", CAREGIVER, CAREGIVER.lstrip("+"), "Ada Lovelace"):
        assert secret not in topics and secret not in logs, secret


async def test_stop_from_a_number_stops_the_registry_texts_to_it_and_start_restores(texted):
    system, box, kannel = texted
    repo = system.runtime.store.repository(REGISTRY)
    bea = await register(system, registrant_body("Bea Brown", *INSIDE, caregiver=None, channels=[
        {"type": "sms", "number": BEA_PHONE}, {"type": "email", "address": "bea.brown@example.org"}]))
    ada = await register(system, registrant_body("Ada Lovelace", INSIDE[0] + 0.0005, INSIDE[1],
                                                 caregiver={"name": "Sam Carer", "phone": CAREGIVER}))
    [confirm] = await eventually(lambda: texts_to(kannel, CAREGIVER))
    assert (await system.http.post(paths(confirm)["confirm"])).status_code == 200

    assert await kannel.inject(BEA_PHONE, "12345", "STOP", expect_reply=True) == \
        [f"12345 {BEA_PHONE} text {sms.REPLY_STOPPED}"]
    assert await kannel.inject(CAREGIVER, "12345", "stop", expect_reply=True) == \
        [f"12345 {CAREGIVER} text {sms.REPLY_STOPPED}"]
    assert [c.stopped for c in (await repo.get(bea["id"])).channels] == [True, False]
    assert (await repo.get(ada["id"])).caregiver.stopped is True
    stops = [a for a in await audit(system) if a["action"] == "sms.stop"]
    assert [a["entries"] for a in stops] == [[ada["id"]], [bea["id"]]]  # newest first

    # an alert now: mails only; no text to either number
    alert_id = await issue(system)
    await eventually(lambda: box.count("bea.brown@example.org") == 1 and box.count("ada.lovelace@example.org") == 1)
    reached = await eventually(lambda: channels_reached(system, alert_id))
    assert reached == ["email-0", "email-0"]  # Ada's and Bea's email; not Bea's sms-0, not the caregiver
    assert texts_to(kannel, BEA_PHONE) == [] and len(texts_to(kannel, CAREGIVER)) == 1  # the confirmation only

    # START restores them
    [started] = await kannel.inject(BEA_PHONE, "12345", "START", expect_reply=True)
    assert started.endswith(sms.REPLY_STARTED)
    await kannel.inject(CAREGIVER, "12345", "START", expect_reply=True)
    assert [c.stopped for c in (await repo.get(bea["id"])).channels] == [False, False]
    assert (await repo.get(ada["id"])).caregiver.stopped is False
    assert [a["entries"] for a in await audit(system) if a["action"] == "sms.start"] == [[ada["id"]], [bea["id"]]]
    again = await issue(system)
    await eventually(lambda: len(texts_to(kannel, BEA_PHONE)) == 1 and len(texts_to(kannel, CAREGIVER)) == 2)
    assert await channels_reached(system, again) == ["caregiver", "email-0", "email-0", "sms-0"]


async def dashboard(system) -> list[dict]:
    r = await system.http.get("/api/v1/facilities/notifications", headers=system.auth("coordinator"))
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_a_facility_operator_who_stops_is_shown_opted_out_and_the_next_contact_is_told_at_once(texted):
    system, box, kannel = texted  # the escalation time is an hour: only the STOP moves the escalation on
    body = {"name": "Division St pump station", "type": "water", "lat": INSIDE[0], "lon": INSIDE[1],
            "radius_m": 1000.0, "contacts": [{"name": "Ops desk", "channels": [{"type": "sms", "number": OPERATOR}]},
                                             {"name": "Ben", "channels": [{"type": "email",
                                                                           "address": "ben@utility.example"}]}]}
    r = await system.http.post("/api/v1/facilities", json=body, headers=system.auth("admin"))
    assert r.status_code == 201, r.text
    fid = r.json()["id"]
    first = await issue(system)
    [told] = await eventually(lambda: texts_to(kannel, OPERATOR))
    assert "Division St pump station" in told
    [item] = await dashboard(system)
    assert item["state"] == "notified" and [t["contact_name"] for t in item["told"]] == ["Ops desk"]

    assert await kannel.inject(OPERATOR, "12345", "STOP", expect_reply=True) == \
        [f"12345 {OPERATOR} text {sms.REPLY_STOPPED}"]
    await eventually(lambda: box.count("ben@utility.example") == 1)  # at once, not after the hour

    [item] = await dashboard(system)
    assert item["cause_id"] == first and item["state"] == "notified"
    assert [(t["contact_name"], t["opted_out"]) for t in item["told"]] == [("Ops desk", ["+1503*****88"]), ("Ben", [])]
    facility = (await system.http.get(f"/api/v1/facilities/{fid}", headers=system.auth("admin"))).json()
    assert facility["contacts"][0]["channels"][0]["stopped"] is True
    assert [(o["contact_index"], o["stopped"]) for o in facility["opt_outs"]] == [(0, True)]
    page = await system.http.get("/facilities/notifications")
    assert "passed over: " in page.text and "opted out: " in page.text  # the page's script shows both fields

    # a new alert: the opted-out contact is passed over at once, and says so; nothing is texted to them
    second = await issue(system, {**alert_body(), "headline": "Boil water notice near SE Division St"})
    await eventually(lambda: box.count("ben@utility.example") == 2)
    item = next(i for i in await dashboard(system) if i["cause_id"] == second)
    assert [(t["contact_name"], t["skipped"]) for t in item["told"]] == [("Ops desk", "opted out (SMS STOP)"),
                                                                        ("Ben", None)]
    assert len(texts_to(kannel, OPERATOR)) == 1

    # START: the operator's channel is on again, and the record keeps both
    await kannel.inject(OPERATOR, "12345", "START", expect_reply=True)
    facility = (await system.http.get(f"/api/v1/facilities/{fid}", headers=system.auth("admin"))).json()
    assert facility["contacts"][0]["channels"][0]["stopped"] is False
    assert [(o["contact_index"], o["stopped"]) for o in facility["opt_outs"]] == [(0, True), (0, False)]

    # replacing the facility keeps a STOP of a number still on it (only START lifts it)
    await kannel.inject(OPERATOR, "12345", "STOP", expect_reply=True)
    r = await system.http.put(f"/api/v1/facilities/{fid}", json=body, headers=system.auth("admin"))
    assert r.status_code == 200 and r.json()["contacts"][0]["channels"][0]["stopped"] is True, r.text
