"""MQTT against Debian's mosquitto started for each test (loopback, free port, anonymous, no persistence).

"None for an alert outside" is checked without waiting: the channel publishes in order on one connection, so
once a later message has arrived on the subscriber's topic, an earlier one meant for it would have too."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import h3
import pytest

from alerts.delivery.channels.mqtt import BROADCAST_SUBSCRIPTION, MqttChannel, area_cells, broadcast_contact
from alerts.delivery.channels.mqtt import from_settings as mqtt_from_settings
from alerts.delivery.models import ChannelType, SendFailed
from emergency.assembly.demo import LocalMosquitto
from emergency.config import Settings
from tests.alerts.delivery.channels.samples import INSIDE, OUTSIDE, contact, job, rendered
from tests.conftest import eventually

SEATTLE = {"type": "Polygon", "coordinates": [[[-122.35, 47.6], [-122.32, 47.6], [-122.32, 47.62],
                                               [-122.35, 47.62], [-122.35, 47.6]]]}
HOME_CELL = h3.latlng_to_cell(*INSIDE, 5)


@pytest.fixture
def mosquitto(tmp_path: Path):
    broker = LocalMosquitto(tmp_path / "mosquitto").start()
    yield broker
    broker.stop()


@pytest.fixture
async def channel(mosquitto, tmp_path) -> AsyncIterator[MqttChannel]:
    ch = mqtt_from_settings(Settings(mqtt_url=mosquitto.url, data_dir=tmp_path))
    assert ch is not None and ch.topics.base == "alerts/portland"
    yield ch
    await ch.close()


class Listener:
    """A device subscribed to some topics, collecting (topic, payload, retain, properties)."""

    def __init__(self, port: int, *topics: str) -> None:
        self.port, self.topics = port, topics
        self.got: list[tuple[str, bytes, bool, object]] = []
        self._task: asyncio.Task | None = None
        self._ready = asyncio.Event()

    async def __aenter__(self) -> Listener:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), 10)
        return self

    async def _run(self) -> None:
        async with aiomqtt.Client("127.0.0.1", self.port, protocol=aiomqtt.ProtocolVersion.V5) as client:
            for t in self.topics:
                await client.subscribe(t, qos=1)
            self._ready.set()
            async for m in client.messages:
                self.got.append((m.topic.value, bytes(m.payload), m.retain, m.properties))

    async def until(self, pred, timeout: float = 10.0) -> list:
        async def wait() -> None:
            while not any(pred(g) for g in self.got):
                await asyncio.sleep(0.01)

        await asyncio.wait_for(wait(), timeout)
        return self.got

    async def __aexit__(self, *exc) -> None:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


def ids(got) -> list[str]:
    return [json.loads(p)["id"] for _, p, _, _ in got if p]


def test_area_cells_cover_the_area_at_resolution_5():
    cells = area_cells(rendered().geojson["geometry"], 5)
    assert HOME_CELL in cells and h3.latlng_to_cell(*OUTSIDE, 5) not in cells
    assert area_cells({"type": "Point", "coordinates": [INSIDE[1], INSIDE[0]]}, 5) == [HOME_CELL]
    assert area_cells(None, 5) == []


async def test_cell_subscriber_gets_one_message_inside_none_outside(channel, mosquitto):
    async with Listener(mosquitto.port, f"alerts/portland/cell/{HOME_CELL}") as device, \
            Listener(mosquitto.port, "alerts/portland/all") as region:
        outside = job(ChannelType.mqtt, alert_id="alert:seattle", subscription_id=BROADCAST_SUBSCRIPTION)
        inside = job(ChannelType.mqtt, subscription_id=BROADCAST_SUBSCRIPTION)
        await channel.send(outside, broadcast_contact(), rendered(area=SEATTLE, alert_id="alert:seattle"))
        receipt = await channel.send(inside, broadcast_contact(), rendered())
        assert receipt.state == "sent" and receipt.delivery_id == inside.delivery_id
        await device.until(lambda g: inside.delivery_id.encode() in g[1])
        assert ids(device.got) == [inside.delivery_id]
        msg = json.loads(device.got[0][1])
        assert msg["alert_id"] == "alert:flood-1" and msg["msg_type"] == "Alert" and msg["priority"] == 1
        assert msg["area"] == rendered().geojson["geometry"] and "sub-1" not in device.got[0][1].decode()
        await region.until(lambda g: inside.delivery_id.encode() in g[1])
        assert ids(region.got) == [outside.delivery_id, inside.delivery_id]


async def test_late_device_gets_the_retained_active_alert_and_cancel_clears_it(channel, mosquitto):
    alert = job(ChannelType.mqtt, subscription_id=BROADCAST_SUBSCRIPTION, expires_in_s=3600)
    other = job(ChannelType.mqtt, alert_id="alert:other", subscription_id=BROADCAST_SUBSCRIPTION)
    await channel.send(alert, broadcast_contact(), rendered())
    await channel.send(other, broadcast_contact(), rendered(alert_id="alert:other"))
    async with Listener(mosquitto.port, "alerts/portland/active/#") as late:
        got = await late.until(lambda g: alert.delivery_id.encode() in g[1])
        [(topic, payload, retain, props)] = [g for g in got if alert.delivery_id.encode() in g[1]]
        assert topic == "alerts/portland/active/alert:flood-1" and retain
        assert 3500 <= props.MessageExpiryInterval <= 3600  # the broker drops it when the alert expires

    cancel = job(ChannelType.mqtt, version="alert:flood-1:cancel", msg_type="Cancel",
                 subscription_id=BROADCAST_SUBSCRIPTION)
    async with Listener(mosquitto.port, f"alerts/portland/cell/{HOME_CELL}") as device:
        await channel.send(cancel, broadcast_contact(), rendered())
        await device.until(lambda g: cancel.delivery_id.encode() in g[1])  # devices learn of the cancel
        assert json.loads(device.got[-1][1])["msg_type"] == "Cancel"
    async with Listener(mosquitto.port, "alerts/portland/active/#") as later:
        await later.until(lambda g: other.delivery_id.encode() in g[1])  # retained ones arrive at subscribe
        assert [t for t, *_ in later.got] == ["alerts/portland/active/alert:other"]


async def test_a_subscription_with_a_cell_gets_the_version_on_that_cell_only(channel, mosquitto):
    async with Listener(mosquitto.port, "alerts/portland/#") as everything:
        j = job(ChannelType.mqtt, subscription_id="sub-9")
        await channel.send(j, contact(ChannelType.mqtt, subscription_id="sub-9", cell=HOME_CELL), rendered())
        await everything.until(lambda g: j.delivery_id.encode() in g[1])
        assert [t for t, *_ in everything.got] == [f"alerts/portland/cell/{HOME_CELL}"]
    with pytest.raises(SendFailed) as err:
        await channel.send(j, contact(ChannelType.mqtt, subscription_id="sub-9"), rendered())
    assert err.value.retry is False


async def test_broker_down_is_retried(mosquitto, tmp_path):
    ch = mqtt_from_settings(Settings(mqtt_url=mosquitto.url, data_dir=tmp_path))
    mosquitto.stop()
    try:
        with pytest.raises(SendFailed) as err:
            await ch.send(job(ChannelType.mqtt, subscription_id=BROADCAST_SUBSCRIPTION), broadcast_contact(),
                          rendered())
        assert err.value.retry is True
    finally:
        await ch.close()


def test_mqtt_is_off_without_its_setting_and_a_bad_url_is_named(tmp_path):
    assert mqtt_from_settings(Settings(data_dir=tmp_path)) is None
    with pytest.raises(ValueError, match="EMERGENCY_MQTT_URL"):
        mqtt_from_settings(Settings(mqtt_url="http://127.0.0.1:1883", data_dir=tmp_path))


async def test_the_retained_active_message_ends_with_the_alert(channel, mosquitto):
    short = job(ChannelType.mqtt, alert_id="alert:short", subscription_id=BROADCAST_SUBSCRIPTION, expires_in_s=2)
    keep = job(ChannelType.mqtt, alert_id="alert:keep", subscription_id=BROADCAST_SUBSCRIPTION)
    await channel.send(short, broadcast_contact(), rendered(alert_id="alert:short"))
    await channel.send(keep, broadcast_contact(), rendered(alert_id="alert:keep"))

    async def retained_topics() -> list[str]:
        async with Listener(mosquitto.port, "alerts/portland/active/#") as late:
            await late.until(lambda g: keep.delivery_id.encode() in g[1])
            return sorted(t for t, *_ in late.got)

    assert await retained_topics() == ["alerts/portland/active/alert:keep", "alerts/portland/active/alert:short"]

    async def only_the_live_one_is_left() -> bool:
        return await retained_topics() == ["alerts/portland/active/alert:keep"]

    assert await eventually(only_the_live_one_is_left, timeout=20, interval=0.3)  # mosquitto dropped it at expiry
