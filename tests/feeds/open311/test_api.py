"""Open311 GeoReport v2 against the real system (embedded broker, SQLite, uvicorn on a free port): the live
answers validate against the spec's schemas, a POSTed request reaches the picture through raw.citizen,
personal fields never leave through a GET, statuses follow coordinators' actions, an independent client
(the ``georeport`` package) reads everything, and bad input is refused in the spec's error format."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode

from georeport import GeoReport

from emergency.auth.tokens import Role, create_token
from feeds.citizen.contacts import CONTACTS
from feeds.open311.formats import from_xml
from tests.conftest import PORTLAND_POINT, eventually
from tests.feeds.open311.spec import example_xml, validate

V2 = "/open311/v2"
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
PRIVATE = {"email": "jo.resident@example.org", "phone": "+15035550123", "first_name": "Joanna",
           "last_name": "Residentova", "device_id": "device-7f3a9c", "account_id": "acct-991",
           "media_url": "https://photos.example.org/p/123.jpg"}


def form(**fields) -> str:
    return urlencode({"service_code": "blocked_road", "lat": PORTLAND_POINT["lat"], "long": PORTLAND_POINT["lon"],
                      "description": "Tree across both lanes", **fields})


async def post(system, body: str, fmt: str = "json", headers: dict[str, str] | None = None):
    return await system.http.post(f"{V2}/requests.{fmt}", content=body, headers={**FORM, **(headers or {})})


async def in_picture(system, event_id: str) -> dict:
    async def found():
        r = await system.http.get(f"/api/v1/events/{event_id}")
        return r.json() if r.status_code == 200 else None

    return await eventually(found)


def spec_error(r, status: int, field: str) -> str:
    """The answer is the spec's error document, code = HTTP status, the description naming ``field``."""
    assert r.status_code == status, r.text
    if r.headers["content-type"].startswith("application/json"):
        errors = r.json()
    else:
        assert r.headers["content-type"].startswith("text/xml")
        root, errors = from_xml(r.content)
        assert root == "errors"
        errors = [{"code": int(e["code"]), "description": e["description"]} for e in errors]
    assert len(errors) == 1 and errors[0]["code"] == status, errors
    assert errors[0]["description"].startswith(f"{field}:"), errors
    return errors[0]["description"]


