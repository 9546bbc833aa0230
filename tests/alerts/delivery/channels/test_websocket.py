"""The WebSocket channel over today's ``/ws/alerts`` push: a rendered delivery reaches this process's live
sessions inside the area once, and none outside (tests/alerts/test_push.py covers the gateway-tail path)."""

from __future__ import annotations

import asyncio
import json

import websockets

from alerts.delivery.channels import configured_channels
from alerts.delivery.channels.websocket import WebSocketChannel
from alerts.delivery.models import ChannelType
from tests.alerts.delivery.channels.samples import INSIDE, OUTSIDE, contact, job, rendered
from tests.conftest import System, eventually

NEAR_OUTSIDE = {"type": "Polygon", "coordinates": [[[-122.34, 47.6], [-122.32, 47.6], [-122.32, 47.61],
                                                    [-122.34, 47.61], [-122.34, 47.6]]]}


async def test_a_rendered_delivery_reaches_the_sessions_inside_once(system: System):
    channel = system.runtime.websocket
    assert isinstance(channel, WebSocketChannel) and channel.per_process and channel.push is system.runtime.alert_push
    inside = await websockets.connect(f"{system.ws_url}/ws/alerts?lat={INSIDE[0]}&lon={INSIDE[1]}")
    outside = await websockets.connect(f"{system.ws_url}/ws/alerts?lat={OUTSIDE[0]}&lon={OUTSIDE[1]}")
    try:
        await eventually(lambda: len(channel.push.hub) == 2)
        j = job(ChannelType.websocket)
        receipt = await channel.send(j, contact(ChannelType.websocket), rendered())
        again = await channel.send(j, contact(ChannelType.websocket), rendered())  # redelivered: not sent twice
        assert receipt.state == again.state == "sent"
        msg = json.loads(await asyncio.wait_for(inside.recv(), 10))
        assert msg == {"type": "alert", "alert": rendered().geojson}
        seattle = job(ChannelType.websocket, alert_id="alert:seattle")
        await channel.send(seattle, contact(ChannelType.websocket), rendered(area=NEAR_OUTSIDE, alert_id="alert:seattle"))
        # the Seattle session's first message is the Seattle alert: the Portland one never reached it
        assert json.loads(await asyncio.wait_for(outside.recv(), 10))["alert"]["id"] == "alert:seattle"
        later = job(ChannelType.websocket, alert_id="alert:later")
        await channel.send(later, contact(ChannelType.websocket), rendered(alert_id="alert:later"))
        # and the Portland session's next one is the later alert: the repeat was not queued
        assert json.loads(await asyncio.wait_for(inside.recv(), 10))["alert"]["id"] == "alert:later"
    finally:
        await inside.close()
        await outside.close()


async def test_configured_channels_hold_the_websocket_channel_only_with_a_push(system: System):
    with_push = configured_channels(system.settings, alert_push=system.runtime.alert_push, store=system.runtime.store)
    # webhook is always on (each subscriber brings its URL); web push needs the store for its VAPID key
    assert {c.type for c in with_push} == {ChannelType.websocket, ChannelType.webpush, ChannelType.webhook}
    assert {c.type for c in configured_channels(system.settings)} == {ChannelType.webhook}
    for c in with_push:
        await c.close()
