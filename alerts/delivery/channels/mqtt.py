"""MQTT (``aiomqtt``, MQTT 5, QoS 1): alerts published by region and by H3 cell, so a device subscribes to its cell.

Topics (``P`` = ``EMERGENCY_MQTT_TOPIC_PREFIX``, ``R`` = the region's folder name, e.g. ``portland``):

- ``P alerts/R/all``: every alert version of the region;
- ``P alerts/R/cell/<h3>``: every alert version whose area overlaps that H3 cell (resolution
  ``EMERGENCY_MQTT_CELL_RESOLUTION``, 5 by default: cells of about 250 km²); a device subscribes to the cell
  its position falls in (``h3.latlng_to_cell(lat, lon, 5)``);
- ``P alerts/R/active/<alert id>``: one RETAINED message per active alert thread (its latest version), so a
  device that connects later learns what is in force; cleared (empty retained payload) by its Cancel, and
  dropped by the broker at the alert's expiry (MQTT 5 Message Expiry Interval).

MQTT is a broadcast channel: one delivery per alert version, not per subscriber. The fan-out emits one job per
alert version with ``subscription_id = "mqtt:broadcast"`` (``BROADCAST_SUBSCRIPTION``; its contact is
``broadcast_contact()``), and this channel publishes it to ``all``, every cell the area overlaps and ``active``.
A subscription's own ``mqtt`` channel with a ``cell`` in its contact gets the version on that cell's topic only.

Payload (JSON, no personal data): ``id`` (the delivery id: the dedupe key; a resend after a crash between the
broker's PUBACK and the ledger's mark carries the same ``id``, and QoS 1 itself may deliver twice, so devices
drop an ``id`` they have seen), ``alert_id``, ``alert_version``, ``msg_type``, ``priority``, ``expires``,
``language``, ``headline``, ``wea``, ``link``, ``area`` (GeoJSON geometry, WGS 84 degrees).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomqtt
import h3
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from alerts.delivery.models import ChannelType, Contact, DeliveryJob, Receipt, Rendered, SendFailed
from emergency.config import Settings
from emergency.events import utcnow

BROADCAST_SUBSCRIPTION = "mqtt:broadcast"
MAX_CELLS = 5000  # an area overlapping more cells than this goes to the region topic only (and active)


def broadcast_contact() -> Contact:
    """The contact of the system-wide MQTT pseudo-subscriber (no personal data: it names no device)."""
    return Contact(subscription_id=BROADCAST_SUBSCRIPTION, channel_id="mqtt", channel=ChannelType.mqtt)


def area_cells(geometry: dict[str, Any] | None, resolution: int) -> list[str]:
    """The H3 cells at ``resolution`` that a GeoJSON geometry (WGS 84 degrees) overlaps, sorted; a Point gives
    its own cell; other geometry types give none."""
    if not geometry:
        return []
    kind = geometry.get("type")
    if kind == "Point":
        lon, lat = geometry["coordinates"][:2]
        return [h3.latlng_to_cell(lat, lon, resolution)]
    if kind in ("Polygon", "MultiPolygon"):
        shape = h3.geo_to_h3shape({"type": kind, "coordinates": geometry["coordinates"]})
        return sorted(h3.h3shape_to_cells_experimental(shape, resolution, "overlap"))
    return []


def topic_segment(text: str) -> str:
    """``text`` made safe as one MQTT topic level (no ``/``, ``+``, ``#``)."""
    return text.replace("/", "_").replace("+", "_").replace("#", "_")


class MqttTopics:
    """The topic names of one region."""

    def __init__(self, *, prefix: str, region: str) -> None:
        self.base = f"{prefix}alerts/{topic_segment(region)}"

    def all(self) -> str:
        return f"{self.base}/all"

    def cell(self, cell: str) -> str:
        return f"{self.base}/cell/{topic_segment(cell)}"

    def active(self, alert_id: str) -> str:
        return f"{self.base}/active/{topic_segment(alert_id)}"


def mqtt_payload(job: DeliveryJob, message: Rendered) -> bytes:
    """The JSON a device receives for one alert version (see the module docstring)."""
    return json.dumps({"id": job.delivery_id, "alert_id": job.alert_id, "alert_version": job.alert_version,
                       "msg_type": job.msg_type, "priority": job.priority, "expires": job.expires.isoformat(),
                       "language": job.language, "headline": message.headline, "wea": message.wea_short,
                       "link": message.link, "area": (message.geojson or {}).get("geometry")},
                      separators=(",", ":")).encode("utf-8")


class MqttChannel:
    """Publishes alert versions to an MQTT broker (QoS 1; the broker's PUBACK is the "sent" receipt)."""

    type = ChannelType.mqtt
    per_process = False

    def __init__(self, *, host: str, port: int, topics: MqttTopics, resolution: int = 5,
                 username: str | None = None, password: str | None = None, timeout_s: float = 10.0) -> None:
        self.host, self.port = host, port
        self.topics = topics
        self.resolution = resolution
        self.username, self.password = username, password
        self.timeout_s = timeout_s
        self._client: aiomqtt.Client | None = None
        self._lock = asyncio.Lock()

    async def _connected(self) -> aiomqtt.Client:
        async with self._lock:
            if self._client is None:
                client = aiomqtt.Client(self.host, self.port, username=self.username, password=self.password,
                                        protocol=aiomqtt.ProtocolVersion.V5, timeout=self.timeout_s)
                await client.__aenter__()
                self._client = client
            return self._client

    async def _drop(self) -> None:
        async with self._lock:
            client, self._client = self._client, None
        if client is not None:
            try:
                await client.__aexit__(None, None, None)
            except aiomqtt.MqttError:
                pass

    async def send(self, job: DeliveryJob, contact: Contact, message: Rendered) -> Receipt:
        """Publish one alert version: a broadcast job to the region, its cells and the retained ``active``
        topic; a subscription's job to its contact's cell."""
        now = utcnow()
        remaining = int((job.expires - now).total_seconds())
        payload = mqtt_payload(job, message)
        if job.subscription_id == BROADCAST_SUBSCRIPTION:
            cells = area_cells((message.geojson or {}).get("geometry"), self.resolution)
            topics = [self.topics.all()] + ([self.topics.cell(c) for c in cells] if len(cells) <= MAX_CELLS else [])
        elif contact.cell:
            topics, cells = [self.topics.cell(contact.cell)], []
        else:
            raise SendFailed("the subscription's mqtt channel names no cell", retry=False)
        try:
            client = await self._connected()
            for topic in topics:
                await client.publish(topic, payload, qos=1, timeout=self.timeout_s)
            if job.subscription_id == BROADCAST_SUBSCRIPTION:
                active = self.topics.active(job.alert_id)
                if job.msg_type == "Cancel" or remaining <= 0:
                    await client.publish(active, b"", qos=1, retain=True, timeout=self.timeout_s)  # clears it
                else:
                    props = Properties(PacketTypes.PUBLISH)
                    props.MessageExpiryInterval = remaining
                    await client.publish(active, payload, qos=1, retain=True, properties=props,
                                         timeout=self.timeout_s)
        except aiomqtt.MqttError as exc:
            await self._drop()
            raise SendFailed(f"MQTT broker unreachable or refused: {exc}", retry=True) from None
        return Receipt(delivery_id=job.delivery_id, alert_id=job.alert_id, alert_version=job.alert_version,
                       channel=self.type, state="sent", at=utcnow())

    async def close(self) -> None:
        await self._drop()


def from_settings(settings: Settings, **_: object) -> MqttChannel | None:
    """The MQTT channel when ``EMERGENCY_MQTT_URL`` (mqtt://[user:password@]host[:port]) is set, else None."""
    if not settings.mqtt_url:
        return None
    parts = urlsplit(settings.mqtt_url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise ValueError(f"EMERGENCY_MQTT_URL: expected mqtt://host:port, got scheme {parts.scheme!r}")
    return MqttChannel(host=parts.hostname, port=parts.port or 1883,
                       topics=MqttTopics(prefix=settings.mqtt_topic_prefix, region=settings.region_dir.name),
                       resolution=settings.mqtt_cell_resolution,
                       username=unquote(parts.username) if parts.username else None,
                       password=unquote(parts.password) if parts.password else None)
