"""One CAP validator: schema (XSD), core CAP rules, IPAWS profile v1.0, WEA, and originator authority.

Every check returns ``Finding``s (code, level, element path, message) instead of raising, so an
originator sees all problems at once. Codes are ``<profile>.<rule>``; lifecycle codes (duplicate,
missing/expired reference) live in ``alerts.lifecycle`` and area-outside-authority here, both
named after IPAWS-OPEN's rejections. Polygons and circles are WGS 84 (CAP ``lat,lon`` order);
circle radii are kilometres.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

from lxml import etree
from shapely.geometry import LinearRing, Polygon
from shapely.geometry.base import BaseGeometry

from alerts.cap.model import DATE_RE, NAMESPACES, Alert, Area, Info, parse_date
from alerts.cap.xml import CapError, alert_element, alert_elements, alert_from_element, parse_xml
from emergency.geometry import circle_polygon, parse_cap_circle, parse_cap_polygon, to_shape

Level = Literal["error", "warning"]
PROFILES = ("schema", "core", "ipaws", "wea", "authority")
SCHEMA_DIR = Path(__file__).parent / "schema"
SCHEMA_FILES = {"1.2": "CAP-v1.2.xsd", "1.1": "CAP-v1.1.xsd"}

IPAWS_CODE = "IPAWSv1.0"
WEA_TEXT_MAX = 90
WEA_LONG_TEXT_MAX = 360
WEA_URGENCY = {"Immediate", "Expected"}
WEA_SEVERITY = {"Extreme", "Severe"}
WEA_CERTAINTY = {"Observed", "Likely"}
WEA_EXEMPT_SAME = {"EAN": "presidential", "CAE": "AMBER", "RMT": "test", "RWT": "test"}

_BAD_ID_CHARS = re.compile(r"[\s,<&]")
_LANGUAGE = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")


@dataclass(frozen=True)
class Finding:
    """One problem: ``path`` is the element path (``/alert/info[1]/area[2]/polygon[1]``, 1-based)."""

    code: str
    level: Level
    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.path}: {self.message} [{self.code}]"


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.level == "error" for f in findings)


def _err(code: str, path: str, message: str) -> Finding:
    return Finding(code, "error", path, message)


def _warn(code: str, path: str, message: str) -> Finding:
    return Finding(code, "warning", path, message)


# --- schema ---------------------------------------------------------------------------------------

@cache
def schema(version: str) -> etree.XMLSchema:
    """The shipped XSD for a CAP version (1.1, 1.2), loaded once without network access."""
    name = SCHEMA_FILES.get(version)
    if name is None:
        raise CapError(f"version: no XSD for CAP {version} (only {', '.join(SCHEMA_FILES)})")
    return etree.XMLSchema(parse_xml((SCHEMA_DIR / name).read_bytes()))


def check_schema(element: etree._Element, version: str) -> list[Finding]:
    """XSD findings for an ``<alert>`` element of ``version``."""
    if version not in SCHEMA_FILES:
        return [_warn("schema.no-xsd", "/alert", f"CAP {version} has no XSD here; only the rules were checked")]
    xsd = schema(version)
    if xsd.validate(element):
        return []
    return [_err("schema.invalid", f"line {e.line}", e.message) for e in xsd.error_log]


# --- core CAP rules --------------------------------------------------------------------------------

def _points(text: str) -> list[tuple[float, float]] | str:
    """(lat, lon) pairs of a CAP polygon (WGS 84 degrees), or the reason it cannot be read."""
    try:
        return parse_cap_polygon(text)
    except ValueError as exc:
        return str(exc)


def polygon_shape(text: str) -> Polygon | None:
    """A CAP polygon as a shapely Polygon in (lon, lat) order, or None if it cannot be read."""
    pts = _points(text)
    if isinstance(pts, str) or len(pts) < 4:
        return None
    return Polygon([(lon, lat) for lat, lon in pts])


def circle_shape(text: str) -> BaseGeometry | None:
    """A CAP circle (``lat,lon radius_km``) as a 64-sided shapely polygon (lon, lat), or None."""
    try:
        c = parse_cap_circle(text)
    except ValueError:
        return None
    if c.radius_km == 0:
        return to_shape({"type": "Point", "coordinates": [c.lon, c.lat]})
    return to_shape(circle_polygon(c.lat, c.lon, c.radius_km))


def _check_polygon(text: str, path: str) -> list[Finding]:
    if not text.strip():
        return [_warn("core.polygon-empty", path, "is empty; leave it out")]
    pts = _points(text)
    if isinstance(pts, str):
        return [_err("core.polygon-format", path, pts)]
    if len(pts) < 4:
        return [_err("core.polygon-points", path, f"needs at least 4 points (first repeated last), has {len(pts)}")]
    if pts[0] != pts[-1]:
        return [_err("core.polygon-closed", path, "first and last points must be the same")]
    if not LinearRing([(lon, lat) for lat, lon in pts]).is_simple:
        return [_err("core.polygon-self-intersecting", path, "the boundary crosses itself")]
    return []


def _check_circle(text: str, path: str) -> list[Finding]:
    try:
        parse_cap_circle(text)
    except ValueError as exc:
        code = "core.circle-radius" if str(exc).startswith("circle radius") else "core.circle-format"
        return [_err(code, path, str(exc))]
    return []


def _check_date(value: str | None, path: str) -> list[Finding]:
    if value is None:
        return []
    if not DATE_RE.match(value):
        return [_err("core.date-format", path, f"{value!r} must be YYYY-MM-DDThh:mm:ss±hh:mm "
                     "(time-zone offset required, no fractional seconds, no 'Z')")]
    if parse_date(value) is None:
        return [_err("core.date-format", path, f"{value!r} is not a real date")]
    return []


def _check_references(alert: Alert) -> list[Finding]:
    if alert.references is None:
        return []
    path = "/alert/references"
    items = alert.references.split()
    if not items:
        return [_err("core.references-format", path, "is empty; give 'sender,identifier,sent' entries")]
    out: list[Finding] = []
    sent = parse_date(alert.sent)
    for item in items:
        parts = item.split(",")
        if len(parts) != 3 or not all(parts):
            out.append(_err("core.references-format", path, f"{item!r} is not 'sender,identifier,sent'"))
            continue
        ref_sender, ref_id, ref_sent = parts
        if ref_sender == alert.sender and ref_id == alert.identifier:
            out.append(_err("core.references-self", path, f"{item!r} references this message itself"))
        when = parse_date(ref_sent)
        if when is None:
            out.append(_err("core.references-format", path, f"{item!r}: sent {ref_sent!r} is not a CAP date"))
        elif sent is not None and when > sent:
            out.append(_err("core.references-future", path, f"{item!r} was sent after this message ({alert.sent})"))
    return out


def _check_scope(alert: Alert) -> list[Finding]:
    out = []
    if alert.scope == "Restricted" and not (alert.restriction or "").strip():
        out.append(_err("core.scope-restriction", "/alert/restriction", "is required when scope is Restricted"))
    if alert.scope != "Restricted" and alert.restriction is not None:
        out.append(_warn("core.scope-restriction", "/alert/restriction",
                        f"is only for scope Restricted (scope is {alert.scope or 'missing'})"))
    if alert.scope == "Private" and not (alert.addresses or "").strip():
        out.append(_err("core.scope-addresses", "/alert/addresses", "is required when scope is Private"))
    if alert.addresses is not None and not alert.addresses.strip():
        out.append(_warn("core.scope-addresses", "/alert/addresses", "is empty; leave it out or list recipients"))
    return out


def _check_info_dates(info: Info, at: str, sent: datetime | None) -> list[Finding]:
    out: list[Finding] = []
    for name in ("effective", "onset", "expires"):
        out += _check_date(getattr(info, name), f"{at}/{name}")
    expires = parse_date(info.expires)
    if expires is not None and sent is not None and expires <= sent:
        out.append(_err("core.expires-before-sent", f"{at}/expires", f"{info.expires} is not after sent"))
    effective = parse_date(info.effective)
    if expires is not None and effective is not None and expires <= effective:
        out.append(_err("core.expires-before-effective", f"{at}/expires", f"{info.expires} is not after effective"))
    return out


def _check_area(area: Area, at: str) -> list[Finding]:
    out: list[Finding] = []
    for k, poly in enumerate(area.polygon, 1):
        out += _check_polygon(poly, f"{at}/polygon[{k}]")
    for k, circle in enumerate(area.circle, 1):
        out += _check_circle(circle, f"{at}/circle[{k}]")
    if area.ceiling is not None and area.altitude is None:
        out.append(_err("core.ceiling-without-altitude", f"{at}/ceiling", "needs altitude"))
    return out


def check_core(alert: Alert) -> list[Finding]:
    """The CAP 1.2 rules the XSD cannot express."""
    out: list[Finding] = []
    for name in ("identifier", "sender"):
        value = getattr(alert, name)
        if not value or _BAD_ID_CHARS.search(value):
            out.append(_err(f"core.{name}-characters", f"/alert/{name}",
                            f"{value!r} must be non-empty, without spaces, commas, '<' or '&'"))
    out += _check_date(alert.sent, "/alert/sent")
    out += _check_references(alert)
    out += _check_scope(alert)
    if alert.msg_type in ("Alert", "Update") and alert.status in ("Actual", "Exercise", "Test") and not alert.info:
        out.append(_warn("core.info-required", "/alert", f"an {alert.msg_type} message has no info block"))
    sent = parse_date(alert.sent)
    for i, info in enumerate(alert.info, 1):
        at = f"/alert/info[{i}]"
        if info.language is not None and not _LANGUAGE.match(info.language):
            out.append(_err("core.language", f"{at}/language", f"{info.language!r} is not an RFC 3066 language tag"))
        out += _check_info_dates(info, at, sent)
        for j, area in enumerate(info.area, 1):
            out += _check_area(area, f"{at}/area[{j}]")
    return out


# --- IPAWS profile v1.0 ----------------------------------------------------------------------------

def check_ipaws(alert: Alert) -> list[Finding]:
    """OASIS CAP v1.2 USA IPAWS Profile v1.0."""
    out: list[Finding] = []
    if IPAWS_CODE not in alert.code:
        out.append(_err("ipaws.code", "/alert/code", f"must include <code>{IPAWS_CODE}</code>"))
    if alert.msg_type in ("Update", "Cancel") and not alert.reference_list():
        out.append(_err("ipaws.references-required", "/alert/references",
                        f"a {alert.msg_type} must reference every non-expired message of its thread"))
    if not alert.info and alert.status in ("Actual", "Exercise", "Test"):
        out.append(_err("ipaws.info-required", "/alert", "the IPAWS profile requires at least one info block"))
    categories = {tuple(sorted(i.category)) for i in alert.info}
    if len(categories) > 1:
        out.append(_err("ipaws.category-mismatch", "/alert/info", "every info block must have the same category"))
    same_codes = {tuple(i.event_codes("SAME")) for i in alert.info}
    if len(same_codes) > 1:
        out.append(_err("ipaws.event-code-mismatch", "/alert/info", "every info block must have the same SAME event code"))
    for i, info in enumerate(alert.info, 1):
        at = f"/alert/info[{i}]"
        if info.expires is None:
            out.append(_err("ipaws.expires-required", f"{at}/expires", "is required"))
        codes = info.event_codes("SAME")
        if len(codes) != 1:
            out.append(_err("ipaws.same-event-code", f"{at}/eventCode",
                            f"needs exactly one eventCode with valueName SAME, has {len(codes)}"))
        elif not re.fullmatch(r"[A-Z]{3}", codes[0]):
            out.append(_err("ipaws.same-event-code", f"{at}/eventCode", f"SAME code {codes[0]!r} is not 3 letters"))
        if not info.area:
            out.append(_err("ipaws.area-required", f"{at}/area", "at least one area is required"))
    return out


# --- WEA ------------------------------------------------------------------------------------------

def wea_exemption(info: Info, alert: Alert) -> str | None:
    """Why an info block is exempt from the WEA urgency/severity/certainty rule, or None."""
    if alert.status == "Test":
        return "test"
    for code in info.event_codes("SAME"):
        if code in WEA_EXEMPT_SAME:
            return WEA_EXEMPT_SAME[code]
    handling = (info.parameter_value("WEAHandling") or "").lower()
    if handling in ("presidential", "child abduction", "public safety"):  # IPAWS WEA handling classes
        return handling
    return None


def check_wea(alert: Alert) -> list[Finding]:
    """Wireless Emergency Alerts: text lengths, urgency/severity/certainty, English and Spanish only."""
    out: list[Finding] = []
    languages: list[str] = []
    for i, info in enumerate(alert.info, 1):
        at = f"/alert/info[{i}]"
        lang = (info.language or "en-US").lower()
        languages.append(lang)
        if not lang.startswith(("en", "es")):  # IPAWS passes the block on to the other channels (EAS, feeds)
            out.append(_warn("wea.language", f"{at}/language", f"WEA carries English and Spanish only: the {lang!r} "
                             "block goes to the other channels, not to phones as WEA"))
        text = info.parameter_value("CMAMtext")
        if text is None:
            if info.headline is not None and len(info.headline) > WEA_TEXT_MAX:
                out.append(_err("wea.cmam-text-length", f"{at}/headline",
                                f"is {len(info.headline)} characters and no CMAMtext parameter is given; "
                                f"WEA text is at most {WEA_TEXT_MAX}"))
        elif len(text) > WEA_TEXT_MAX:
            out.append(_err("wea.cmam-text-length", f"{at}/parameter[CMAMtext]",
                            f"is {len(text)} characters; at most {WEA_TEXT_MAX}"))
        long_text = info.parameter_value("CMAMlongtext")
        if long_text is not None and len(long_text) > WEA_LONG_TEXT_MAX:
            out.append(_err("wea.cmam-long-text-length", f"{at}/parameter[CMAMlongtext]",
                            f"is {len(long_text)} characters; at most {WEA_LONG_TEXT_MAX}"))
        if wea_exemption(info, alert) is None:
            for name, allowed in (("urgency", WEA_URGENCY), ("severity", WEA_SEVERITY), ("certainty", WEA_CERTAINTY)):
                value = getattr(info, name)
                if value not in allowed:
                    out.append(_err(f"wea.{name}", f"{at}/{name}",
                                    f"{value!r} is not sent as WEA; use {' or '.join(sorted(allowed))}"))
    if alert.info and not any(lang.startswith("en") for lang in languages):
        out.append(_err("wea.english-required", "/alert/info", "WEA needs an English info block"))
    if len(languages) != len(set(languages)):
        out.append(_warn("wea.language-repeated", "/alert/info", "more than one info block in the same language"))
    return out


# --- authority ------------------------------------------------------------------------------------

def area_shapes(area: Area) -> list[BaseGeometry]:
    """The polygons and circles of an area as shapely geometries (lon, lat; WGS 84)."""
    shapes = [polygon_shape(p) for p in area.polygon] + [circle_shape(c) for c in area.circle]
    return [s for s in shapes if s is not None]


def check_authority(alert: Alert, authority: dict[str, Any]) -> list[Finding]:
    """Every area must lie inside the originator's authorised GeoJSON (Multi)Polygon (WGS 84)."""
    allowed = to_shape(authority).buffer(1e-9)
    out: list[Finding] = []
    for i, info in enumerate(alert.info, 1):
        for j, area in enumerate(info.area, 1):
            at = f"/alert/info[{i}]/area[{j}]"
            shapes = area_shapes(area)
            if not shapes:
                out.append(_warn("authority.unchecked", at, "has no polygon or circle, so it was not checked "
                                 "against the originator's authority"))
            elif not all(allowed.contains(s.buffer(0) if s.geom_type == "Polygon" else s) for s in shapes):
                out.append(_err("authority.area-outside", at,
                                f"{area.area_desc!r} lies (partly) outside the originator's authorised area"))
    return out


