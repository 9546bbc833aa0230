"""Alerts reach the WebSocket subscribers inside the area, and only them."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from tests.alerts.drafts.approval import issue_approved, people
from tests.conftest import eventually
from tests.emergency.assembly.test_durability import alert_body

INSIDE = (45.5050, -122.6405)  # 40 m from the centre of the 0.5 km circle on SE Division St
OUTSIDE = (45.5230, -122.6760)  # downtown, about 3 km away


async def subscribe(system, lat: float, lon: float):
    ws = await websockets.connect(f"{system.ws_url}/ws/alerts?lat={lat}&lon={lon}")
    await eventually(lambda: len(system.runtime.alert_push.hub) >= 1)
    return ws


async def next_message(ws, timeout: float):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def test_only_the_subscriber_inside_the_area_receives_the_alert(system):
    await eventually(lambda: system.runtime.tail.ready.is_set())
    inside = await subscribe(system, *INSIDE)
    outside = await subscribe(system, *OUTSIDE)
    await eventually(lambda: len(system.runtime.alert_push.hub) == 2)
    try:
        r = await system.http.post("/api/v1/alerts", json=alert_body(), headers=system.auth("alert_originator"))
        assert r.status_code == 202
        msg = await next_message(inside, 20)
        assert msg["type"] == "alert"
        alert = msg["alert"]
        assert alert["id"] == r.json()["id"]
        assert alert["properties"]["tier"] == "imminent_threat_severe"
        assert alert["properties"]["headline"] == "Evacuate now: fire near SE Division St"
        assert alert["properties"]["severity"] == "Severe"
        assert alert["geometry"]["type"] == "Polygon"
        with pytest.raises(asyncio.TimeoutError):
            await next_message(outside, 2)
        assert system.runtime.metrics.alerts_pushed.value(tier="imminent_threat_severe") == 1
    finally:
        await inside.close()
        await outside.close()


async def test_a_new_subscriber_gets_the_active_alerts_covering_it(system):
    r = await system.http.post("/api/v1/alerts", json=alert_body(), headers=system.auth("alert_originator"))
    assert r.status_code == 202
    assert await system.runtime.wait_applied(timeout_s=30)
    late = await websockets.connect(f"{system.ws_url}/ws/alerts?lat={INSIDE[0]}&lon={INSIDE[1]}")
    far = await websockets.connect(f"{system.ws_url}/ws/alerts?lat={OUTSIDE[0]}&lon={OUTSIDE[1]}")
    try:
        assert (await next_message(late, 10))["alert"]["id"] == r.json()["id"]
        with pytest.raises(asyncio.TimeoutError):
            await next_message(far, 1.5)
    finally:
        await late.close()
        await far.close()
    [active] = (await system.http.get("/api/v1/alerts")).json()["features"]
    assert active["id"] == r.json()["id"]


@pytest.mark.parametrize("query,reason", [
    ("lat=95&lon=0", "lat: must be between -90 and 90, got 95"),
    ("lat=45", "lon: is required"),
    ("lat=north&lon=0", "lat: 'north' is not a number"),
])
async def test_bad_subscription_is_closed_with_the_reason(system, query, reason):
    ws = await websockets.connect(f"{system.ws_url}/ws/alerts?{query}")
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd.code == 1008
    assert closed.value.rcvd.reason == reason


# --- tier policy (alerts.tiers.delivers): test alerts are opt-in, presidential cannot be opted out ---------

def a_test_alert(**over) -> dict:
    return {**alert_body(), "tier": "test", "headline": "TEST of the alert system: no action needed", **over}


async def subscribe_with(system, query: str, clients: int):
    ws = await websockets.connect(f"{system.ws_url}/ws/alerts?lat={INSIDE[0]}&lon={INSIDE[1]}{query}")
    await eventually(lambda: len(system.runtime.alert_push.hub) >= clients)
    return ws


async def test_a_test_alert_reaches_only_subscribers_who_asked_for_test_alerts(system):
    """Regression: the TEST alert was pushed to every subscriber (issue 9, A.6)."""
    await eventually(lambda: system.runtime.tail.ready.is_set())
    default = await subscribe_with(system, "", 1)
    wants_test = await subscribe_with(system, "&tiers=test,imminent_threat_severe", 2)
    try:
        auth = system.auth("alert_originator")
        r = await system.http.post("/api/v1/alerts", json=a_test_alert(), headers=auth)
        assert r.status_code == 202, r.text
        test_id = r.json()["id"]
        msg = await next_message(wants_test, 20)
        assert (msg["alert"]["id"], msg["alert"]["properties"]["tier"]) == (test_id, "test")
        # a real alert after it: the default subscriber's first message is that one, not the test
        r = await system.http.post("/api/v1/alerts", json=alert_body(), headers=auth)
        assert r.status_code == 202
        assert (await next_message(default, 20))["alert"]["id"] == r.json()["id"]
        assert (await next_message(wants_test, 20))["alert"]["id"] == r.json()["id"]
        # the cancel of the test alert reaches whoever the test reached, and nobody else
        assert await system.runtime.wait_applied(timeout_s=30)
        r = await system.http.post(f"/api/v1/alerts/{test_id}/cancel", headers=auth)
        assert r.status_code == 202
        cancel = await next_message(wants_test, 20)
        assert cancel["alert"]["id"] == test_id and cancel["alert"]["properties"]["msg_type"] == "Cancel"
        with pytest.raises(asyncio.TimeoutError):
            await next_message(default, 2)
    finally:
        await default.close()
        await wants_test.close()


async def test_a_late_subscriber_gets_the_active_test_alert_only_when_it_asked(system):
    r = await system.http.post("/api/v1/alerts", json=a_test_alert(), headers=system.auth("alert_originator"))
    assert r.status_code == 202
    assert await system.runtime.wait_applied(timeout_s=30)
    default = await subscribe_with(system, "", 1)
    wants_test = await subscribe_with(system, "&tiers=test", 2)
    try:
        assert (await next_message(wants_test, 10))["alert"]["id"] == r.json()["id"]
        with pytest.raises(asyncio.TimeoutError):
            await next_message(default, 1.5)
    finally:
        await default.close()
        await wants_test.close()


async def test_presidential_alerts_cannot_be_opted_out_of_and_other_tiers_can(system):
    await eventually(lambda: system.runtime.tail.ready.is_set())
    only_test = await subscribe_with(system, "&tiers=test", 1)
    try:
        r = await system.http.post("/api/v1/alerts", json=alert_body(), headers=system.auth("alert_originator"))
        assert r.status_code == 202  # imminent_threat_severe: this subscriber opted out of it
        author, approver = await people(system.runtime.store)  # drafted, approved by a second person (issue 15)
        issued = await issue_approved(system.http, {**alert_body(), "tier": "presidential",
                                                    "headline": "Presidential Alert: national emergency"},
                                      author=author, approver=approver)
        msg = await next_message(only_test, 20)
        assert (msg["alert"]["id"], msg["alert"]["properties"]["tier"]) == (issued, "presidential")
    finally:
        await only_test.close()


@pytest.mark.parametrize("query,reason", [
    ("tiers=test,panic", "tiers: unknown tier 'panic'"),
    ("tiers=", "tiers: give at least one tier name"),
])
async def test_an_unknown_tier_closes_the_subscription_with_the_reason(system, query, reason):
    ws = await websockets.connect(f"{system.ws_url}/ws/alerts?lat={INSIDE[0]}&lon={INSIDE[1]}&{query}")
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd.code == 1008
    assert closed.value.rcvd.reason == reason


def test_delivery_policy_is_one_function():
    from alerts.tiers import DEFAULT_TIERS, Tier, delivers, parse_tiers

    assert not delivers(Tier.test, DEFAULT_TIERS)
    assert delivers(Tier.test, {Tier.test})
    assert delivers(Tier.presidential, set())
    assert not delivers(Tier.public_safety, {Tier.test})
    assert all(delivers(t, DEFAULT_TIERS) for t in Tier if t is not Tier.test)
    assert parse_tiers(None) == DEFAULT_TIERS
    assert parse_tiers(" test , presidential") == {Tier.test, Tier.presidential}
