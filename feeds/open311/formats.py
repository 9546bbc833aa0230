"""Open311's two formats: JSON, and XML as the spec's "Spark convention" maps one onto the other.

A list is an element named for the list (``services``) holding one element per item (``service``); an
object's fields are child elements in order; ``null`` is an empty element; booleans are ``true``/``false``.
XML is written with lxml (UTF-8, with the declaration the spec asks for) and read, for the round trip, with
the project's hardened parser (``alerts.cap.xml.parse_xml``: no DTD, no entities, no network).
"""

from __future__ import annotations

import json
from typing import Any

from lxml import etree

from alerts.cap.xml import parse_xml
from emergency.text import xml_printable

ITEM = {  # list element -> item element, as the spec's examples name them
    "services": "service", "service_requests": "request", "attributes": "attribute", "values": "value",
    "endpoints": "endpoint", "formats": "format", "errors": "error", "service_request_updates": "request_update",
}
ROOT_OF_ITEM = {"service": "services", "request": "service_requests", "error": "errors",
                "request_update": "service_request_updates"}


def _element(tag: str, value: Any) -> etree._Element:
    el = etree.Element(tag)
    if isinstance(value, list):
        for item in value:
            el.append(_element(ITEM[tag], item))
    elif isinstance(value, dict):
        for key, item in value.items():
            el.append(_element(key, item))
    elif isinstance(value, bool):
        el.text = "true" if value else "false"
    elif value is not None:
        el.text = xml_printable(str(value))  # the server's own text may quote bad input: never a 500
    return el


def to_xml(root: str, value: Any) -> bytes:
    """``value`` (the JSON form: a list for ``services``/``service_requests``/``errors``, else an object) as the
    spec's XML document with root element ``root``."""
    return etree.tostring(_element(root, value), xml_declaration=True, encoding="utf-8", pretty_print=True)


def to_json(value: Any) -> bytes:
    """The JSON form, UTF-8."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _read(el: etree._Element) -> Any:
    children = [c for c in el if isinstance(c.tag, str)]
    if el.tag in ITEM:
        return [_read(c) for c in children]
    if children:
        return {c.tag: _read(c) for c in children}
    text = (el.text or "").strip()
    return text or None


def from_xml(data: bytes) -> tuple[str, Any]:
    """An Open311 XML document read back into its JSON form (every leaf a string or None): (root, value)."""
    root = parse_xml(data)
    return root.tag, _read(root)
