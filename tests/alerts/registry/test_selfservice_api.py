"""The public self-registration through the real API, the real delivery path (ledger, priority topics, the email
channel worker), a real SMTP peer (aiosmtpd) and the real ``registry`` consumer group: a person registers, the
answer echoes what was understood (address as matched, needs, masked contacts) with a token shown once; the
confirmation code arrives by email; an alert covering the pending entry sends it no check-in, and once confirmed
the next one does; officers see it marked self/pending and can review it; the holder reads, changes and
withdraws it with the token (another token or an unknown id: the same 404); withdrawal erases the personal data
and leaves only the id in the audit trail; nothing personal on any public answer, topic or log line."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

import pytest

from alerts.registry.flows import erase_unconfirmed
from alerts.registry.repository import REGISTRY
from tests.alerts.delivery.peers import INSIDE
from tests.alerts.registry.conftest import mail_text, mailed_system, read_all_topics, register, registrant_body
from tests.alerts.registry.test_registry_end_to_end import PEER_LOGGERS
from tests.conftest import eventually
from tests.emergency.assembly.test_durability import alert_body

PATH = "/api/v1/registry/registrations"
CODE = re.compile(r"code\D{0,40}?(\d{6})")
PRIVATE = ("Rosa Parks", "rosa.parks@example.org", "Cal Carer", "+15035550177", "oxygen")


def body(**over) -> dict:
    b = {"registered_by": "caregiver", "name": "Rosa Parks", "lat": INSIDE[0], "lon": INSIDE[1],
         "needs": ["oxygen", "mobility", "oxygen"], "channels": [{"type": "email", "address": "rosa.parks@example.org"}],
         "caregiver": {"name": "Cal Carer", "phone": "+15035550177", "relation": "nephew"}, "consent": True}
    b.update(over)
    return b


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def mailed(broker, sqlite_url, tmp_path):
    system, box, stop = await mailed_system(broker, sqlite_url, tmp_path, registry_register_rate="3/hour")
    try:
        yield system, box
    finally:
        await stop()


async def test_a_self_registration_is_pending_until_confirmed_then_checked_on_then_withdrawn(mailed, caplog):
    caplog.set_level(logging.DEBUG)
    system, box = mailed
    r = await system.http.post(PATH, json=body())
    assert r.status_code == 201, r.text
    made = r.json()
    rid, token = made["id"], made["token"]
    assert made["status"] == "pending_confirmation" and made["source"] == "caregiver"
    assert made["needs"] == ["oxygen", "mobility"]  # what was understood: each once, most urgent first
    assert made["location"]["lat"] == INSIDE[0] and made["location"]["geo_precision"] == "exact"
    assert [c["contact"] for c in made["channels"]] == ["r***@example.org"]  # masked, even to the holder
    assert made["pending_confirmation"] == ["email-0"]
    made_at = datetime.fromisoformat(made["created_at"])  # never confirmed in 3 days (the default): erased then
    assert datetime.fromisoformat(made["unconfirmed_expires_at"]) == made_at + timedelta(days=3)

    # the code arrives by email; the entry is pending: an alert covering it sends it no check-in
    await eventually(lambda: box.count("rosa.parks@example.org") == 1)
    first = mail_text(box.by_rcpt["rosa.parks@example.org"][0])
    code = CODE.search(first).group(1)
    officer = system.auth("registry_officer")
    listed = (await system.http.get("/api/v1/registry/registrants", headers=officer)).json()["items"]
    assert [(i["id"], i["source"], i["status"]) for i in listed] == [(rid, "caregiver", "pending_confirmation")]
    await register(system, registrant_body("Olive Officer", *INSIDE))  # an officer's entry: active at once
    one = await system.http.post("/api/v1/alerts", json=alert_body(), headers=system.auth("alert_originator"))
    assert one.status_code == 202, one.text
    await eventually(lambda: box.count("olive.officer@example.org") == 1)  # the registry group handled it
    repo = system.runtime.store.repository(REGISTRY)
    assert [o.registrant_id for o in await repo.for_alert(one.json()["id"])] != [] and \
        rid not in [o.registrant_id for o in await repo.for_alert(one.json()["id"])]
    assert box.count("rosa.parks@example.org") == 1  # the confirmation only

    # a wrong code, then the right one: active
    wrong = await system.http.post(f"{PATH}/{rid}/confirm", json={"channel": "email", "code": "99999x"},
                                   headers=bearer(token))
    assert wrong.status_code == 422 and wrong.json()["detail"].startswith("code:"), wrong.text
    ok = await system.http.post(f"{PATH}/{rid}/confirm", json={"channel": "email", "code": code},
                                headers=bearer(token))
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"id": rid, "channel_id": "email-0", "confirmed": True, "status": "active",
                         "pending_confirmation": []}
    two = await system.http.post("/api/v1/alerts", json=alert_body(),
                                 headers=system.auth("alert_originator"))
    assert two.status_code == 202, two.text
    await eventually(lambda: box.count("rosa.parks@example.org") == 2)
    assert "Are you safe?" in mail_text(box.by_rcpt["rosa.parks@example.org"][1])

    # officers: marked as self-registered, reviewable (audited)
    seen = await system.http.get(f"/api/v1/registry/registrants/{rid}", headers=officer)
    assert seen.json()["source"] == "caregiver" and seen.json()["status"] == "active"
    assert seen.json()["reviewed_at"] is None
    reviewed = await system.http.post(f"/api/v1/registry/registrants/{rid}/review", headers=officer)
    assert reviewed.status_code == 200 and reviewed.json()["reviewed_at"], reviewed.text
    assert (await system.http.post(f"/api/v1/registry/registrants/{rid}/review",
                                   headers=system.auth("admin"))).status_code == 403

    # the holder reads and changes it; a changed contact is pending again, and gets a new code
    mine = await system.http.get(f"{PATH}/{rid}", headers=bearer(token))
    assert mine.status_code == 200 and mine.json()["name"] == "Rosa Parks" and "token" not in mine.json()
    changed = await system.http.patch(f"{PATH}/{rid}", headers=bearer(token), json={
        "needs": ["hearing"], "channels": [{"type": "email", "address": "rosa.parks@example.org"},
                                           {"type": "sms", "number": "+15035550178"}]})
    assert changed.status_code == 200, changed.text
    assert changed.json()["needs"] == ["hearing"] and changed.json()["status"] == "pending_confirmation"
    assert changed.json()["pending_confirmation"] == ["sms-0"]  # the email kept its confirmation
    assert changed.json()["unconfirmed_expires_at"] is None  # it was active: it stays, and stays covered
    three = await system.http.post("/api/v1/alerts", json=alert_body(), headers=system.auth("alert_originator"))
    assert three.status_code == 202, three.text
    await eventually(lambda: box.count("rosa.parks@example.org") == 3)  # the confirmed email is checked on
    assert "Are you safe?" in mail_text(box.by_rcpt["rosa.parks@example.org"][2])
    assert rid in [o.registrant_id for o in await repo.for_alert(three.json()["id"])]

    # another token, or none, or an unknown id: the same answer
    other = await system.http.post(PATH, json=body(name="Someone Else", registered_by="self", caregiver=None,
                                                   channels=[{"type": "email", "address": "else@example.org"}]))
    assert other.status_code == 201, other.text
    for path, headers in ((f"{PATH}/{rid}", bearer(other.json()["token"])), (f"{PATH}/reg-none", bearer(token)),
                          (f"{PATH}/{rid}", bearer("x" * 43))):
        for method in ("GET", "DELETE"):
            answer = await system.http.request(method, path, headers=headers)
            assert answer.status_code == 404, (method, path, answer.text)
            assert answer.json()["detail"] == "registration: not found, or the token is not this registration's"
    assert (await system.http.get(f"{PATH}/{rid}")).status_code == 401

    # withdrawal: the entry and its personal data erased; the trail keeps the id only
    gone = await system.http.delete(f"{PATH}/{rid}", headers=bearer(token))
    assert gone.status_code == 200 and gone.json() == {"id": rid, "deleted": True}, gone.text
    assert await repo.get(rid) is None
    assert (await system.http.get(f"{PATH}/{rid}", headers=bearer(token))).status_code == 404
    trail = (await system.http.get("/api/v1/registry/audit", headers=officer)).json()["items"]
    mine_trail = [a for a in trail if rid in a["entries"]]
    assert mine_trail[0]["action"] == "registrations.delete" and mine_trail[0]["entries"] == [rid]
    assert {a["action"] for a in mine_trail} >= {"registrations.create", "registrations.confirm",
                                                 "registrations.update", "registrants.review"}

    # nothing personal on a public answer, a topic or a log line
    public = []
    for path in ("/api/v1/reports", "/api/v1/incidents", "/api/v1/changes", "/api/v1/alerts", "/api/v1/reports.csv",
                 "/api/v1/reports.geojson"):
        answer = await system.http.get(path)
        assert answer.status_code == 200, (path, answer.status_code)
        public.append(answer.text)
    public = "\n".join(public)
    topics = b"\n".join(await read_all_topics(system)).decode("utf-8", "replace")
    logs = "\n".join(f"{r.name}: {r.getMessage()}" for r in caplog.records if r.name not in PEER_LOGGERS)
    for secret in (*PRIVATE, code, token):
        assert secret not in public, secret
        assert secret not in topics, secret
        assert secret not in logs, secret
    assert str(trail).count("Rosa") == 0


@pytest.mark.parametrize(("change", "field"), [
    ({"consent": False}, "consent"),
    ({"registered_by": "caregiver", "caregiver": None}, "caregiver"),
    ({"needs": ["wings"]}, "needs[0]"),
    ({"channels": [{"type": "webhook", "url": "https://example.org/x"}]}, "channels[0].type"),
    ({"channels": [{"type": "sms", "number": "5035550100"}]}, "channels[0].number"),
    ({"lat": None, "lon": None, "address": "SE Hawthorne Blvd"}, "address"),
    ({"lat": None, "lon": None, "address": "Nowhere Lane & Imaginary Ave"}, "address"),
])
async def test_bad_input_is_refused_naming_the_field(system, change, field):
    r = await system.http.post(PATH, json={**body(), **change})
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(f"{field}:"), r.text
    if "Hawthorne" in str(change):
        assert r.json()["candidates"] == ["SE Hawthorne Blvd, Portland"]  # what it matched
    assert "Rosa" not in r.text


async def test_the_address_is_echoed_as_matched(system):
    r = await system.http.post(PATH, json=body(lat=None, lon=None, address="SE Division St & SE 12th Ave"))
    assert r.status_code == 201, r.text
    assert r.json()["location"]["label"] == "SE Division St & SE 12th Ave, Portland"
    assert r.json()["location"]["geo_precision"] == "street"


async def test_registrations_are_rate_limited_per_address(mailed):
    system, _ = mailed
    for i in range(3):
        r = await system.http.post(PATH, json=body(channels=[{"type": "email", "address": f"p{i}@example.org"}]))
        assert r.status_code == 201, r.text
    r = await system.http.post(PATH, json=body())
    assert r.status_code == 429 and r.headers["Retry-After"], r.text
    assert r.json()["detail"].startswith("registration: at most 3 per 1 hour from one address "
                                         "(EMERGENCY_REGISTRY_REGISTER_RATE)"), r.text


async def test_a_registration_never_confirmed_is_erased_when_its_time_is_up(mailed):
    system, _ = mailed
    r = await system.http.post(PATH, json=body(channels=[{"type": "email", "address": "not.mine@example.org"}]))
    assert r.status_code == 201, r.text
    rid, token, expires = r.json()["id"], r.json()["token"], datetime.fromisoformat(r.json()["unconfirmed_expires_at"])
    settings, store = system.runtime.settings, system.runtime.store
    assert await erase_unconfirmed(store=store, settings=settings, now=expires - timedelta(minutes=1)) == 0
    assert (await system.http.get(f"{PATH}/{rid}", headers=bearer(token))).status_code == 200
    assert await erase_unconfirmed(store=store, settings=settings, now=expires + timedelta(minutes=1)) == 1
    assert (await system.http.get(f"{PATH}/{rid}", headers=bearer(token))).status_code == 404
    assert await store.repository(REGISTRY).get(rid) is None
    trail = (await system.http.get("/api/v1/registry/audit", headers=system.auth("registry_officer"))).json()
    expired = [a for a in trail["items"] if a["action"] == "registrations.expire"]
    assert [a["entries"] for a in expired] == [[rid]] and "not.mine" not in str(trail)
