"""Alerts reach the WebSocket subscribers inside the area, and only them."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from tests.conftest import eventually
from tests.test_durability import alert_body

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