async def test_discovery_services_and_definitions_in_both_formats_validate(system):
    r = await system.http.get(f"{V2}/discovery.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    endpoint = r.json()["endpoints"][0]
    assert endpoint["url"].endswith("/open311/v2") and set(endpoint["formats"]) == {"text/xml", "application/json"}
    xml = await system.http.get(f"{V2}/discovery.xml")
    assert xml.headers["content-type"].startswith("text/xml") and xml.content.startswith(b"<?xml")
    services = (await system.http.get(f"{V2}/services.json")).json()
    validate(services, "services.json")
    assert {s["service_code"] for s in services} == {"blocked_road", "spot_fire", "smoke", "flooding", "damage",
                                                     "needs_help", "other"}
    root, as_xml = from_xml((await system.http.get(f"{V2}/services.xml")).content)
    assert root == "services" and [s["service_code"] for s in as_xml] == [s["service_code"] for s in services]
    for s in services:
        definition = (await system.http.get(f"{V2}/services/{s['service_code']}.json")).json()
        validate(definition, "service-definition.json")
        assert s["metadata"] is bool(definition["attributes"])
        root, _ = from_xml((await system.http.get(f"{V2}/services/{s['service_code']}.xml")).content)
        assert root == "service_definition"


async def test_a_posted_request_reaches_the_picture_and_reads_back_without_personal_data(system):
    r = await post(system, form(address_string="SE Hawthorne Blvd", **PRIVATE,
                                **{"attribute[BLOCKAGE]": "tree", "attribute[LANES]": "all"}))
    assert r.status_code == 200, r.text
    [created] = r.json()
    rid = created["service_request_id"]
    assert rid.startswith("citizen:") and created["tracking_url"].endswith(f"/r/{rid}")
    assert created["tracking_url"] in created["service_notice"]
    feature = await in_picture(system, rid)  # raw.citizen -> normaliser -> correlator -> projector
    assert feature["properties"]["category"] == "blocked_road"
    assert feature["properties"]["source_type"] == "open311"
    assert feature["geometry"]["coordinates"] == [PORTLAND_POINT["lon"], PORTLAND_POINT["lat"]]
    stored = await system.runtime.store.get_event(rid)
    assert stored.attributes["open311"] == {"service_code": "blocked_road",
                                            "attributes": {"BLOCKAGE": "tree", "LANES": "all"}}
    # nothing personal is journaled: the email is in the private contact store (status messages go there), and
    # neither it nor the names, device or account ids are in the event
    assert set(stored.attributes["private"]) == {"reporter"}
    assert not any(str(v) in stored.model_dump_json() for v in PRIVATE.values())
    kept = await system.runtime.store.repository(CONTACTS).get(rid)
    assert (kept.kind, kept.address) == ("email", PRIVATE["email"])
    one = (await system.http.get(f"{V2}/requests/{rid}.json")).json()
    validate(one, "requests.json")
    assert one[0]["status"] == "open" and one[0]["status_notes"] in ("received", "under review")
    assert one[0]["address"] == "SE Hawthorne Blvd" and one[0]["media_url"] is None
    listed = (await system.http.get(f"{V2}/requests.json", params={"service_code": "blocked_road"})).json()
    validate(listed, "requests.json")
    assert [x["service_request_id"] for x in listed] == [rid]
    answers = [one, listed, (await system.http.get(f"{V2}/requests.xml")).text,
               (await system.http.get(f"{V2}/requests/{rid}.xml")).text,
               (await system.http.get(f"{V2}/tokens/{rid}.json")).json(),
               (await system.http.get(f"{V2}/servicerequestupdates.xml")).text,
               (await system.http.get("/api/v1/reports")).json(), feature]
    text = json.dumps(answers)
    for value in PRIVATE.values():
        assert value not in text, value


async def test_the_spec_example_request_is_answered_as_the_spec_says(system):
    body = example_xml("post_service_request_example1.txt").strip().split(b"\n")[-1]
    # as sent: api_key=xyz is no key of ours -> 403, as the spec's error example
    r = await system.http.post(f"{V2}/requests.xml", content=body, headers=FORM)
    spec_error(r, 403, "api_key")
    # without the key: jurisdiction city.gov is not ours -> 404 naming it
    body = body.replace(b"api_key=xyz&", b"")
    spec_error(await system.http.post(f"{V2}/requests.xml", content=body, headers=FORM), 404, "jurisdiction_id")
    body = body.replace(b"jurisdiction_id=city.gov&", b"")
    spec_error(await system.http.post(f"{V2}/requests.xml", content=body, headers=FORM), 404, "service_code")
    body = body.replace(b"service_code=001", b"service_code=damage")
    spec_error(await system.http.post(f"{V2}/requests.xml", content=body, headers=FORM), 400, "attribute[WHISPAWN]")
    body = body.replace(b"attribute[WHISPAWN]=123456&attribute[WHISDORN]=COISL001", b"attribute[WHAT]=road")
    r = await system.http.post(f"{V2}/requests.xml", content=body, headers=FORM)
    assert r.status_code == 200, r.text
    root, [created] = from_xml(r.content)
    assert root == "service_requests" and set(created) == {"service_request_id", "service_notice", "account_id",
                                                           "tracking_url"}
    assert created["account_id"] is None  # never echoed
    await in_picture(system, created["service_request_id"])


async def test_a_partner_key_identifies_the_application_and_other_keys_are_refused(system):
    key, _ = await create_token(system.runtime.store, name="FixMyStreet Portland", roles=[Role.partner])
    r = await post(system, form(api_key=key))
    assert r.status_code == 200, r.text
    rid = r.json()[0]["service_request_id"]
    feature = await in_picture(system, rid)
    assert feature["properties"]["source_type"] == "open311_partner"
    stored = await system.runtime.store.get_event(rid)
    assert stored.attributes["open311"]["application"] == "FixMyStreet Portland"
    assert "FixMyStreet" not in json.dumps(feature)  # the application's name stays internal too
    spec_error(await post(system, form(api_key=system.tokens["coordinator"])), 403, "api_key")  # not a partner
    spec_error(await post(system, form(api_key="no-such-key")), 403, "api_key")


async def test_status_follows_the_coordinators_and_updates_list_the_change(system):
    r = await post(system, form(service_code="smoke", description="Smoke over the school"))
    rid = r.json()[0]["service_request_id"]

    async def incident():
        s = (await system.http.get(f"/api/v1/reports/{rid}/status")).json()
        return s.get("incident_id")

    iid = await eventually(incident)
    acted = await system.http.post(f"/api/v1/incidents/{iid}/dismiss", headers=system.auth("coordinator"),
                                   json={"reason": "INTERNAL: prankster known to us", "public_reason": "a drill"})
    assert acted.status_code == 202, acted.text

    async def closed():
        got = (await system.http.get(f"{V2}/requests/{rid}.json")).json()[0]
        return got if got["status"] == "closed" else None

    got = await eventually(closed)
    assert got["status_notes"] == "dismissed: a drill"
    assert (await system.http.get(f"{V2}/requests.json", params={"status": "open"})).json() == []
    assert [x["service_request_id"] for x in
            (await system.http.get(f"{V2}/requests.json", params={"status": "closed"})).json()] == [rid]
    updates = (await system.http.get(f"{V2}/servicerequestupdates.json")).json()
    assert [(u["service_request_id"], u["status"], u["description"]) for u in updates] == \
        [(rid, "closed", "dismissed: a drill")]
    root, xml_updates = from_xml((await system.http.get(f"{V2}/servicerequestupdates.xml")).content)
    assert root == "service_request_updates" and xml_updates[0]["update_id"] == updates[0]["update_id"]
    assert "INTERNAL" not in json.dumps(updates) + json.dumps(got)


async def test_the_georeport_client_reads_services_and_requests_in_both_formats(system):
    r = await post(system, form(service_code="flooding", **{"attribute[DEPTH]": "knee"}))
    rid = r.json()[0]["service_request_id"]
    await in_picture(system, rid)
    for fmt in ("json", "xml"):
        client = GeoReport(f"{system.base_url}{V2}", output_format=fmt)
        services = await asyncio.to_thread(client.get_service_list)
        assert "flooding" in [s["service_code"] for s in services]
        definition = await asyncio.to_thread(client.get_service_definition, "flooding")
        attributes = definition["attributes"] if fmt == "json" else definition["attributes"]["attribute"]
        assert "DEPTH" in [a["code"] for a in attributes]
        one = await asyncio.to_thread(client.get_service_request, rid)
        assert one["service_request_id"] == rid and one["status"] == "open" and one["service_code"] == "flooding"
        found = await asyncio.to_thread(client.get_service_requests, service_request_id=rid)
        found = found if isinstance(found, list) else [found]  # xmltodict: one request is a dict
        assert [f["service_request_id"] for f in found] == [rid]
        listed = await asyncio.to_thread(client.get_service_requests, service_code="flooding", status="open")
        listed = listed if isinstance(listed, list) else [listed]
        assert [f["service_request_id"] for f in listed] == [rid]


async def test_bad_input_is_refused_in_the_spec_format_naming_the_field(system):
    cases = [
        (await system.http.post(f"{V2}/requests.json", json={"service_code": "smoke"}), 400, "Content-Type"),
        (await post(system, "service_code=smoke&lat=%ff"), 400, "body"),
        (await system.http.post(f"{V2}/requests.xml", content=b"service_code=smoke&description=\xff", headers=FORM),
         400, "body"),
        (await post(system, form(description="x" * 20_000)), 400, "body"),  # over EMERGENCY_OPEN311_MAX_BODY_BYTES
        (await post(system, "&".join(f"attribute[A{i}]=1" for i in range(80))), 400, "body"),  # > 64 fields
        (await post(system, form(**{"attribute[BLOCKAGE][]": "tree"}) + "&attribute[LANES]=all" * 16), 400,
         "attribute"),
        (await post(system, form(colour="red")), 400, "colour"),
        (await post(system, form() + "&lat=45.5"), 400, "lat"),
        (await post(system, "service_code=smoke"), 400, "lat"),
        (await post(system, "service_code=smoke&lat=45.5"), 400, "long"),
        (await post(system, "service_code=smoke&lat=north&long=-122.6"), 400, "lat"),
        (await post(system, "service_code=smoke&lat=45.5&long=-222"), 400, "long"),
        (await post(system, "service_code=smoke&address_id=545483"), 400, "address_id"),
        (await post(system, "service_code=smoke&address_string=Seattle"), 400, "location_text"),
        (await post(system, form(service_code="")), 400, "service_code"),
        (await post(system, form(service_code="potholes")), 404, "service_code"),
        (await post(system, form(**{"attribute[BLOCKAGE]": "dragon"})), 400, "attribute[BLOCKAGE]"),
        (await post(system, form(**{"attribute[NOPE]": "1"})), 400, "attribute[NOPE]"),
        (await post(system, form(service_code="needs_help", **{"attribute[PEOPLE]": "many"})), 400,
         "attribute[PEOPLE]"),
        (await post(system, form(description="d" * 2001)), 400, "description"),
        # characters XML cannot carry: refused naming the field, in the XML answer too (they were a 500)
        (await post(system, form(description="smoke\x1c here"), "xml"), 400, "description"),
        (await post(system, form(description="smoke\x00"), "xml"), 400, "description"),
        (await post(system, form() + "&a%1Cb=1", "xml"), 400, "field 5"),
        (await system.http.get(f"{V2}/services/smoke%1C.xml"), 404, "service_code"),  # quoted in the answer
        (await post(system, form(email="e" * 201)), 400, "email"),
        (await post(system, form(media_url="http://169.254.169.254/latest/meta-data")), 400, "media_url"),
        (await post(system, form(media_url="file:///etc/passwd")), 400, "media_url"),
        (await post(system, form(jurisdiction_id="city.gov")), 404, "jurisdiction_id"),
        (await post(system, form(), "csv"), 400, "fmt"),
        (await post(system, form(), headers={"Idempotency-Key": "bad key!"}), 400, "Idempotency-Key"),
        (await system.http.get(f"{V2}/requests.json", params={"status": "pending"}), 400, "status"),
        (await system.http.get(f"{V2}/requests.json", params={"service_code": "potholes"}), 400, "service_code"),
        (await system.http.get(f"{V2}/requests.json", params={"start_date": "yesterday"}), 400, "start_date"),
        (await system.http.get(f"{V2}/requests.json", params={"start_date": "2026-01-01T00:00:00"}), 400,
         "start_date"),
        (await system.http.get(f"{V2}/requests.json", params={"start_date": "2026-01-01T00:00:00Z",
                                                             "end_date": "2026-06-01T00:00:00Z"}), 400, "end_date"),
        (await system.http.get(f"{V2}/requests.json", params={"max_requests": "lots"}), 400, "max_requests"),
        (await system.http.get(f"{V2}/servicerequestupdates.json", params={"end_date": "0001-01-01T00:00:00+05:00"}),
         400, "end_date"),
        (await system.http.get(f"{V2}/requests.json",
                               params={"service_request_id": ",".join(f"citizen:{i}" for i in range(101))}), 400,
         "service_request_id"),
        (await system.http.get(f"{V2}/requests/citizen:none.json"), 404, "service_request_id"),
        (await system.http.get(f"{V2}/tokens/12345.xml"), 404, "token"),
        (await system.http.get(f"{V2}/services/potholes.xml"), 404, "service_code"),
        (await system.http.get(f"{V2}/services.json", params={"jurisdiction_id": "city.gov"}), 404,
         "jurisdiction_id"),
    ]
    for r, status, field in cases:
        try:
            spec_error(r, status, field)
        except AssertionError as exc:
            raise AssertionError(f"{r.request.method} {r.request.url} {r.request.content[:200]!r}") from exc
    assert (await system.runtime.store.journal_counts()).total == 0  # nothing of it was journaled
