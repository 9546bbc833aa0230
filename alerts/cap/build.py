"""CAP messages for the alerts this system issues (from their ``alerts.issued`` envelopes), and the
tier of a CAP message received from elsewhere."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from alerts.cap.model import Alert, Area, Info, ValuePair, format_date
from alerts.cap.validate import IPAWS_CODE, WEA_TEXT_MAX
from alerts.tiers import SAME_CODE, WEA_HANDLING, Tier, classify, rank
from emergency.events import Envelope
from emergency.geometry import format_cap_circle

CATEGORY = {Tier.child_abduction: "Rescue"}  # everything else is "Safety"


def sender_id(name: str) -> str:
    """A CAP sender for an originator name: no spaces, commas, '<' or '&' (``Demo EM`` → ``demo-em``)."""
    return re.sub(r"[^a-z0-9._@:-]+", "-", name.strip().lower()).strip("-") or "unknown"


def cap_date(iso: str) -> str:
    return format_date(datetime.fromisoformat(iso))


def polygons(geometry: dict[str, Any]) -> list[str]:
    """CAP polygons (``lat,lon`` pairs, first point repeated last) of the outer rings of a GeoJSON
    Polygon/MultiPolygon (WGS 84). CAP has no holes: interior rings are left out."""
    rings = [geometry["coordinates"][0]] if geometry["type"] == "Polygon" else [p[0] for p in geometry["coordinates"]]
    return [" ".join(f"{lat:.6f},{lon:.6f}" for lon, lat, *_ in ring) for ring in rings]


def _wea_parameters(tier: Tier, texts: dict[str, Any]) -> list[ValuePair]:
    params = [ValuePair(value_name="WEAHandling", value=WEA_HANDLING[tier])]
    headline = texts["headline"]
    wea_text = texts.get("wea_text") or (headline if len(headline) <= WEA_TEXT_MAX else None)
    if wea_text:
        params.append(ValuePair(value_name="CMAMtext", value=wea_text))
    if texts.get("wea_long_text"):
        params.append(ValuePair(value_name="CMAMlongtext", value=texts["wea_long_text"]))
    return params


def envelope_to_cap(event: Envelope) -> Alert:
    """The CAP 1.2 message (IPAWS profile, WEA parameters) for an issued alert envelope: one ``<info>`` per
    language (the first language's texts, then each translation's), each with the same event, codes, urgency,
    severity, certainty, expiry and area."""
    a = event.attributes
    tier = Tier(a["tier"])
    circle = a.get("circle")
    geometry = a.get("cap_area") or event.geometry  # an Update is delivered wider than its own area
    area = Area(area_desc=a.get("area_desc") or "Alert area",
                polygon=[] if circle or geometry is None else polygons(geometry),
                circle=[format_cap_circle(circle["lat"], circle["lon"], circle["radius_km"])] if circle else [])
    same = a.get("same_code") or SAME_CODE[tier]  # alerts stored before the code followed the event
    blocks = [(a.get("language") or "en-US", a), *(a.get("translations") or {}).items()]
    info = [Info(language=language, category=[CATEGORY.get(tier, "Safety")], event=a["event"],
                 response_type=[a["response_type"]] if a.get("response_type") else [], urgency=a["urgency"],
                 severity=a["severity"], certainty=a["certainty"], event_code=[ValuePair(value_name="SAME", value=same)],
                 expires=cap_date(a["expires"]), sender_name=a["sender"], headline=texts["headline"],
                 description=texts.get("description"), instruction=texts.get("instruction"),
                 parameter=_wea_parameters(tier, texts), area=[area])
            for language, texts in blocks]
    return Alert(identifier=a.get("cap_id") or event.id, sender=sender_id(a["sender"]), sent=cap_date(a["sent"]),
                 status=a["status"], msg_type=a.get("msg_type", "Alert"), scope="Public", code=[IPAWS_CODE],
                 references=a.get("references"), info=info)


def tier_of(alert: Alert) -> Tier:
    """The tier of a received message: the highest-priority tier of its info blocks."""
    tiers = [classify(alert.status, i.event_codes("SAME"), i.parameter_value("WEAHandling"),
                      i.urgency, i.severity, i.certainty) for i in alert.info]
    if not tiers:
        return classify(alert.status, [], None, "", "", "")
    return min(tiers, key=lambda t: rank(t.value))


def thread_messages(event: Envelope) -> list[Alert]:
    """Skeletons of every CAP message of an alert's thread (identifier, sender, sent, type, references,
    expiry), enough for the lifecycle registry to rebuild the thread from the store."""
    a = event.attributes
    thread = a.get("thread") or [{"id": event.id, "sent": a["sent"], "expires": a["expires"]}]
    sender = sender_id(a["sender"])
    out: list[Alert] = []
    for n, m in enumerate(thread):
        last = n == len(thread) - 1
        msg_type = "Alert" if n == 0 else ("Cancel" if last and a.get("msg_type") == "Cancel" else "Update")
        out.append(Alert(identifier=m["id"], sender=sender, sent=cap_date(m["sent"]), status=a["status"],
                         msg_type=msg_type, scope="Public",
                         references=out[0].reference_key() if out else None,
                         info=[Info(expires=cap_date(m["expires"]))]))
    return out
