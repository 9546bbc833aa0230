"""The decisions about issuing alerts: who may issue which tier where, what an alert request becomes on
alerts.issued (and its Update/Cancel), and which CAP findings refuse it. Refusals are
``emergency.errors`` domain errors naming the request field; ``alerts.flows`` strings these together."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from alerts.cap.build import cap_date, envelope_to_cap, sender_id
from alerts.cap.model import Alert
from alerts.cap.validate import WEA_TEXT_MAX, Finding, validate_alert
from alerts.models import AlertIn, TranslationIn
from alerts.subscriptions.service import bcp47_tag
from alerts.tiers import POLICY, Tier, choose_same_code, may_issue
from emergency.auth.models import TokenRecord
from emergency.auth.tokens import NATIONWIDE_ROLE
from emergency.errors import Forbidden, NotFound, ValidationFailed
from emergency.events import Envelope, GeoPrecision, Kind, Source
from emergency.geometry import as_geojson, circle_polygon, to_shape

# Profiles every alert this system issues must pass (the IPAWS profile too: the CAP we write declares it).
ISSUE_PROFILES = ("schema", "core", "wea")
# Which request field a finding about the CAP we would write comes from.
_FIELD_OF = (("CMAMlongtext", "wea_long_text"), ("CMAMtext", "wea_text"), ("/headline", "headline"),
             ("/expires", "expires"), ("/area", "area"), ("/description", "description"),
             ("/instruction", "instruction"), ("/event", "event"), ("/eventCode", "same_code"))


def sender_of(*, principal: TokenRecord) -> str:
    """The originator name an alert from ``principal`` is sent under (its agency, else its name)."""
    return principal.agency or principal.name


def authorise_tier(*, principal: TokenRecord, tier: Tier) -> None:
    """Refuse (403 ``tier``) a tier the principal's roles may not issue."""
    if not may_issue(tier, set(principal.roles)):
        raise Forbidden("tier", f"this token may not issue {tier.value} alerts")


def authorised_area(*, principal: TokenRecord) -> dict[str, Any] | None:
    """The GeoJSON (Multi)Polygon (WGS 84) the principal may alert inside; None only for a national authority
    token without a jurisdiction (nationwide). Any other token without one is refused (403 ``area``)."""
    if principal.jurisdiction is not None:
        return principal.jurisdiction
    if NATIONWIDE_ROLE.value in principal.roles:
        return None
    raise Forbidden("area", "this token has no authorised area (jurisdiction), so it may not issue alerts "
                            "anywhere; an admin must give it one")


def check_expires(*, alert: AlertIn, now: datetime) -> None:
    """Refuse (422 ``expires``) an alert that has already expired."""
    if alert.expires <= now:
        raise ValidationFailed("expires", "must be in the future")


_INFO_INDEX = re.compile(r"^/alert/info\[(\d+)\]")


def finding_field(finding: Finding, languages: Sequence[str] = ()) -> str:
    """The request field a finding is about (``wea_text``; ``translations.es-US.wea_text`` for a finding about
    the info block of a translation, ``languages`` being the CAP info languages in order), else its CAP path."""
    field = next((name for marker, name in _FIELD_OF if marker in finding.path), finding.path)
    m = _INFO_INDEX.match(finding.path)
    if m and 1 < int(m[1]) <= len(languages) and field != finding.path:
        return f"translations.{languages[int(m[1]) - 1]}.{field}"
    return field


def refuse(findings: Sequence[Finding], languages: Sequence[str] = ()) -> None:
    """Raise for the first error finding, naming the request field (or CAP element) it is about: 403 for an
    area outside the originator's authority, 422 otherwise."""
    errors = [f for f in findings if f.level == "error"]
    if not errors:
        return
    first = errors[0]
    field = finding_field(first, languages)
    if first.code.startswith("authority."):
        raise Forbidden(field, f"{first.message} ({first.code})")
    raise ValidationFailed(field, f"{first.message} ({first.code})")


def validated_cap(*, event: Envelope, principal: TokenRecord) -> Alert:
    """The CAP message of ``event`` after the validator (schema, core, WEA, and the principal's authorised
    area) found no error in it; refused otherwise."""
    cap = envelope_to_cap(event)
    refuse(cap_findings(cap=cap, principal=principal), [i.language or "" for i in cap.info])
    return cap


def cap_findings(*, cap: Alert, principal: TokenRecord) -> list[Finding]:
    """Every finding of the validator on a CAP message this system would publish for ``principal`` (schema,
    core, IPAWS, WEA, the principal's authorised area), plus a warning when a 360-character WEA text has no
    Spanish info block (WEA sends 360-character messages in English and Spanish)."""
    area = authorised_area(principal=principal)
    findings = validate_alert(cap, ISSUE_PROFILES + (("authority",) if area is not None else ()), authority=area)
    has_long = any(i.parameter_value("CMAMlongtext") for i in cap.info)
    if has_long and not any((i.language or "").lower().startswith("es") for i in cap.info):
        findings.append(Finding("wea.spanish-missing", "warning", "/alert/info",
                                "a 360-character WEA message has no Spanish info block: give translations.es-US"))
    return findings


