"""Jobs, contacts and rendered messages for the channel tests (Portland, WGS 84 degrees)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from alerts.delivery.models import ChannelType, Contact, DeliveryJob, Rendered
from emergency.events import utcnow

# a square of about 2.2 x 1.6 km around SE Hawthorne Blvd, lon/lat degrees
AREA = {"type": "Polygon", "coordinates": [[[-122.67, 45.505], [-122.64, 45.505], [-122.64, 45.52],
                                            [-122.67, 45.52], [-122.67, 45.505]]]}
INSIDE = (45.5122, -122.6587)     # (lat, lon)
OUTSIDE = (47.6062, -122.3321)    # Seattle


def job(channel: ChannelType, *, alert_id: str = "alert:flood-1", version: str | None = None,
        subscription_id: str = "sub-1", channel_id: str | None = None, msg_type: str = "Alert",
        priority: int = 1, expires_in_s: float = 3600, language: str | None = "en") -> DeliveryJob:
    version = version or alert_id
    channel_id = channel_id or f"{channel.value}-0"
    key = f"{version}|{subscription_id}|{channel_id}"
    now = utcnow()
    return DeliveryJob(delivery_id=hashlib.sha256(key.encode()).hexdigest(), alert_id=alert_id,
                       alert_version=version, msg_type=msg_type, subscription_id=subscription_id,
                       channel_id=channel_id, channel=channel, language=language, priority=priority,
                       expires=now + timedelta(seconds=expires_in_s), created_at=now)


def contact(channel: ChannelType, **fields) -> Contact:
    fields.setdefault("subscription_id", "sub-1")
    fields.setdefault("channel_id", f"{channel.value}-0")
    return Contact(channel=channel, **fields)


def rendered(*, headline: str = "Flash flood warning for SE Portland", area: dict | None = None,
             alert_id: str = "alert:flood-1", scope: str = "Public") -> Rendered:
    area = area or AREA
    cap = (f'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>{alert_id}</identifier>'
           f"<status>Actual</status><msgType>Alert</msgType><scope>{scope}</scope></alert>")
    return Rendered(headline=headline, description="Water over the roads near the river.",
                    instruction="Move to higher ground now.",
                    wea_short="Flash flood warning SE Portland. Move to higher ground now.",
                    wea_long="Flash flood warning for SE Portland until 6 PM. Water is over the roads near the "
                             "river. Move to higher ground now. Do not drive through flooded roads.",
                    cap_xml=cap,
                    geojson={"type": "Feature", "id": alert_id, "geometry": area,
                             "properties": {"headline": headline, "category": "imminent_threat_severe", "tier": "imminent_threat_severe"}},
                    link=f"http://127.0.0.1:8000/api/v1/alerts/{alert_id}.xml")
