"""Feed formats, recognised from the content (never the URL): one parser module per format.

``detect(body)`` names the format; ``parse(body, zones=...)`` gives a ``ParsedFeed``. JSON that is a
GeoJSON FeatureCollection is read by ``geojson`` (USGS, NWS alerts API, VicEmergency, NSW RFS, or plain
GeoJSON, told apart by their properties); XML goes through the hardened parser first (no DTD, no entities,
no network), then an Atom/RSS document with CAP content (CAP namespace elements, or links of type
``application/cap+xml``) is a CAP index (``cap_index``, through ``alerts.atom``'s reader), any other
RSS/Atom/RDF a GeoRSS feed (``georss``, feedparser). Anything else is ``UnknownFormat``.

Geometries are GeoJSON, WGS 84 longitude/latitude degrees.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from lxml import etree

from alerts.cap.xml import CapError, local, namespace, parse_xml
from feeds.external.models import ParsedFeed

ZoneResolver = Callable[[list[str]], dict[str, Any] | None]
"""UGC / SAME codes -> the union of the zones the region knows (GeoJSON, WGS 84), or None if none."""

CAP_NAMESPACES = ("urn:oasis:names:tc:emergency:cap:1.0", "urn:oasis:names:tc:emergency:cap:1.1",
                  "urn:oasis:names:tc:emergency:cap:1.2")
FEED_ROOTS = {"feed", "rss", "RDF"}


class UnknownFormat(ValueError):
    """A body no parser reads; the message says what it looked like."""


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UnknownFormat(f"the body starts like JSON but is not valid JSON ({exc})"[:200]) from None


def _xml(body: bytes) -> etree._Element:
    try:
        return parse_xml(body)
    except CapError as exc:
        raise UnknownFormat(f"the body is not usable XML: {exc}"[:200]) from None


def _is_cap_index(root: etree._Element) -> bool:
    for el in root.iter():
        if namespace(el.tag) in CAP_NAMESPACES:
            return True
        if local(el.tag) == "link" and (el.get("type") or "").startswith("application/cap+xml"):
            return True
    return False


def detect(body: bytes) -> str:
    """The format of ``body``: ``geojson``, ``cap-index`` or ``georss``; UnknownFormat otherwise."""
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head in (b"{", b"["):
        doc = _json(body)
        if not (isinstance(doc, dict) and doc.get("type") == "FeatureCollection"
                and isinstance(doc.get("features"), list)):
            raise UnknownFormat("a JSON document that is not a GeoJSON FeatureCollection")
        return "geojson"
    if head == b"<":
        root = _xml(body)
        if local(root.tag) not in FEED_ROOTS:
            raise UnknownFormat(f"an XML document whose root <{local(root.tag)}> is not Atom, RSS or RDF")
        return "cap-index" if _is_cap_index(root) else "georss"
    shown = body[:40].decode("utf-8", "replace")
    raise UnknownFormat(f"neither JSON nor XML (starts with {shown!r})" if body.strip() else "the body is empty")


def parse(body: bytes, *, zones: ZoneResolver | None = None) -> ParsedFeed:
    """Recognise and read ``body``; raises UnknownFormat (or ValueError naming what is wrong)."""
    fmt = detect(body)
    if fmt == "geojson":
        from feeds.external.formats import geojson

        return geojson.parse(json.loads(body), zones=zones)
    if fmt == "cap-index":
        from feeds.external.formats import cap_index

        return cap_index.parse(body, zones=zones)
    from feeds.external.formats import georss

    return georss.parse(body)