# --- entry points ---------------------------------------------------------------------------------

def validate_alert(alert: Alert, profiles: Sequence[str] = ("schema", "core"), *,
                   element: etree._Element | None = None, authority: dict[str, Any] | None = None) -> list[Finding]:
    """Findings for one alert under ``profiles`` (any of ``PROFILES``). ``element`` is the XML it was
    read from (the XSD checks that; otherwise the model's own XML); ``authority`` is needed for
    the authority profile."""
    unknown = set(profiles) - set(PROFILES)
    if unknown:
        raise ValueError(f"profile: unknown {', '.join(sorted(unknown))} (choose from {', '.join(PROFILES)})")
    out: list[Finding] = []
    if "schema" in profiles:
        out += check_schema(element if element is not None else alert_element(alert), alert.version)
    if "core" in profiles:
        out += check_core(alert)
    if "ipaws" in profiles or IPAWS_CODE in alert.code:  # a message declaring the profile is held to it
        out += check_ipaws(alert)
    if "wea" in profiles:
        out += check_wea(alert)
    if "authority" in profiles:
        if authority is None:
            raise ValueError("authority: the authority profile needs the originator's authorised polygon")
        out += check_authority(alert, authority)
    return out


def _is_feed(root: etree._Element) -> bool:
    from alerts.atom import is_feed
    return is_feed(root)


