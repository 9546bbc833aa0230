"""CAP Atom/RSS index feeds (NWS CAP index, IPAWS, national CAP feeds), read through ``alerts.atom``.

Each entry is one alert. Its place is the alert embedded in the entry (polygons, circles, geocodes) or the
index's own CAP elements (``cap:polygon``, ``cap:geocode`` with UGC / FIPS6 / SAME values, resolved through
the region's zones); linked CAP messages are not fetched (one request per entry per poll would multiply the
load; the index already carries what the map shows). Geometries: GeoJSON, WGS 84.
"""

from __future__ import annotations

from typing import Any

import shapely
from lxml import etree
from shapely.geometry import Polygon, mapping

from alerts.atom import ATOM_NS, read_index_root
from alerts.cap.model import Alert
from alerts.cap.xml import local, namespace, parse_xml
from emergency.geometry import circle_polygon, parse_cap_circle, parse_cap_polygon
from feeds.external.formats import CAP_NAMESPACES, ZoneResolver
from feeds.external.formats.common import clean_geometry, iso, plain, slug, when
from feeds.external.models import FeedItem, ParsedFeed

ZONE_CODES = ("UGC", "FIPS6", "SAME")


def parse(body: bytes, *, zones: ZoneResolver | None = None) -> ParsedFeed:
    """The items of a CAP index (WGS 84)."""
    root = parse_xml(body)
    index = read_index_root(root)
    elements = root.findall(f"{{{ATOM_NS}}}entry") if index.kind == "atom" else root.findall("channel/item")
    author = root.find(f"{{{ATOM_NS}}}author/{{{ATOM_NS}}}name")
    out = ParsedFeed("cap-index", plain(index.title, 200), plain(root.findtext(f"{{{ATOM_NS}}}rights"), 300), [])
    if author is not None and out.attribution is None and "@" not in (author.text or ""):
        out.attribution = plain(author.text, 200)
    for entry, el in zip(index.entries, elements, strict=False):
        fid = entry.id or entry.link or (entry.alert.identifier if entry.alert else None)
        if not fid:
            continue
        caps = _cap_children(el)
        geometry, codes = _place(entry.alert, caps, zones)
        info = entry.alert.info[0] if entry.alert and entry.alert.info else None
        attrs = {"event_type": (info.event if info else None) or caps.get("event"),
                 "severity": (info.severity if info else None) or caps.get("severity"),
                 "urgency": (info.urgency if info else None) or caps.get("urgency"),
                 "certainty": (info.certainty if info else None) or caps.get("certainty"),
                 "status": (entry.alert.status if entry.alert else None) or caps.get("status"),
                 "msg_type": (entry.alert.msg_type if entry.alert else None) or caps.get("msgType"),
                 "area_desc": plain(caps.get("areaDesc"), 500), "headline": plain(entry.title, 500),
                 "expires": iso((info.expires if info else None) or caps.get("expires")),
                 "link": entry.link, "updated": iso(entry.updated), "zones": codes or None}
        item = FeedItem(str(fid), slug((info.category[0] if info and info.category else None) or caps.get("category"),
                                       "warning"),
                        plain(entry.title), geometry, when(entry.updated),
                        {k: v for k, v in attrs.items() if v})
        if geometry is None:
            out.unlocated += 1
        else:
            out.items.append(item)
    return out


def _cap_children(el: etree._Element) -> dict[str, Any]:
    """The index entry's own CAP elements: text by local name; polygons and geocode values as lists."""
    found: dict[str, Any] = {"polygon": [], "geocode": []}
    for child in el.iter():
        if namespace(child.tag) not in CAP_NAMESPACES:
            continue
        name = local(child.tag)
        if name == "polygon":
            if (child.text or "").strip():
                found["polygon"].append(child.text.strip())
        elif name == "geocode":  # NWS pairs several valueName/value in one geocode, in order
            current = None
            for part in child:
                if local(part.tag) == "valueName":
                    current = (part.text or "").strip().upper()
                elif local(part.tag) == "value" and current in ZONE_CODES:
                    found["geocode"].extend((part.text or "").split())
        elif name not in found and child.text and child.text.strip():
            found[name] = child.text.strip()
    return found


def _polygon(text: str) -> Polygon | None:
    try:
        pts = parse_cap_polygon(text)
    except ValueError:
        return None
    return Polygon([(lon, lat) for lat, lon in pts]) if len(pts) >= 4 else None


def _place(alert: Alert | None, caps: dict[str, Any], zones: ZoneResolver | None) -> tuple[dict | None, list[str]]:
    polygons: list[str] = list(caps["polygon"])
    circles: list[str] = []
    codes: list[str] = list(caps["geocode"])
    for info in alert.info if alert else []:
        for area in info.area:
            polygons += area.polygon
            circles += area.circle
            codes += [g.value for g in area.geocode if g.value_name.upper() in ZONE_CODES]
    shapes = [p for p in (_polygon(t) for t in polygons) if p is not None]
    for text in circles:
        try:
            c = parse_cap_circle(text)
        except ValueError:
            continue
        shapes.append(shapely.geometry.shape(circle_polygon(c.lat, c.lon, max(c.radius_km, 0.1))))
    codes = list(dict.fromkeys(c for text in codes for c in text.split()))
    if shapes:
        return clean_geometry(mapping(shapely.union_all(shapes))), codes
    if codes and zones:
        placed = zones(codes)
        return (clean_geometry(placed) if placed else None), codes
    return None, codes
