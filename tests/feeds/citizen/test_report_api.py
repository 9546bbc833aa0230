"""The report API's additions for the report page: the 202's tracking link, the place suggestions of
``GET /api/v1/geocode``, a contact kept only in the private contact store, the ``incident_id`` hint, and the
coordinators' public replies on a report's status."""

from __future__ import annotations

import pytest

from emergency.store import open_store
from feeds.citizen.contacts import CONTACTS, ReporterContact, parse_contact
from feeds.citizen.service import reporter_ref
from tests.conftest import eventually, phone_leaks, report_body
from tests.emergency.cop.test_incidents import HAWTHORNE, act, incident_of, post_report, settled


async def test_the_answer_carries_the_tracking_link(system):
    r = await system.http.post("/api/v1/reports", json=report_body(), headers={"Idempotency-Key": "page-1"})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["tracking_url"] == f"{system.settings.public_base_url()}/r/{body['id']}"
    again = await system.http.post("/api/v1/reports", json=report_body(), headers={"Idempotency-Key": "page-1"})
    assert again.json()["id"] == body["id"] and again.json()["duplicate"] is True
    assert again.json()["tracking_url"] == body["tracking_url"]


async def test_geocode_suggests_places_with_label_precision_and_point(system):
    r = await system.http.get("/api/v1/geocode", params={"q": "Hawthorne and 20th"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["query"] == "Hawthorne and 20th"
    first = body["candidates"][0]
    assert first["label"] == "SE Hawthorne Blvd & SE 20th Ave, Portland" and first["precision"] == "street"
    assert abs(first["lat"] - 45.5122) < 0.002 and abs(first["lon"] + 122.6444) < 0.002
    typo = (await system.http.get("/api/v1/geocode", params={"q": "Hawthrone Blvd", "limit": 3})).json()
    assert typo["candidates"] and len(typo["candidates"]) <= 3
    assert "Hawthorne" in typo["candidates"][0]["label"]
    nothing = (await system.http.get("/api/v1/geocode", params={"q": "Seattle Space Needle"})).json()
    assert nothing["candidates"] == []


@pytest.mark.parametrize(("params", "field"), [
    ({}, "q"), ({"q": "   "}, "q"), ({"q": "x" * 201}, "q"), ({"q": "Hawthorne", "limit": 0}, "limit"),
    ({"q": "Hawthorne", "limit": 11}, "limit"), ({"q": "Hawthorne", "limit": "many"}, "limit"),
])
async def test_geocode_refuses_bad_input_naming_the_field(system, params, field):
    r = await system.http.get("/api/v1/geocode", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(f"{field}: "), r.json()


async def test_a_contact_is_kept_privately_and_never_on_a_public_surface(system):
    email, phone = "jane.reporter@example.org", "+1 503 555 0142"
    r = await system.http.post("/api/v1/reports", json=report_body(contact=email, category="needs_help",
                                                                   text="Neighbour trapped", **HAWTHORNE))
    assert r.status_code == 202, r.text
    rid = r.json()["id"]
    r2 = await system.http.post("/api/v1/reports", json=report_body(contact=phone, category="needs_help", **HAWTHORNE))
    rid2 = r2.json()["id"]
    await settled(system)
    iid = await incident_of(system, rid)
    contacts = system.runtime.store.repository(CONTACTS)
    assert (await contacts.get(rid)).address == email and (await contacts.get(rid)).kind == "email"
    assert (await contacts.get(rid2)).address == "+15035550142" and (await contacts.get(rid2)).kind == "sms"
    event = await system.runtime.store.get_event(rid)
    assert email not in event.to_json().decode()  # the journaled event (and every topic payload) lacks it
    assert event.attributes["private"] == {"reporter": reporter_ref(email)}
    for path in ("/api/v1/reports", f"/api/v1/events/{rid}", f"/api/v1/reports/{rid}/status", "/api/v1/incidents",
                 f"/api/v1/incidents/{iid}", "/api/v1/incidents.csv", "/api/v1/reports.geojson", "/api/v1/changes",
                 f"/r/{rid}", "/report"):
        for headers in ({}, system.auth("coordinator")):
            body = (await system.http.get(path, headers=headers)).text
            assert "jane.reporter" not in body and not phone_leaks(body, "+15035550142"), path


async def test_the_same_contact_counts_as_one_reporter(system):
    a = await post_report(system, category="smoke", text="Smoke", contact="sam@example.org", **HAWTHORNE)
    b = await post_report(system, category="smoke", text="More smoke", contact=" SAM@example.org", **HAWTHORNE)
    await settled(system)
    iid = await incident_of(system, a)
    assert await incident_of(system, b) == iid
    feature = (await system.http.get(f"/api/v1/incidents/{iid}")).json()
    assert feature["properties"]["reporters"] == 1 and feature["properties"]["status"] == "unverified"


@pytest.mark.parametrize("contact", ["not a contact", "jane@", "+1 555"])
async def test_a_contact_that_is_neither_address_nor_number_is_refused_before_journaling(system, contact):
    r = await system.http.post("/api/v1/reports", json=report_body(contact=contact))
    assert r.status_code == 422 and r.json()["detail"].startswith("contact: "), r.text
    assert (await system.runtime.store.journal_counts()).total == 0


def test_parse_contact_normalises():
    assert parse_contact("Jane@Example.ORG") == ("email", "Jane@example.org")
    assert parse_contact("+44 20 7946 0958") == ("sms", "+442079460958")


async def test_the_contact_store_on_both_backends(store_url):
    from datetime import UTC, datetime
    store = await open_store(store_url)
    try:
        repo = store.repository(CONTACTS)
        now = datetime(2026, 12, 1, 12, tzinfo=UTC)
        first = ReporterContact(report_id="citizen:1", kind="email", address="a@example.org", language="es",
                                created_at=now)
        await repo.put(first)
        await repo.put(ReporterContact(report_id="citizen:1", kind="sms", address="+15035550100", language="en",
                                       created_at=now))  # a retry keeps the first
        assert await repo.get("citizen:1") == first
        assert await repo.get("citizen:2") is None
    finally:
        await store.close()


async def test_an_incident_hint_adds_the_report_to_that_incident_when_open_and_compatible(system):
    far = {"lat": 45.5122 + 0.0015, "lon": -122.6500}  # 166 m north: beyond damage's 50 m, within 3 km of fire
    first = await post_report(system, category="damage", text="Wall collapsed", **HAWTHORNE)
    await settled(system)
    iid = await incident_of(system, first)
    # without the hint a damage report 166 m away is another incident; a hint does not stretch the rules either
    r = await system.http.post("/api/v1/reports", json=report_body(category="damage", incident_id=iid, **far))
    assert r.status_code == 202 and r.json()["incident_hint"] == iid
    await settled(system)
    assert await incident_of(system, r.json()["id"]) != iid
    # a smoke report hinting at the damage incident: another family, correlated as usual
    smoke = await system.http.post("/api/v1/reports", json=report_body(category="smoke", incident_id=iid, **HAWTHORNE))
    await settled(system)
    assert await incident_of(system, smoke.json()["id"]) != iid
    # two overlapping fire incidents: the hint chooses the one the reporter was shown
    fire_a = await post_report(system, category="spot_fire", text="Flames", lat=45.5200, lon=-122.6500)
    await settled(system)
    fire_a_inc = await incident_of(system, fire_a)
    assert (await act(system, fire_a_inc, "resolve")).status_code == 202
    await settled(system)
    fire_b = await post_report(system, category="spot_fire", text="Flames again", lat=45.5200, lon=-122.6500)
    await settled(system)
    fire_b_inc = await incident_of(system, fire_b)
    assert fire_b_inc != fire_a_inc  # the resolved one is closed
    joined = await system.http.post("/api/v1/reports", json=report_body(
        category="smoke", text="Smoke here", incident_id=fire_a_inc, lat=45.5200, lon=-122.6500))
    await settled(system)
    assert await incident_of(system, joined.json()["id"]) == fire_b_inc  # closed hint: correlated as usual
    hinted = await system.http.post("/api/v1/reports", json=report_body(
        category="smoke", text="Smoke", incident_id=fire_b_inc, lat=45.5205, lon=-122.6500))
    await settled(system)
    assert await incident_of(system, hinted.json()["id"]) == fire_b_inc


@pytest.mark.parametrize("hint", ["incident:XYZ", "nope", "incident:" + "a" * 41, 5])
async def test_a_malformed_incident_hint_is_refused(system, hint):
    r = await system.http.post("/api/v1/reports", json=report_body(incident_id=hint))
    assert r.status_code == 422 and r.json()["detail"].startswith("incident_id: "), r.text


async def test_public_replies_reach_the_status_and_notes_stay_internal(system):
    rid = await post_report(system, category="blocked_road", text="Tree down", **HAWTHORNE)
    await settled(system)
    iid = await incident_of(system, rid)
    assert (await act(system, iid, "reply")).json()["detail"].startswith("text: ")
    assert (await act(system, iid, "reply", text="x" * 1001)).json()["detail"].startswith("text: ")
    assert (await act(system, iid, "note", text="caller sounded unsure")).status_code == 202
    assert (await act(system, iid, "reply", text="A crew is on its way.")).status_code == 202
    await settled(system)

    async def replied():
        status = (await system.http.get(f"/api/v1/reports/{rid}/status")).json()
        return status if status["replies"] else None

    status = await eventually(replied)
    assert [r["text"] for r in status["replies"]] == ["A crew is on its way."]
    assert "unsure" not in str(status)
    public = (await system.http.get(f"/api/v1/incidents/{iid}")).json()["audit"]
    assert [e.get("text") for e in public] == [None, "A crew is on its way."]


BAD = {"category": "fog", "lat": "north", "lon": 200, "text": "x" * 2001, "colour": "red"}


async def test_validation_messages_follow_accept_language_and_english_stays_as_it_was(system):
    plain = await system.http.post("/api/v1/reports", json=BAD)
    english = await system.http.post("/api/v1/reports", json=BAD, headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert plain.status_code == english.status_code == 422
    assert plain.json() == english.json()
    assert plain.json()["detail"].startswith("category: Input should be 'blocked_road'")
    assert "text: String should have at most 2000 characters" in plain.json()["detail"]
    spanish = await system.http.post("/api/v1/reports", json=BAD, headers={"Accept-Language": "es-MX,es;q=0.9"})
    detail = spanish.json()["detail"]
    assert spanish.status_code == 422 and spanish.headers["content-language"] == "es"
    assert detail.startswith("category: debe ser uno de 'blocked_road'"), detail
    assert "lat: debe ser un número" in detail and "lon: debe estar entre -180 y 180" in detail
    assert "text: como máximo 2000 caracteres" in detail and "colour: campo desconocido" in detail
    assert spanish.json()["errors"] == plain.json()["errors"]  # the machine-readable list is never translated
    korean = await system.http.post("/api/v1/reports", json={"category": "smoke"}, headers={"Accept-Language": "ko"})
    assert korean.status_code == 422
    assert korean.json()["detail"] == "location_text: lat과 lon, 또는 위치를 찾을 location_text를 주세요"
    nowhere = await system.http.post("/api/v1/reports", json={"category": "smoke", "location_text": "Seattle"},
                                     headers={"Accept-Language": "es"})
    assert nowhere.json()["detail"].startswith("location_text: ninguna coincidencia en esta región (region portland")
    q = await system.http.get("/api/v1/geocode", params={"q": " "}, headers={"Accept-Language": "ko"})
    assert q.status_code == 422 and q.json()["detail"] == "q: 장소, 도로, 주소 또는 교차로를 입력하세요"
    contact = await system.http.post("/api/v1/reports", json=report_body(contact="nobody"),
                                     headers={"Accept-Language": "es"})
    assert contact.json()["detail"].startswith("contact: indique un correo electrónico o un teléfono")
    assert (await system.runtime.store.journal_counts()).total == 0


def test_the_leak_check_finds_a_number_in_any_written_form_and_not_in_a_random_id():
    """The privacy assertions' helper: the number spaced, dashed or bare is found; a hex id holding "555" is not."""
    for text in ("call +1 503 555 0142", "tel:+15035550142", "(503) 555-0142"):
        assert phone_leaks(text, "+15035550142"), text
    assert phone_leaks('{"id":"citizen:01a234b635f6-e7659a31f9c3d555"}', "+15035550142") == []
