"""CAP index feeds: write an Atom index of our active alerts, read Atom/RSS CAP indexes of other agencies.

An index feed (as NWS and the IPAWS public feed publish) has one entry per active alert with its
title, times and a link to the full CAP XML; some feeds embed the CAP message in the entry's
content instead. ``read_index`` returns the entries and findings (``feed.*`` codes) for entries
a consumer could not use (no id, no title, no link and no embedded alert, unknown Atom elements).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree

from alerts.cap.model import Alert, format_date
from alerts.cap.validate import Finding, validate_alert
from alerts.cap.xml import CapError, alert_elements, alert_from_element, local, namespace, parse_xml

ATOM_NS = "http://www.w3.org/2005/Atom"
CAP_MIME = "application/cap+xml"
# Atom 1.0 (RFC 4287) elements of feed and entry; anything else in the Atom namespace is an error.
_ATOM_FEED = {"author", "category", "contributor", "generator", "icon", "id", "link", "logo", "rights",
              "subtitle", "title", "updated", "entry"}
_ATOM_ENTRY = {"author", "category", "content", "contributor", "id", "link", "published", "rights", "source",
               "summary", "title", "updated"}


@dataclass(frozen=True)
class IndexEntry:
    """One alert listed by a feed we write: ``link`` is the absolute URL of its CAP XML."""

    id: str
    title: str
    link: str
    updated: datetime
    summary: str | None = None


def atom_index(entries: Iterable[IndexEntry], *, feed_id: str, title: str, self_link: str,
               updated: datetime) -> bytes:
    """An Atom 1.0 index feed: one entry per alert, each linking to its CAP XML (``application/cap+xml``)."""
    E = f"{{{ATOM_NS}}}"
    feed = etree.Element(E + "feed", nsmap={None: ATOM_NS})
    etree.SubElement(feed, E + "id").text = feed_id
    etree.SubElement(feed, E + "title").text = title
    etree.SubElement(feed, E + "updated").text = format_date(updated)
    etree.SubElement(feed, E + "link", rel="self", href=self_link, type="application/atom+xml")
    etree.SubElement(etree.SubElement(feed, E + "author"), E + "name").text = title
    for item in entries:
        entry = etree.SubElement(feed, E + "entry")
        etree.SubElement(entry, E + "id").text = item.id
        etree.SubElement(entry, E + "title").text = item.title
        etree.SubElement(entry, E + "updated").text = format_date(item.updated)
        etree.SubElement(entry, E + "link", rel="alternate", href=item.link, type=CAP_MIME)
        if item.summary:
            etree.SubElement(entry, E + "summary").text = item.summary
    etree.indent(feed, space="  ")
    return etree.tostring(feed, xml_declaration=True, encoding="UTF-8") + b"\n"


@dataclass
class FeedEntry:
    """One entry of a feed we read: the link to its CAP XML and/or the alert embedded in it."""

    id: str | None
    title: str | None
    link: str | None
    updated: str | None
    alert: Alert | None = None


@dataclass
class FeedIndex:
    kind: str  # "atom" or "rss"
    title: str | None
    entries: list[FeedEntry] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def _child_text(el: etree._Element, ns: str | None, name: str) -> str | None:
    found = el.find(f"{{{ns}}}{name}" if ns else name)
    return None if found is None else (found.text or "").strip()


def _embedded(el: etree._Element, path: str, findings: list[Finding]) -> Alert | None:
    found = alert_elements(el)
    if not found:
        return None
    try:
        alert = alert_from_element(found[0])
    except CapError as exc:
        findings.append(Finding("feed.embedded-alert", "error", path, str(exc)))
        return None
    for f in validate_alert(alert, ("schema", "core"), element=found[0]):
        findings.append(Finding(f.code, f.level, path + f.path, f.message))
    return alert


def _atom_link(entry: etree._Element) -> str | None:
    links = entry.findall(f"{{{ATOM_NS}}}link")
    preferred = [lk for lk in links if lk.get("rel", "alternate") == "alternate"] or links
    return preferred[0].get("href") if preferred else None


def _check_entry(e: FeedEntry, path: str, findings: list[Finding]) -> None:
    if not e.id:
        findings.append(Finding("feed.entry-id", "error", f"{path}/id", "every entry needs an id"))
    if not e.title:
        findings.append(Finding("feed.entry-title", "error", f"{path}/title", "every entry needs a title"))
    if not e.link and e.alert is None:
        findings.append(Finding("feed.entry-link", "error", f"{path}/link",
                                "needs a link to the CAP message or the message embedded in its content"))


def _read_atom(root: etree._Element) -> FeedIndex:
    index = FeedIndex("atom", _child_text(root, ATOM_NS, "title"))
    for child in root:
        if namespace(child.tag) == ATOM_NS and local(child.tag) not in _ATOM_FEED:
            index.findings.append(Finding("feed.element", "error", f"/feed/{local(child.tag)}",
                                          "is not an Atom feed element"))
    if not _child_text(root, ATOM_NS, "id"):
        index.findings.append(Finding("feed.id", "error", "/feed/id", "the feed needs an id"))
    for n, entry in enumerate(root.findall(f"{{{ATOM_NS}}}entry"), 1):
        path = f"/feed/entry[{n}]"
        for child in entry:
            if namespace(child.tag) == ATOM_NS and local(child.tag) not in _ATOM_ENTRY:
                index.findings.append(Finding("feed.element", "error", f"{path}/{local(child.tag)}",
                                              "is not an Atom entry element"))
        item = FeedEntry(_child_text(entry, ATOM_NS, "id"), _child_text(entry, ATOM_NS, "title"),
                         _atom_link(entry), _child_text(entry, ATOM_NS, "updated"))
        item.alert = _embedded(entry, path, index.findings)
        _check_entry(item, path, index.findings)
        index.entries.append(item)
    return index


def _read_rss(root: etree._Element) -> FeedIndex:
    channel = root.find("channel")
    if channel is None:
        return FeedIndex("rss", None, findings=[Finding("feed.channel", "error", "/rss", "has no channel")])
    index = FeedIndex("rss", _child_text(channel, None, "title"))
    if not _child_text(channel, None, "title"):
        index.findings.append(Finding("feed.title", "error", "/rss/channel/title", "the channel needs a title"))
    for n, item_el in enumerate(channel.findall("item"), 1):
        path = f"/rss/channel/item[{n}]"
        item = FeedEntry(_child_text(item_el, None, "guid") or _child_text(item_el, None, "link"),
                         _child_text(item_el, None, "title"), _child_text(item_el, None, "link"),
                         _child_text(item_el, None, "pubDate"))
        item.alert = _embedded(item_el, path, index.findings)
        _check_entry(item, path, index.findings)
        index.entries.append(item)
    return index


def is_feed(root: etree._Element) -> bool:
    return (local(root.tag) == "feed" and namespace(root.tag) == ATOM_NS) or local(root.tag) == "rss"


def read_index_root(root: etree._Element) -> FeedIndex:
    if not is_feed(root):
        raise CapError(f"feed: root element <{local(root.tag)}> is neither an Atom feed nor RSS")
    return _read_atom(root) if local(root.tag) == "feed" else _read_rss(root)


def read_index(data: bytes) -> FeedIndex:
    """Read an Atom or RSS 2.0 CAP index feed (hardened parser: no DTD, no entities, no network)."""
    return read_index_root(parse_xml(data))
