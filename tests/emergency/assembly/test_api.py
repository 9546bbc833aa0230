"""The HTTP API: accepted inputs reach the picture; bad input gets a 4xx naming the field, and reaches no topic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from emergency.stream.topics import ALERTS_ISSUED, RAW_AGENCY, RAW_CITIZEN
from feeds.citizen.contacts import CONTACTS
from tests.conftest import eventually, phone_leaks, report_body
from tests.emergency.assembly.test_durability import alert_body, closure_body


async def topic_sizes(system, topics) -> dict[str, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=system.broker.bootstrap)
    await consumer.start()
    try:
        await consumer.topics()
        sizes = {}
        for t in topics:
            name = system.settings.topic(t)
            tps = [TopicPartition(name, p) for p in consumer.partitions_for_topic(name) or ()]
            ends = await consumer.end_offsets(tps) if tps else {}
            sizes[t] = sum(ends.values())
        return sizes
    finally:
        await consumer.stop()


async def test_citizen_report_reaches_the_public_geojson_without_personal_data(system):
    r = await system.http.post("/api/v1/reports", json=report_body(
        category="flooding", text="Water over the curb", contact="+1 503 555 0100", location_text="SE Water Ave"))
    assert r.status_code == 202
    body = r.json()
    assert body["status"] == "accepted" and body["id"].startswith("citizen:")

    async def listed():
        fc = (await system.http.get("/api/v1/reports", params={"bbox": "-122.7,45.5,-122.6,45.6"})).json()
        return fc if fc["features"] else None

    fc = await eventually(listed)
    assert fc["type"] == "FeatureCollection"
    [feature] = fc["features"]
    assert feature["id"] == body["id"]
    assert feature["geometry"] == {"type": "Point", "coordinates": [-122.6587, 45.5122]}
    assert feature["properties"]["category"] == "flooding"
    assert feature["properties"]["location_text"] == "SE Water Ave"
    assert not phone_leaks((await system.http.get("/api/v1/reports")).text, "+15035550100")
    assert not phone_leaks((await system.http.get(f"/api/v1/events/{body['id']}")).text, "+15035550100")
    stored = await system.runtime.store.get_event(body["id"])
    # the contact is kept in the private contact store only (for status messages), never in the journaled event
    assert set(stored.attributes["private"]) == {"reporter"} and not phone_leaks(stored.model_dump_json(), "+15035550100")
    kept = await system.runtime.store.repository(CONTACTS).get(body["id"])
    assert (kept.kind, kept.address) == ("sms", "+15035550100")


async def test_report_filters_bbox_since_category(system):
    ids = {}
    for cat, lon in (("smoke", -122.66), ("flooding", -122.65), ("smoke", -122.30)):
        r = await system.http.post("/api/v1/reports", json=report_body(category=cat, lon=lon))
        ids.setdefault(cat, []).append(r.json()["id"])
    assert await system.runtime.wait_applied(timeout_s=30)
    get = system.http.get
    in_box = (await get("/api/v1/reports", params={"bbox": "-122.7,45.5,-122.6,45.6"})).json()["features"]
    assert len(in_box) == 2
    smoke = (await get("/api/v1/reports", params={"category": "smoke"})).json()["features"]
    assert sorted(f["id"] for f in smoke) == sorted(ids["smoke"])
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await get("/api/v1/reports", params={"since": future})).json()["features"] == []
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert len((await get("/api/v1/reports", params={"since": past})).json()["features"]) == 3


async def test_idempotency_key_gives_one_report(system):
    headers = {"Idempotency-Key": "phone-42-report-7"}
    first = await system.http.post("/api/v1/reports", json=report_body(), headers=headers)
    again = await system.http.post("/api/v1/reports", json=report_body(), headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert again.json()["duplicate"] is True and first.json()["duplicate"] is False
    assert await system.runtime.wait_applied(timeout_s=30)
    assert (await system.runtime.store.journal_counts()).total == 1
    assert len((await system.http.get("/api/v1/reports")).json()["features"]) == 1


async def test_agency_road_closure_reaches_the_closures_layer_and_updates_by_reference(system):
    r = await system.http.post("/api/v1/agency/road-closures", json=closure_body("PBOT-7"), headers=system.auth("agency"))
    assert r.status_code == 202
    assert r.json()["id"] == "agency:city-of-portland:PBOT-7"
    assert await system.runtime.wait_applied(timeout_s=30)
    changed = {**closure_body("PBOT-7"), "reason": "One lane open"}
    assert (await system.http.post("/api/v1/agency/road-closures", json=changed,
                                   headers=system.auth("agency"))).status_code == 202
    assert await system.runtime.wait_applied(timeout_s=30)
    [closure] = (await system.http.get("/api/v1/road-closures")).json()["features"]
    assert closure["geometry"]["type"] == "LineString"
    assert closure["properties"]["reason"] == "One lane open"
    assert closure["properties"]["agency"] == "City of Portland"
    assert (await system.http.get("/api/v1/reports")).json()["features"] == []


BAD_REPORTS = [
    ("malformed JSON", b'{"category": "smoke", "lat": 45.5,', 422, "body: malformed JSON"),
    ("latitude 95", report_body(lat=95), 422, "lat: must be between -90 and 90, got 95"),
    ("longitude text", report_body(lon="east"), 422, "lon: Input should be a valid number"),
    ("unknown category", report_body(category="alien_invasion"), 422, "category: Input should be"),
    ("text too long", report_body(text="x" * 2001), 422, "text: String should have at most 2000 characters"),
    ("lat without lon", {"category": "smoke", "lat": 45.5}, 422, "lon: give lat and lon together"),
    ("no place at all", {"category": "smoke", "text": "smoke"}, 422, "location_text: give lat and lon, or a location_text"),
    ("a place the region lacks", {"category": "smoke", "location_text": "Foster and 82nd"}, 422,
     "location_text: no match in region portland, which covers central Portland"),
    ("unknown field", report_body(colour="red"), 422, "colour: Extra inputs are not permitted"),
    ("future time", report_body(observed_at="2099-01-01T00:00:00Z"), 422, "observed_at: is in the future"),
    ("naive time", report_body(observed_at="2026-11-27T10:00:00"), 422, "observed_at: Input should have timezone"),
]


@pytest.mark.parametrize("case,body,status,message", BAD_REPORTS, ids=[c[0] for c in BAD_REPORTS])
async def test_bad_reports_get_4xx_naming_field_and_reach_no_topic(system, case, body, status, message):
    if isinstance(body, bytes):
        r = await system.http.post("/api/v1/reports", content=body, headers={"Content-Type": "application/json"})
    else:
        r = await system.http.post("/api/v1/reports", json=body)
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]
    assert (await system.runtime.store.journal_counts()).total == 0
    assert (await topic_sizes(system, [RAW_CITIZEN]))[RAW_CITIZEN] == 0


async def test_oversized_body_is_413(system):
    r = await system.http.post("/api/v1/reports", content=b"{" + b" " * (300 * 1024) + b"}",
                               headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json()["detail"].startswith("body: request body is")


async def test_bad_idempotency_key_and_bad_query_parameters(system):
    r = await system.http.post("/api/v1/reports", json=report_body(), headers={"Idempotency-Key": "spaces are bad"})
    assert r.status_code == 400 and r.json()["detail"].startswith("Idempotency-Key:")
    r = await system.http.get("/api/v1/reports", params={"bbox": "1,2,3"})
    assert r.status_code == 422 and r.json()["detail"].startswith("bbox:")
    r = await system.http.get("/api/v1/reports", params={"bbox": "10,50,-10,40"})
    assert r.status_code == 422 and r.json()["detail"].startswith("bbox:")
    r = await system.http.get("/api/v1/reports", params={"since": "yesterday"})
    assert r.status_code == 422 and r.json()["detail"].startswith("since:")
    r = await system.http.get("/api/v1/events/nope")
    assert r.status_code == 404 and r.json()["detail"].startswith("event_id:")


async def test_agency_and_alert_endpoints_need_the_right_token(system):
    closure = closure_body("PBOT-9")
    r = await system.http.post("/api/v1/agency/road-closures", json=closure)
    assert r.status_code == 401 and r.json()["detail"].startswith("Authorization:")
    assert r.headers["www-authenticate"] == "Bearer"
    r = await system.http.post("/api/v1/agency/road-closures", json=closure, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and "unknown or revoked" in r.json()["detail"]
    r = await system.http.post("/api/v1/agency/road-closures", json=closure, headers=system.auth("coordinator"))
    assert r.status_code == 403 and "needs role agency" in r.json()["detail"]
    r = await system.http.post("/api/v1/alerts", json=alert_body(), headers=system.auth("agency"))
    assert r.status_code == 403 and "alert_originator" in r.json()["detail"]
    r = await system.http.post("/api/v1/alerts", json={**alert_body(), "tier": "presidential"},
                               headers=system.auth("alert_originator"))
    assert r.status_code == 403 and r.json()["detail"] == "tier: this token may not issue presidential alerts"
    r = await system.http.post("/api/v1/alerts", json={**alert_body(), "tier": "child_abduction"},
                               headers=system.auth("alert_originator"))
    assert r.status_code == 403 and "child_abduction" in r.json()["detail"]
    assert (await system.runtime.store.journal_counts()).total == 0
    sizes = await topic_sizes(system, [RAW_AGENCY, ALERTS_ISSUED])
    assert sizes == {RAW_AGENCY: 0, ALERTS_ISSUED: 0}


async def test_agency_acts_only_inside_its_jurisdiction(system):
    outside = {**closure_body("PBOT-10"),
               "geometry": {"type": "LineString", "coordinates": [[-83.00, 39.96], [-82.99, 39.96]]}}  # Columbus, OH
    r = await system.http.post("/api/v1/agency/road-closures", json=outside, headers=system.auth("agency"))
    assert r.status_code == 403
    assert r.json()["detail"] == "geometry: lies outside the jurisdiction of City of Portland"
    bad_line = {**closure_body("PBOT-11"), "geometry": {"type": "Point", "coordinates": [-122.65, 45.51]}}
    r = await system.http.post("/api/v1/agency/road-closures", json=bad_line, headers=system.auth("agency"))
    assert r.status_code == 422 and r.json()["detail"] == "geometry: must be a GeoJSON LineString or MultiLineString, got 'Point'"
    backwards = {**closure_body("PBOT-12"), "end": "2020-01-01T00:00:00Z"}
    r = await system.http.post("/api/v1/agency/road-closures", json=backwards, headers=system.auth("agency"))
    assert r.status_code == 422 and "end must be after start" in r.json()["detail"]
    assert (await system.runtime.store.journal_counts()).total == 0


async def test_bad_alerts_are_refused_with_the_field_named(system):
    auth = system.auth("alert_originator")
    cases = [
        ({**alert_body(), "expires": "2020-01-01T00:00:00Z"}, "expires: must be in the future"),
        ({**alert_body(), "headline": "x" * 141}, "headline: String should have at most 140 characters"),
        ({**alert_body(), "tier": "panic"}, "tier: Input should be"),
        ({**alert_body(), "area": {"circle": {"lat": 45.5, "lon": -122.6, "radius_km": 0}}},
         "area.circle.radius_km: must be more than 0 and at most 500 km, got 0"),
        ({**alert_body(), "area": {}}, "area: Value error, give exactly one of polygon or circle"),
        ({**alert_body(), "area": {"polygon": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 1], [1, 0], [0, 0]]]}}},
         "area.polygon: polygon is invalid: Self-intersection"),
    ]
    for body, message in cases:
        r = await system.http.post("/api/v1/alerts", json=body, headers=auth)
        assert r.status_code == 422, (message, r.text)
        assert message in r.json()["detail"], (message, r.json()["detail"])
    assert (await system.runtime.store.journal_counts()).total == 0


async def test_admin_creates_and_revokes_tokens(system):
    admin = system.auth("admin")
    r = await system.http.post("/api/v1/admin/tokens", json={"name": "ECC desk 2", "roles": ["coordinator"]},
                               headers=admin)
    assert r.status_code == 201
    created = r.json()
    assert created["roles"] == ["coordinator"] and len(created["token"]) >= 40
    r = await system.http.post("/api/v1/admin/tokens", json={"name": "x", "roles": ["agency"]}, headers=admin)
    assert r.status_code == 422 and "jurisdiction" in r.json()["detail"]
    r = await system.http.post("/api/v1/admin/tokens", json={"name": "x", "roles": ["coordinator"]},
                               headers=system.auth("coordinator"))
    assert r.status_code == 403
    import hashlib
    token_hash = hashlib.sha256(created["token"].encode()).hexdigest()
    assert (await system.http.delete(f"/api/v1/admin/tokens/{token_hash}", headers=admin)).status_code == 200
    assert (await system.http.delete(f"/api/v1/admin/tokens/{token_hash}", headers=admin)).status_code == 404
    r = await system.http.post("/api/v1/admin/tokens", json={"name": "y", "roles": ["coordinator"]},
                               headers={"Authorization": f"Bearer {created['token']}"})
    assert r.status_code == 401


async def test_health_readiness_and_metrics(system):
    assert (await system.http.get("/healthz")).json() == {"status": "ok"}
    ready = await system.http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"store": True, "broker": True}
    await system.http.post("/api/v1/reports", json=report_body())
    await system.http.post("/api/v1/reports", json=report_body(lat=99))
    assert await system.runtime.wait_applied(timeout_s=30)
    await eventually(lambda: system.runtime.metrics.events_in.value(topic="cop.reports", group="correlator") >= 1)
    text = (await system.http.get("/metrics")).text
    assert '# TYPE emergency_events_consumed_total counter' in text
    assert 'emergency_events_produced_total{topic="raw.citizen"} 1' in text
    assert 'emergency_events_consumed_total{group="correlator",topic="cop.reports"} 1' in text
    assert 'emergency_http_responses_total{method="POST",route="/api/v1/reports",status="202"} 1' in text
    assert 'emergency_http_responses_total{method="POST",route="/api/v1/reports",status="422"} 1' in text
    assert 'emergency_consumer_lag{group="normaliser",topic="raw.citizen"} 0' in text
    assert "emergency_outbox_unapplied 0" in text