def prepare_alert(*, principal: TokenRecord, alert: AlertIn, event_id: str, now: datetime) -> tuple[Envelope, Alert]:
    """The envelope and CAP message of a new alert from ``principal``, after every check (tier, expiry,
    SAME code, CAP validity, authorised area); refused otherwise."""
    authorise_tier(principal=principal, tier=alert.tier)
    check_expires(alert=alert, now=now)
    event = alert_event(alert, event_id=event_id, sender=sender_of(principal=principal), now=now)
    return event, validated_cap(event=event, principal=principal)


def issued_alert(event: Envelope | None, alert_id: str) -> Envelope:
    """``event`` when it is an issued alert; 404 ``alert_id`` otherwise."""
    if event is None or event.kind is not Kind.alert or "tier" not in event.attributes:
        raise NotFound("alert_id", f"no issued alert {alert_id!r}")
    return event


def authorise_change(*, principal: TokenRecord, original: Envelope) -> None:
    """Refuse (403) an Update/Cancel by anyone but the alert's sender, or by a token that may not issue its tier."""
    sender = original.attributes["sender"]
    if sender != sender_of(principal=principal):
        raise Forbidden("alert_id", f"only {sender} may update or cancel {original.id!r}")
    authorise_tier(principal=principal, tier=Tier(original.attributes["tier"]))


def check_same_tier(*, original: Envelope, alert: AlertIn) -> None:
    """Refuse (422 ``tier``) an Update that changes the alert's tier."""
    if alert.tier.value != original.attributes["tier"]:
        raise ValidationFailed("tier", f"an update keeps the tier of the alert ({original.attributes['tier']})")


def alert_event(alert: AlertIn, *, event_id: str, sender: str, now: datetime) -> Envelope:
    """The alert envelope: geometry is the area as a WGS 84 polygon (circles expanded, 64 sides). The SAME
    code follows the event (or the sender's ``same_code``); refused (422) when that code is unknown or
    reserved to another tier."""
    policy = POLICY[alert.tier]
    event = alert.event or policy.default_event
    area = alert.area
    if area.circle is not None:
        geometry = circle_polygon(area.circle.lat, area.circle.lon, area.circle.radius_km)
    else:
        geometry = area.polygon
    attributes = {
        "tier": alert.tier.value,
        "rank": policy.rank,
        "headline": alert.headline,
        "description": alert.description,
        "instruction": alert.instruction,
        "event": event,
        "same_code": choose_same_code(alert.tier, event, alert.same_code),
        "severity": policy.severity,
        "urgency": policy.urgency,
        "certainty": policy.certainty,
        "status": policy.status,
        "msg_type": "Alert",
        "sender": sender,
        "sent": now.isoformat(),
        "expires": alert.expires.isoformat(),
        "area_desc": area.description,
        "circle": area.circle.model_dump() if area.circle else None,
        "wea_text": alert.wea_text,
        "wea_long_text": alert.wea_long_text,
        **alert_languages_of(alert),
    }
    return Envelope(
        id=event_id, kind=Kind.alert, source=Source(type="alert_originator", ref=sender),
        observed_at=now, received_at=now, category=alert.tier.value, text=alert.headline,
        geometry=geometry, location_text=area.description, geo_precision=GeoPrecision.region,
        confidence=1.0, attributes=attributes,
    )


DEFAULT_LANGUAGE = "en-US"


def alert_languages_of(alert: AlertIn) -> dict[str, Any]:
    """The ``language`` (of the first info block), ``languages`` (every block's, first first) and ``translations``
    attributes of an alert; 422 naming ``language`` or ``translations.<tag>`` for a tag that is not BCP 47 or
    a second block in the same language."""
    language = DEFAULT_LANGUAGE if alert.language is None else bcp47_tag(alert.language)
    if language is None:
        raise ValidationFailed("language", f"{alert.language!r} is not a BCP 47 language tag (like en-US, es-US)")
    translations: dict[str, dict[str, Any]] = {}
    for tag, text in alert.translations.items():
        normal = bcp47_tag(tag)
        if normal is None:
            raise ValidationFailed(f"translations.{tag}", "not a BCP 47 language tag (like es-US, ko, zh-Hant)")
        if normal.lower() == language.lower() or normal in translations:
            raise ValidationFailed(f"translations.{tag}", f"a second block in {normal}: give each language once "
                                   f"(the first block is {language})")
        translations[normal] = text.model_dump(exclude_none=True)
    return {"language": language, "languages": [language, *translations], "translations": translations}


