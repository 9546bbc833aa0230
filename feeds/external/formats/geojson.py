"""GeoJSON feeds: USGS earthquake summaries, the NWS alerts API (``application/geo+json``; alerts without
a geometry are placed on their zones), VicEmergency, NSW RFS major incidents, and plain GeoJSON.

The flavour is told from the features' properties, not the URL. Personal data some feeds carry (e.g. a
contact e-mail in VicEmergency's ``cap`` block) is never copied. Geometries: GeoJSON, WGS 84.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from feeds.external.formats import ZoneResolver
from feeds.external.formats.common import clean_geometry, iso, plain, slug, when
from feeds.external.models import FeedItem, ParsedFeed

USGS = ("USGS Earthquake Hazards Program", "U.S. Geological Survey, public domain")
NWS = ("US National Weather Service", "NOAA/National Weather Service, public domain")
VIC = ("VicEmergency", "© State of Victoria (Emergency Management Victoria)")
NSW_RFS = ("NSW Rural Fire Service", "© State of New South Wales (NSW Rural Fire Service), CC BY 4.0")
_ZONE_URL = re.compile(r"/([A-Z]{2}[CZ]\d{3})$")
_RFS_FIELD = re.compile(r"([A-Z][A-Z ]+):\s*(.*?)\s*(?:<br\s*/?>|$)", re.S)


def flavour(features: list[dict[str, Any]]) -> str:
    """Which publisher's GeoJSON this is, from the first features' properties."""
    for f in features[:5]:
        p = f.get("properties") or {}
        if "geocode" in p and "affectedZones" in p:
            return "nws"
        if "feedType" in p and "sourceOrg" in p:
            return "vicemergency"
        if "mag" in p and "place" in p:
            return "usgs"
        if "guid" in p and "pubDate" in p:
            return "nsw-rfs"
    return "plain"


def parse(doc: dict[str, Any], *, zones: ZoneResolver | None = None) -> ParsedFeed:
    """The items of a GeoJSON FeatureCollection (WGS 84)."""
    features = [f for f in doc["features"] if isinstance(f, dict)]
    kind = flavour(features)
    reader: Callable[[dict[str, Any]], FeedItem | None]
    publisher, attribution = {"usgs": USGS, "nws": NWS, "vicemergency": VIC, "nsw-rfs": NSW_RFS}.get(
        kind, (plain((doc.get("metadata") or {}).get("title")), None))
    reader = {"usgs": _usgs, "vicemergency": _vic, "nsw-rfs": _rfs, "plain": _plain}.get(kind) or (
        lambda f: _nws(f, zones))
    out = ParsedFeed(f"geojson-{kind}" if kind != "plain" else "geojson", publisher, attribution, [])
    for f in features:
        item = reader(f)
        if item is None:
            continue
        if item.geometry is None:
            out.unlocated += 1
            continue
        out.items.append(item)
    return out


def _usgs(f: dict[str, Any]) -> FeedItem | None:
    p = f.get("properties") or {}
    fid = f.get("id") or p.get("code")
    if not fid:
        return None
    coords = (f.get("geometry") or {}).get("coordinates") or []
    event_type = p.get("type") or "earthquake"
    attrs = {"magnitude": p.get("mag"), "place": p.get("place"), "event_type": event_type, "link": p.get("url"),
             "status": p.get("status"), "pager_alert": p.get("alert"), "tsunami": p.get("tsunami"),
             "updated": iso(p.get("updated")), "depth_km": coords[2] if len(coords) > 2 else None}
    return FeedItem(str(fid), slug(event_type, "earthquake"), plain(p.get("title") or p.get("place")),
                    clean_geometry(f.get("geometry")), when(p.get("updated")) or when(p.get("time")),
                    {k: v for k, v in attrs.items() if v is not None})


def _nws(f: dict[str, Any], zones: ZoneResolver | None) -> FeedItem | None:
    p = f.get("properties") or {}
    fid = p.get("id") or f.get("id")
    if not fid:
        return None
    geometry = clean_geometry(f.get("geometry"))
    codes: list[str] = []
    if geometry is None:
        geocode = p.get("geocode") or {}
        codes = [*(geocode.get("UGC") or []), *(geocode.get("SAME") or [])]
        for url in p.get("affectedZones") or []:
            m = _ZONE_URL.search(str(url))
            if m:
                codes.append(m.group(1))
        codes = list(dict.fromkeys(str(c) for c in codes))
        placed = zones(codes) if zones and codes else None
        geometry = clean_geometry(placed) if placed else None
    attrs = {"event_type": p.get("event"), "severity": p.get("severity"), "urgency": p.get("urgency"),
             "certainty": p.get("certainty"), "status": p.get("status"), "msg_type": p.get("messageType"),
             "area_desc": plain(p.get("areaDesc"), 500), "sent": iso(p.get("sent")),
             "effective": iso(p.get("effective")), "expires": iso(p.get("ends")) or iso(p.get("expires")),
             "headline": plain(p.get("headline"), 500), "instruction": plain(p.get("instruction")),
             "sender_name": p.get("senderName"), "zones": codes or None}
    text = plain(p.get("headline")) or plain(p.get("event"))
    if p.get("description"):
        text = f"{text}. {plain(p.get('description'))}"[:2000] if text else plain(p.get("description"))
    return FeedItem(str(fid), "weather", text, geometry, when(p.get("sent")),
                    {k: v for k, v in attrs.items() if v is not None})


def _vic(f: dict[str, Any]) -> FeedItem | None:
    p = f.get("properties") or {}
    fid = p.get("id") or p.get("sourceId")
    if not fid:
        return None
    cap = p.get("cap") or {}
    attrs = {"event_type": p.get("category2") or cap.get("event"), "status": p.get("status"),
             "feed_type": p.get("feedType"), "place": plain(p.get("location"), 500), "action": p.get("action"),
             "source_org": p.get("sourceOrg"), "severity": cap.get("severity"),
             "headline": plain(p.get("webHeadline") or p.get("sourceTitle"), 500),
             "updated": iso(p.get("updated")), "resources": p.get("resources"), "size": p.get("size")}
    title = p.get("sourceTitle") or p.get("name") or p.get("category1")
    text = plain(f"{title}: {p.get('location')}" if p.get("location") else title)
    return FeedItem(str(fid), slug(p.get("category1")), text, clean_geometry(f.get("geometry")),
                    when(p.get("updated")) or when(p.get("created")),
                    {k: v for k, v in attrs.items() if v is not None})


def _rfs(f: dict[str, Any]) -> FeedItem | None:
    p = f.get("properties") or {}
    fid = p.get("guid") or p.get("link")
    if not fid:
        return None
    fields = {k.strip().lower().replace(" ", "_"): plain(v, 300)
              for k, v in _RFS_FIELD.findall(str(p.get("description") or ""))}
    attrs = {"alert_level": fields.get("alert_level") or p.get("category"), "status": fields.get("status"),
             "event_type": fields.get("type"), "place": fields.get("location"),
             "council_area": fields.get("council_area"), "size": fields.get("size"),
             "responsible_agency": fields.get("responsible_agency"), "link": p.get("link"),
             "updated": fields.get("updated")}
    return FeedItem(str(fid), "bushfire", plain(p.get("title")), clean_geometry(f.get("geometry")), None,
                    {k: v for k, v in attrs.items() if v is not None})


def _plain(f: dict[str, Any]) -> FeedItem | None:
    p = f.get("properties") or {}
    fid = f.get("id") or p.get("id") or p.get("guid")
    if fid is None:
        return None
    text = plain(p.get("title") or p.get("name") or p.get("description"))
    attrs = {"link": p.get("link") or p.get("url"), "status": p.get("status"),
             "updated": iso(p.get("updated") or p.get("pubDate"))}
    return FeedItem(str(fid), slug(p.get("category")), text, clean_geometry(f.get("geometry")),
                    when(p.get("updated")) or when(p.get("pubDate")),
                    {k: v for k, v in attrs.items() if v is not None})