def validate_document(data: bytes, profiles: Sequence[str] = ("schema", "core"),
                      authority: dict[str, Any] | None = None) -> tuple[list[Alert], list[Finding]]:
    """Read and validate every CAP alert in a document (an alert, an EDXL-DE or other envelope, or an
    Atom/RSS index feed, whose entries are checked too). Unreadable documents (bad bytes, a DTD, a
    namespace that is not CAP) give one ``xml.*`` error finding instead of raising."""
    try:
        root = parse_xml(data)
        if _is_feed(root):  # an Atom/RSS index: its entries, and any alerts embedded in them
            from alerts.atom import read_index_root
            index = read_index_root(root)
            return [e.alert for e in index.entries if e.alert is not None], index.findings
        elements = alert_elements(root)
        if not elements:
            raise CapError("document: no CAP alert in it")
        alerts = [alert_from_element(el) for el in elements]
    except CapError as exc:
        code = "xml.doctype" if str(exc).startswith("DOCTYPE") else "xml.unreadable"
        return [], [_err(code, "/", str(exc))]
    findings: list[Finding] = []
    for n, (alert, el) in enumerate(zip(alerts, elements), 1):
        prefix = "" if len(alerts) == 1 else f"[alert {n}]"
        for f in validate_alert(alert, profiles, element=el, authority=authority):
            findings.append(Finding(f.code, f.level, prefix + f.path, f.message) if prefix else f)
    return alerts, findings


__all__ = ["Finding", "PROFILES", "NAMESPACES", "has_errors", "validate_alert", "validate_document"]