def translation_of(attributes: dict[str, Any], language: str | None) -> dict[str, Any]:
    """The texts of one info block of an alert version (headline, description, instruction, wea_text,
    wea_long_text): a translation's, or the first block's for None or the first language."""
    translations = attributes.get("translations") or {}
    if language is not None and language in translations:
        return TranslationIn.model_validate(translations[language]).model_dump()
    return {k: attributes.get(k) for k in ("headline", "description", "instruction", "wea_text", "wea_long_text")}


# --- Update and Cancel of an issued alert ----------------------------------------------------------
# An alert thread is one envelope id; each Update/Cancel is a new version of it (the picture keeps the
# latest) with its own CAP identifier. ``attributes["thread"]`` lists every CAP message of the thread
# ({"id", "sent", "expires"}), so references can be computed from the store alone.

CANCEL_VISIBLE = timedelta(minutes=10)  # a Cancel stays active this long so subscribers and feeds get it


def thread_of(event: Envelope) -> list[dict[str, str]]:
    """The CAP messages of an alert's thread, oldest first (an original alert is a thread of one)."""
    a = event.attributes
    return a.get("thread") or [{"id": event.id, "sent": a["sent"], "expires": a["expires"]}]


def _next_version(original: Envelope, attributes: dict[str, Any], geometry: dict[str, Any] | None,
                  msg_type: str, now: datetime) -> Envelope:
    thread = thread_of(original)
    cap_id = f"{original.id}:{len(thread)}"
    sender = sender_id(original.attributes["sender"])
    live = [m for m in thread if datetime.fromisoformat(m["expires"]) > now]  # IPAWS: every non-expired one
    references = " ".join(f"{sender},{m['id']},{cap_date(m['sent'])}" for m in live) or None
    attributes = {**attributes, "msg_type": msg_type, "sent": now.isoformat(), "cap_id": cap_id,
                  "references": references,
                  "thread": [*thread, {"id": cap_id, "sent": now.isoformat(), "expires": attributes["expires"]}]}
    return original.model_copy(update={"attributes": attributes, "geometry": geometry, "observed_at": now,
                                       "received_at": now, "text": attributes["headline"]})


def update_event(original: Envelope, alert: AlertIn, *, now: datetime) -> Envelope:
    """The Update of an issued alert: new content and area. Its delivery geometry is the union of the
    area reached so far and the new area, so everyone the earlier messages reached gets the update;
    the CAP message carries the new area (``cap_area``)."""
    fresh = alert_event(alert, event_id=original.id, sender=original.attributes["sender"], now=now)
    reach = to_shape(original.geometry).union(to_shape(fresh.geometry)) if original.geometry else None
    attributes = {**fresh.attributes, "cap_area": fresh.geometry}
    return _next_version(original, attributes, as_geojson(reach) if reach is not None else fresh.geometry,
                         "Update", now)


def cancel_event(original: Envelope, *, note: str | None, now: datetime) -> Envelope:
    """The Cancel of an issued alert, to the same area; it stays active for ``CANCEL_VISIBLE`` (never
    past the alert's own expiry) so it is pushed and listed, then the thread drops out of the picture."""
    a = original.attributes
    expires = min(datetime.fromisoformat(a["expires"]), now + CANCEL_VISIBLE)
    attributes = {**a, "headline": f"CANCELLED: {a['headline']}"[:140], "description": note or a.get("description"),
                  "instruction": "The alert is cancelled; no further action is needed.",
                  "expires": expires.isoformat(), "response_type": "AllClear", "wea_long_text": None,
                  "wea_text": _cancel_wea_text(a),
                  "translations": {tag: _cancel_translation(t, tag, note, a) for tag, t in
                                   (a.get("translations") or {}).items()}}
    return _next_version(original, attributes, original.geometry, "Cancel", now)


def _cancel_wea_text(a: dict[str, Any], prefix: str = "CANCELLED") -> str:
    text = f"{prefix}: {a.get('wea_text') or a['headline']}"
    return text if len(text) <= WEA_TEXT_MAX else f"{prefix}: {a['event']}"[:WEA_TEXT_MAX]


# The Cancel's texts in the languages this system ships (emergency.i18n.SUPPORTED); others get the English ones.
_CANCELLED = {"en": ("CANCELLED", "The alert is cancelled; no further action is needed."),
              "es": ("CANCELADA", "La alerta está cancelada; no hace falta hacer nada más."),
              "ko": ("취소됨", "경보가 취소되었습니다. 더 이상 조치할 필요가 없습니다.")}


def _cancel_translation(t: dict[str, Any], tag: str, note: str | None, a: dict[str, Any]) -> dict[str, Any]:
    prefix, instruction = _CANCELLED.get(tag.split("-")[0].lower(), _CANCELLED["en"])
    return {"headline": f"{prefix}: {t['headline']}"[:140], "description": note or t.get("description"),
            "instruction": instruction, "wea_text": _cancel_wea_text({**t, "event": a["event"]}, prefix)}
