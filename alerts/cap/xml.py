"""CAP XML in and out: a hardened parser (no DTD, no entities, no network) and a writer in schema order.

``parse_xml`` is the only way XML enters this package: any DOCTYPE is refused before lxml sees the
document, and the parser itself loads no DTD, resolves no entity and opens no URL. ``read_alerts``
finds the CAP alerts in a document (a bare ``<alert>``, an EDXL-DE envelope, or any wrapper such as
``<alerts>``); ``write_alert`` writes one back in the element order of the schema of its version.
"""

from __future__ import annotations

import re
import typing
from functools import cache
from typing import Any

from lxml import etree
from pydantic import BaseModel

from alerts.cap.model import NAMESPACES, VERSION_OF, Alert, ValuePair
from emergency.errors import EmergencyError

DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_NOT_ELEMENTS = {"version", "signatures"}


class CapError(EmergencyError, ValueError):
    """A document that cannot be read as CAP; the message names the part and the reason."""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_comments=True, remove_pis=True)


def parse_xml(data: bytes) -> etree._Element:
    """Parse untrusted XML bytes; a DOCTYPE (hence any DTD or entity) or bad bytes raise ``CapError``."""
    if not isinstance(data, bytes):
        raise CapError("document: give the raw bytes, not text, so the declared encoding is honoured")
    if _DOCTYPE.search(data) or _DOCTYPE.search(data.replace(b"\x00", b"")):
        raise CapError("DOCTYPE: documents with a DTD are refused (no entity expansion, no external fetches)")
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise CapError(f"xml: not well-formed or not decodable: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise CapError("DOCTYPE: documents with a DTD are refused (no entity expansion, no external fetches)")
    return root


def local(tag: Any) -> str:
    """The local name of an element tag (``{ns}name`` → ``name``); '' for comments and PIs."""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def namespace(tag: Any) -> str | None:
    """The namespace of an element tag, or None."""
    return tag[1:].partition("}")[0] if isinstance(tag, str) and tag.startswith("{") else None


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _kind(annotation: Any) -> tuple[str, type[BaseModel] | None]:
    """'text', 'texts' or 'models' for a model field annotation."""
    if typing.get_origin(annotation) is list:
        (arg,) = typing.get_args(annotation)
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return "models", arg
        return "texts", None
    return "text", None


def _fields(cls: type[BaseModel]) -> list[tuple[str, str, str, type[BaseModel] | None]]:
    """(field, xml name, kind, submodel) in schema order."""
    out = []
    for name, f in cls.model_fields.items():
        if name in _NOT_ELEMENTS:
            continue
        kind, sub = _kind(f.annotation)
        out.append((name, _camel(name), kind, sub))
    return out


def _spec_for(cls: type[BaseModel], into: dict) -> dict:
    into[cls] = _fields(cls)
    for *_, sub in into[cls]:
        if sub is not None and sub not in into:
            _spec_for(sub, into)
    return into


_SPEC: dict[type[BaseModel], list[tuple[str, str, str, type[BaseModel] | None]]] = _spec_for(Alert, {})


def _text(el: etree._Element) -> str:
    return (el.text or "").strip()


@cache
def _by_tag(cls: type[BaseModel], ns: str) -> dict[str, tuple[str, str, type[BaseModel] | None]]:
    return {f"{{{ns}}}{xml}": (name, kind, sub) for name, xml, kind, sub in _SPEC[cls]}


def _read(cls: type[BaseModel], el: etree._Element, ns: str, version: str) -> dict[str, Any]:
    by_tag = _by_tag(cls, ns)
    values: dict[str, Any] = {}
    for child in el:
        spec = by_tag.get(child.tag)  # type: ignore[arg-type]
        if spec is None:
            continue  # other namespaces, comments, unknown or misplaced elements: the schema check reports them
        name, kind, sub = spec
        if kind == "text":
            values[name] = _text(child)
        elif kind == "texts":
            values.setdefault(name, []).append(_text(child))
        elif sub is ValuePair and version == "1.0":  # CAP 1.0: "valueName=value" text
            key, _, value = _text(child).partition("=")
            values.setdefault(name, []).append(ValuePair(value_name=key, value=value))
        else:
            values.setdefault(name, []).append(sub.model_validate(_read(sub, child, ns, version)))
    return values


def alert_from_element(el: etree._Element) -> Alert:
    """The ``Alert`` held by an ``<alert>`` element of any CAP version (1.0, 1.1, 1.2)."""
    ns = namespace(el.tag) or ""
    version = VERSION_OF.get(ns)
    if version is None or local(el.tag) != "alert":
        raise CapError(f"namespace: {ns or '(none)'!r} is not a CAP namespace (expected {NAMESPACES['1.2']})")
    values = _read(Alert, el, ns, version)
    values["version"] = version
    values["signatures"] = [etree.tostring(c, method="c14n", exclusive=True, with_tail=False).decode()
                            for c in el if namespace(c.tag) == DSIG_NS and local(c.tag) == "Signature"]
    return Alert.model_validate(values)


def alert_elements(root: etree._Element) -> list[etree._Element]:
    """The CAP ``<alert>`` elements of a document: the root itself, or those nested in an envelope."""
    if local(root.tag) == "alert":
        return [root]
    return [el for el in root.iter() if local(el.tag) == "alert" and namespace(el.tag) in VERSION_OF]


def read_alerts(data: bytes) -> list[Alert]:
    """Every CAP alert in a document; ``CapError`` when there is none or it is not CAP."""
    root = parse_xml(data)
    found = alert_elements(root)
    if not found:
        raise CapError(f"document: no CAP alert in it (root element <{local(root.tag)}> "
                       f"in namespace {namespace(root.tag) or '(none)'})")
    return [alert_from_element(el) for el in found]


def read_alert(data: bytes) -> Alert:
    """The one CAP alert of a document (the first one when an envelope holds several)."""
    return read_alerts(data)[0]


def _write(parent: etree._Element, cls: type[BaseModel], model: BaseModel, ns: str, version: str) -> None:
    for name, xml, kind, sub in _SPEC[cls]:
        value = getattr(model, name)
        if kind == "text":
            if value is not None:
                etree.SubElement(parent, f"{{{ns}}}{xml}").text = value
        elif kind == "texts":
            for v in value:
                etree.SubElement(parent, f"{{{ns}}}{xml}").text = v
        else:
            for item in value:
                child = etree.SubElement(parent, f"{{{ns}}}{xml}")
                if sub is ValuePair and version == "1.0":
                    child.text = f"{item.value_name}={item.value}"
                else:
                    _write(child, sub, item, ns, version)


def alert_element(alert: Alert) -> etree._Element:
    """The ``<alert>`` element of a model (without its signatures), in the namespace of ``alert.version``."""
    ns = NAMESPACES.get(alert.version)
    if ns is None:
        raise CapError(f"version: {alert.version!r} is not a CAP version ({', '.join(NAMESPACES)})")
    root = etree.Element(f"{{{ns}}}alert", nsmap={None: ns})
    _write(root, Alert, alert, ns, alert.version)
    return root


def write_alert(alert: Alert, *, pretty: bool = True) -> bytes:
    """The message as UTF-8 XML with a declaration, elements in schema order. Signatures are spliced in
    last, byte for byte as read (canonical form), since their whitespace and prefixes are what they sign."""
    root = alert_element(alert)
    if pretty:
        etree.indent(root, space="  ")
    body = etree.tostring(root, encoding="UTF-8", xml_declaration=True)
    if alert.signatures:
        end = body.rindex(b"</alert>")
        sep = b"\n  " if pretty else b""
        body = body[:end].rstrip() + b"".join(sep + s.encode() for s in alert.signatures) + \
            (b"\n" if pretty else b"") + body[end:]
    return body + b"\n"
