"""GeoRSS / RSS / Atom feeds (GDACS, Queensland Fire, WA DFES, ...), read with ``feedparser``.

Places come from GeoRSS (``georss:point``/``polygon`` and GML, which feedparser gives as ``entry.where``)
or W3C geo (``geo:lat``/``geo:long``); an entry without either is counted as unlocated. The body has
already passed the hardened XML parse (no DTD, no entities). Geometries: GeoJSON, WGS 84.
"""

from __future__ import annotations

import hashlib
from typing import Any

import feedparser

from feeds.external.formats.common import clean_geometry, iso, plain, point, slug, when
from feeds.external.models import FeedItem, ParsedFeed

GDACS_TYPES = {"EQ": "earthquake", "TC": "cyclone", "FL": "flood", "VO": "volcano", "DR": "drought",
               "WF": "wildfire", "TS": "tsunami"}


def parse(body: bytes) -> ParsedFeed:
    """The items of an RSS/Atom/RDF feed (WGS 84)."""
    doc = feedparser.parse(body, sanitize_html=True, resolve_relative_uris=False)
    feed = doc.get("feed", {})
    publisher = plain(feed.get("title"), 200)
    attribution = plain(feed.get("rights") or feed.get("copyright"), 300)
    out = ParsedFeed("georss", publisher, attribution, [])
    for entry in doc.get("entries", []):
        item = _item(entry)
        if item is None:
            continue
        if item.geometry is None:
            out.unlocated += 1
            continue
        if attribution is None and entry.get("gdacs_acknowledgements"):
            out.attribution = plain(entry["gdacs_acknowledgements"], 300)
        out.items.append(item)
    return out


def _geometry(entry: Any) -> dict[str, Any] | None:
    where = entry.get("where")
    if where:
        found = clean_geometry(dict(where))
        if found:
            return found
    if entry.get("geo_lat") and entry.get("geo_long"):
        return point(entry["geo_lat"], entry["geo_long"])
    return None


def _item(entry: Any) -> FeedItem | None:
    title = plain(entry.get("title"), 500)
    fid = entry.get("id") or entry.get("link")
    if not fid:
        if not title:
            return None
        fid = "title-" + hashlib.sha256(title.encode()).hexdigest()[:24]
    # dict.get: feedparser's own get() maps a missing `updated` to `published` with a DeprecationWarning
    updated = dict.get(entry, "updated") or dict.get(entry, "published")
    tags = [t.get("term") for t in entry.get("tags") or [] if t.get("term")]
    gdacs_type = entry.get("gdacs_eventtype")
    category = GDACS_TYPES.get(gdacs_type or "") or slug(tags[0] if tags else None)
    summary = plain(entry.get("summary"))
    text = f"{title}. {summary}"[:2000] if title and summary and not summary.startswith(title) else title or summary
    attrs = {"link": entry.get("link") if str(entry.get("link", "")).startswith(("http://", "https://")) else None,
             "updated": iso(updated),
             "alert_level": entry.get("gdacs_alertlevel"), "event_type": gdacs_type or (tags[0] if tags else None),
             "place": entry.get("gdacs_country") or entry.get("dfes_region"), "headline": title}
    return FeedItem(str(fid), category, text, _geometry(entry), when(updated),
                    {k: v for k, v in attrs.items() if v is not None})
