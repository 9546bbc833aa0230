"""A delivery job, a contact and a rendered message for the channel tests, and a free loopback port."""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path

from alerts.delivery.models import ChannelType, Contact, DeliveryJob, Rendered
from emergency.events import utcnow

CAP_SAMPLE = Path(__file__).resolve().parents[3] / "data" / "cap" / "spec_examples" / "oasiscap_v1dot2_appendix_a4.xml"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def job(channel: ChannelType, *, delivery_id: str = "d" * 64, msg_type: str = "Alert", priority: int = 2,
        language: str | None = None) -> DeliveryJob:
    now = utcnow()
    return DeliveryJob(delivery_id=delivery_id, alert_id="alert:one", alert_version="alert:one", msg_type=msg_type,
                       subscription_id="sub-1", channel_id=f"{channel.value}-0", channel=channel, language=language,
                       priority=priority, expires=now + timedelta(hours=1), created_at=now)


def contact(channel: ChannelType, **fields) -> Contact:
    return Contact(subscription_id="sub-1", channel_id=f"{channel.value}-0", channel=channel, **fields)


def rendered(**overrides) -> Rendered:
    fields = dict(
        headline="Flash flood warning <Johnson Creek> & Foster Rd",
        description="Water over the road at \"SE 82nd\" <b>now</b>.",
        instruction="Move to higher ground. Do not drive through water.",
        wea_short="Flash Flood Warning this area til 6 PM. Avoid flood areas. Check local media.",
        wea_long="Flash Flood Warning in this area until 6 PM: Johnson Creek is over its banks near Foster Rd. "
                 "Move to higher ground now and avoid flooded roads.",
        cap_xml=CAP_SAMPLE.read_text(encoding="utf-8"),
        geojson={"type": "Feature", "id": "alert:one", "geometry": None,
                 "properties": {"headline": "Flash flood warning"}},
        link="http://127.0.0.1:8000/api/v1/alerts/alert:one.xml",
    )
    fields.update(overrides)
    return Rendered(**fields)
