"""Decisions of the critical-facilities registry: a facility's contacts, which facilities an alert area or a verified
incident reaches, the notification message with its acknowledgement link, and escalation. No I/O here.

Geometry: WGS 84 degrees; a facility's reach is the geodesic circle of ``radius_m`` metres around it (indexed as
the fan-out indexes a subscriber's point + radius: the circumscribing polygon, at most 0.12 % beyond).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from alerts.delivery.fanout import CIRCLE_SEGMENTS, CIRCUMSCRIBE
from alerts.delivery.models import ChannelType, Contact, Rendered
from alerts.delivery.render import ack_url
from alerts.facilities.models import Facility, FacilityIn, FacilityOut, Notification, Operator, OperatorOut, OptOut
from alerts.registry.service import parse_channels_for_registry
from alerts.subscriptions.models import StoredChannel
from alerts.subscriptions.service import channel_out
from emergency.geometry import circle_polygon
from mapping.targeting import Area, TargetIndex, geodesic_distance_m

PERSON_PREFIX = "facility"  # the delivery jobs' subscription id: "facility:<facility id>:<contact index>"
INCIDENT_PRIORITY = 2       # a verified incident is told like an imminent-threat (severe) alert


def new_facility_id() -> str:
    """A fresh facility id."""
    return "fac-" + secrets.token_hex(8)


def parse_facility(payload: FacilityIn, *, facility_id: str, now: datetime,
                   created_at: datetime | None = None) -> Facility:
    """The facility as stored, each contact's channels validated (email, sms) as subscriptions' are."""
    contacts = [Operator(name=op.name.strip(),
                         channels=parse_channels_for_registry(op.channels, now=now, field=f"contacts[{i}].channels"))
                for i, op in enumerate(payload.contacts)]
    return Facility(id=facility_id, name=payload.name.strip(), type=payload.type, lat=payload.lat, lon=payload.lon,
                    radius_m=payload.radius_m, contacts=contacts, created_at=created_at or now, updated_at=now)


def facility_out(f: Facility) -> FacilityOut:
    """A manager's view: masked contacts."""
    return FacilityOut(id=f.id, name=f.name, type=f.type, lat=f.lat, lon=f.lon, radius_m=f.radius_m,
                       contacts=[OperatorOut(name=o.name, channels=[channel_out(c) for c in o.channels])
                                 for o in f.contacts], created_at=f.created_at, updated_at=f.updated_at,
                       opt_outs=f.opt_outs)


def reached_by_area(*, area: Area, facilities: list[Facility]) -> list[Facility]:
    """The facilities whose circle (``radius_m`` around them) the area comes within."""
    index = TargetIndex()
    by_id = {f.id: f for f in facilities}
    for f in facilities:
        index.add_area(f.id, circle_polygon(f.lat, f.lon, f.radius_m * CIRCUMSCRIBE / 1000.0, CIRCLE_SEGMENTS))
    return [by_id[k] for k in sorted(set(index.query(area)))]


def reached_by_point(*, lat: float, lon: float, facilities: list[Facility]) -> list[Facility]:
    """The facilities within ``radius_m`` metres (geodesic) of the point."""
    return [f for f in facilities if geodesic_distance_m(f.lat, f.lon, lat, lon) <= f.radius_m]


def notification_id(*, facility_id: str, cause_id: str) -> str:
    """One notification per facility and cause (stable: a re-run finds the same one)."""
    return "fn-" + hashlib.sha256(f"{facility_id}|{cause_id}".encode()).hexdigest()[:24]


def notice_key(*, notification: str, contact_index: int) -> str:
    """The ledger ``alert_version`` of one contact's notification."""
    return f"facility:{notification}:{contact_index}"


def person(*, facility_id: str, contact_index: int) -> str:
    return f"{PERSON_PREFIX}:{facility_id}:{contact_index}"


def ack_page_url(*, base: str, delivery_id: str) -> str:
    """The acknowledgement link in the message: a page whose button POSTs the delivery's ack."""
    return f"{base.rstrip('/')}/facilities/ack/{delivery_id}"


def notification_message(*, facility: Facility, n: Notification, delivery_id: str, base: str) -> Rendered:
    """The operator's message: what happened near which facility, and the acknowledgement link."""
    headline = " ".join(n.headline.split())[:120]
    cause = "Alert" if n.cause == "alert" else "Verified incident"
    link = ack_page_url(base=base, delivery_id=delivery_id)
    text = (f"{cause} near {facility.name} ({facility.type.value}): {headline}. "
            f"Please acknowledge: {link}")
    return Rendered(headline=f"Critical facility notice: {facility.name}", description=None,
                    instruction="If you do not acknowledge, the next contact of this facility will be notified.",
                    wea_short=f"{cause} near {facility.name}: {headline}"[:90], wea_long=text, cap_xml="", geojson={},
                    link=link, ack_url=ack_url(base=base, delivery_id=delivery_id))


def reachable(op: Operator) -> list[StoredChannel]:
    """The operator's channels that may be sent to (an sms channel whose number replied STOP may not)."""
    return [c for c in op.channels if not c.stopped]


OPTED_OUT = "opted out (SMS STOP)"


def next_contact(*, facility: Facility, start: int) -> tuple[int | None, list[int]]:
    """The first contact from ``start`` on with a channel that may be sent to (None: nobody left), and the
    contacts passed over on the way (every channel of theirs opted out)."""
    skipped = []
    for i in range(start, len(facility.contacts)):
        if reachable(facility.contacts[i]):
            return i, skipped
        skipped.append(i)
    return None, skipped


def with_opt_out(facility: Facility, *, number: str, stopped: bool, now: datetime) -> Facility:
    """The facility with every operator's sms channel on ``number`` STOPped (``stopped``) or started again, each
    change on its ``opt_outs`` record."""
    contacts, log = [], []
    for i, op in enumerate(facility.contacts):
        channels = []
        for c in op.channels:
            if c.channel is ChannelType.sms and c.number == number and c.stopped != stopped:
                c = c.model_copy(update={"stopped": stopped})
                log.append(OptOut(at=now, contact_index=i, channel_id=c.channel_id, stopped=stopped))
            channels.append(c)
        contacts.append(op.model_copy(update={"channels": channels}))
    if not log:
        return facility
    return facility.model_copy(update={"contacts": contacts, "opt_outs": [*facility.opt_outs, *log]})


def keep_opt_outs(new: Facility, old: Facility) -> Facility:
    """A replaced facility keeps the STOP of every sms channel whose number is still there (only the number's
    START lifts it), and the record of past STOPs."""
    stopped = {c.number for op in old.contacts for c in op.channels if c.channel is ChannelType.sms and c.stopped}
    contacts = [op.model_copy(update={"channels": [c.model_copy(update={"stopped": True})
                                                   if c.channel is ChannelType.sms and c.number in stopped else c
                                                   for c in op.channels]}) for op in new.contacts]
    return new.model_copy(update={"contacts": contacts, "opt_outs": old.opt_outs})


def contact_of(*, facility: Facility, index: int, channel_id: str) -> Contact | None:
    """The contact of one operator's channel (None when gone or opted out)."""
    if not 0 <= index < len(facility.contacts):
        return None
    ch = next((c for c in facility.contacts[index].channels if c.channel_id == channel_id), None)
    if ch is None or ch.stopped:
        return None
    return Contact(subscription_id=person(facility_id=facility.id, contact_index=index), channel_id=ch.channel_id,
                   channel=ch.channel, address=ch.address, number=ch.number)
