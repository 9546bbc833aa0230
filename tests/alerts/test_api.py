"""The alert API speaks CAP: each issued alert as CAP 1.2 XML, an Atom index, and issuing refused
with the validator's finding named."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alerts.atom import read_index
from alerts.cap.build import envelope_to_cap, tier_of
from alerts.cap.validate import validate_alert, validate_document
from alerts.cap.xml import read_alert
from alerts.models import AlertIn
from alerts.service import alert_event
from alerts.tiers import Tier
from emergency.geometry import contains_point
from tests.emergency.assembly.test_durability import alert_body


async def issue(system, body: dict, **headers) -> dict:
    r = await system.http.post("/api/v1/alerts", json=body, headers={**system.auth("alert_originator"), **headers})
    assert r.status_code == 202, r.text
    return r.json()


async def test_an_issued_alert_is_served_as_valid_cap_and_listed_in_the_atom_index(system):
    body = {**alert_body(), "description": "A grass fire is spreading east.", "wea_long_text": "Leave now. " * 10 + "Go east."}
    alert_id = (await issue(system, body))["id"]
    assert await system.runtime.wait_applied(timeout_s=30)
    r = await system.http.get(f"/api/v1/alerts/{alert_id}.xml")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/cap+xml")
    alerts, findings = validate_document(r.content, ("schema", "core", "ipaws", "wea"))
    assert findings == []
    cap = read_alert(r.content)
    assert cap.identifier == alert_id and cap.version == "1.2" and cap.code == ["IPAWSv1.0"]
    info = cap.info[0]
    assert (info.severity, info.urgency, info.certainty) == ("Severe", "Expected", "Likely")
    assert info.parameter_value("CMAMtext") == "Evacuate now: fire near SE Division St"
    assert info.parameter_value("CMAMlongtext") == "Leave now. " * 10 + "Go east."
    assert info.area[0].circle == ["45.504700,-122.640000 0.5"]

    feed = await system.http.get("/api/v1/alerts.atom")
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("application/atom+xml")
    index = read_index(feed.content)
    assert index.findings == []
    [entry] = index.entries
    assert entry.title == "Evacuate now: fire near SE Division St"
    assert entry.link.endswith(f"/api/v1/alerts/{alert_id}.xml")


async def test_unknown_alert_ids_are_404(system):
    r = await system.http.get("/api/v1/alerts/alert:nope.xml")
    assert r.status_code == 404 and r.json()["detail"] == "alert_id: no issued alert 'alert:nope'"


async def test_a_headline_too_long_for_wea_without_wea_text_is_refused_naming_the_rule(system):
    long = "Evacuate now: a grass fire is spreading east along SE Division Street toward the residential blocks"
    assert 90 < len(long) <= 140
    r = await system.http.post("/api/v1/alerts", json={**alert_body(), "headline": long},
                               headers=system.auth("alert_originator"))
    assert r.status_code == 422
    assert r.json()["detail"].startswith(f"headline: is {len(long)} characters and no CMAMtext parameter is given")
    assert r.json()["detail"].endswith("(wea.cmam-text-length)")
    ok = await issue(system, {**alert_body(), "headline": long, "wea_text": "Evacuate now: fire near SE Division St"})
    assert ok["duplicate"] is False
    r = await system.http.post("/api/v1/alerts", json={**alert_body(), "wea_text": "x" * 91},
                               headers=system.auth("alert_originator"))
    assert r.status_code == 422 and r.json()["detail"].startswith("wea_text: is 91 characters; at most 90")
    r = await system.http.post("/api/v1/alerts", json={**alert_body(), "wea_long_text": "x" * 361},
                               headers=system.auth("alert_originator"))
    assert r.status_code == 422 and r.json()["detail"].startswith("wea_long_text: is 361 characters; at most 360")


async def test_idempotency_key_retries_are_still_answered_as_duplicates(system):
    body = alert_body()  # a retry repeats the request exactly (another expiry would be another request)
    first = await issue(system, body, **{"Idempotency-Key": "cap-retry-1"})
    again = await issue(system, body, **{"Idempotency-Key": "cap-retry-1"})
    assert again == {**first, "duplicate": True}


async def cap_of(system, alert_id: str):
    r = await system.http.get(f"/api/v1/alerts/{alert_id}.xml")
    assert r.status_code == 200
    _, findings = validate_document(r.content, ("schema", "core", "ipaws", "wea"))
    assert findings == []
    return read_alert(r.content)


async def test_update_then_cancel_an_issued_alert(system):
    auth = system.auth("alert_originator")
    alert_id = (await issue(system, alert_body()))["id"]
    assert await system.runtime.wait_applied(timeout_s=30)
    first = await cap_of(system, alert_id)

    moved = {**alert_body(), "headline": "Evacuate now: fire moving east",
             "area": {"circle": {"lat": 45.5047, "lon": -122.6300, "radius_km": 0.5}}}
    r = await system.http.post(f"/api/v1/alerts/{alert_id}/update", json=moved, headers=auth)
    assert r.status_code == 202 and (r.json()["id"], r.json()["duplicate"]) == (alert_id, False)
    assert await system.runtime.wait_applied(timeout_s=30)
    update = await cap_of(system, alert_id)
    assert update.msg_type == "Update" and update.identifier == f"{alert_id}:1"
    assert update.references == first.reference_key()
    assert update.info[0].area[0].circle == ["45.504700,-122.630000 0.5"]  # the CAP carries the new area
    feature = (await system.http.get(f"/api/v1/events/{alert_id}")).json()
    assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")  # delivered to old ∪ new area
    assert contains_point(feature["geometry"], 45.5047, -122.6400)
    assert contains_point(feature["geometry"], 45.5047, -122.6300)

    r = await system.http.post(f"/api/v1/alerts/{alert_id}/cancel", json={"note": "Fire is out."}, headers=auth)
    assert r.status_code == 202
    assert await system.runtime.wait_applied(timeout_s=30)
    cancel = await cap_of(system, alert_id)
    assert cancel.msg_type == "Cancel" and cancel.references == f"{first.reference_key()} {update.reference_key()}"
    assert cancel.info[0].response_type == ["AllClear"] and cancel.info[0].description == "Fire is out."

    r = await system.http.post(f"/api/v1/alerts/{alert_id}/update", json=moved, headers=auth)
    assert r.status_code == 422 and "(lifecycle.cancelled-reference)" in r.json()["detail"]


async def test_update_rules_tier_ownership_and_unknown_alerts(system):
    auth = system.auth("alert_originator")
    alert_id = (await issue(system, alert_body()))["id"]
    assert await system.runtime.wait_applied(timeout_s=30)
    r = await system.http.post(f"/api/v1/alerts/{alert_id}/update", json={**alert_body(), "tier": "public_safety"},
                               headers=auth)
    assert r.status_code == 422 and r.json()["detail"] == "tier: an update keeps the tier of the alert " \
                                                         "(imminent_threat_severe)"
    r = await system.http.post("/api/v1/alerts/alert:nope/cancel", headers=auth)
    assert r.status_code == 404
    r = await system.http.post(f"/api/v1/alerts/{alert_id}/cancel", headers=system.auth("agency"))
    assert r.status_code == 403


@pytest.mark.parametrize("tier", list(Tier))
@pytest.mark.parametrize("area", [
    {"circle": {"lat": 45.5047, "lon": -122.64, "radius_km": 2}},
    {"polygon": {"type": "MultiPolygon", "coordinates": [
        [[[-122.7, 45.5], [-122.6, 45.5], [-122.6, 45.55], [-122.7, 45.5]]],
        [[[-122.5, 45.5], [-122.4, 45.5], [-122.4, 45.55], [-122.5, 45.5]]]]}},
])
def test_every_tier_issues_cap_that_passes_every_profile_and_classifies_back(tier, area):
    body = AlertIn.model_validate({**alert_body(), "tier": tier.value, "area": area})
    event = alert_event(body, event_id="alert:t1", sender="County EM", now=datetime.now(UTC))
    cap = envelope_to_cap(event)
    assert validate_alert(cap, ("schema", "core", "ipaws", "wea")) == []
    assert tier_of(cap) is tier
    assert cap.sender == "county-em" and cap.info[0].sender_name == "County EM"
