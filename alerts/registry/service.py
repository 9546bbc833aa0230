"""Decisions of the vulnerable-persons registry: what a registration means (or the 422 naming the field), who an
alert covers, the tasking order, the check-in links and message, and the needs-help report. No I/O here.

Geometry: WGS 84 degrees; distances geodesic on the WGS 84 ellipsoid, in metres.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from alerts.delivery.fanout import choose_language
from alerts.delivery.models import ChannelType, Contact, Rendered
from alerts.registry.models import (
    NEED_PRIORITY,
    Caregiver,
    CaregiverIn,
    ConsentIn,
    ContactOut,
    LocationOut,
    Need,
    Outreach,
    Registrant,
    RegistrantOut,
    Status,
    TaskingItem,
)
from alerts.registry.texts import CATALOGUE
from alerts.service import translation_of
from alerts.subscriptions.models import StoredChannel
from alerts.subscriptions.service import _phone, parse_channels, parse_languages
from emergency.categories import ReportCategory
from emergency.errors import ValidationFailed
from emergency.events import GeoPrecision
from emergency.geocoding import Geocoder, no_match
from emergency.geometry import check_lat_lon
from emergency.i18n import negotiate, translate
from feeds.citizen.models import CitizenReportIn
from mapping.targeting import Area, Circle, TargetIndex, geodesic_distance_m

REGISTRY_CHANNELS = (ChannelType.email, ChannelType.sms)  # channels that reach a person directly
PERSON_PREFIX = "registrant"       # the delivery jobs' subscription id: "registrant:<id>"
CHECKIN_ANSWERS = {"safe": "safe", "help": "need_help"}
CAREGIVER_PREFIX = "cg"            # a caregiver's answer in a token: "cgsafe", "cghelp" (acting for the registrant)
CAREGIVER_CHANNEL = "caregiver"    # the channel id of a registrant's caregiver (their phone, sms)
CONFIRM_PREFIX = "cgconfirm:"      # a caregiver's confirmation request's ledger key: "cgconfirm:<registrant>:<version>"
CONFIRM_VALID = timedelta(days=30)  # how long a confirmation request is worth sending
CONFIRM_PRIORITY = 4               # a confirmation request waits behind every alert but a test (priority classes 0-5)
SOURCE_TYPE = "registry_checkin"   # the needs-help reports' source type in the picture
PUBLIC_DECIMALS = 3                # a registrant's point in a public report: 3 decimals (about 110 m), not the door
TASKING_ORDER = ("most urgent need first (" + ", ".join(n.value for n in NEED_PRIORITY) +
                 "), then distance from the alert area's centroid (metres)")


def new_registrant_id() -> str:
    """A fresh, unguessable registrant id."""
    return "reg-" + secrets.token_hex(10)


# --- a registration -----------------------------------------------------------------------------

def parse_needs(raw: list[str], *, field: str = "needs") -> list[Need]:
    """The needs, each once, in tasking priority order; ValidationFailed naming ``needs[i]`` with the candidates."""
    names = [n.value for n in NEED_PRIORITY]
    out: set[Need] = set()
    for i, value in enumerate(raw):
        if value not in names:
            raise ValidationFailed(f"{field}[{i}]", f"must be one of {', '.join(names)}", names)
        out.add(Need(value))
    return [n for n in NEED_PRIORITY if n in out]


def parse_language(*, language: str | None, needs: list[Need]) -> str | None:
    """The spoken language (BCP 47, normalised); required with the need ``language``."""
    if language is None:
        if Need.language in needs:
            raise ValidationFailed("language", "required with the need language: the language they speak (es, ko…)")
        return None
    return parse_languages([language], field="language")[0]


def parse_consent(consent: ConsentIn, *, now: datetime) -> datetime:
    """The date of the explicit consent; refused unless given, dated, and not in the future."""
    if consent.given is not True:
        raise ValidationFailed("consent.given", "must be true: nobody is registered without their (or their "
                                                "caregiver's) explicit consent")
    if consent.at.tzinfo is None:
        raise ValidationFailed("consent.at", "needs a UTC offset (2026-11-30T10:00:00Z)")
    if consent.at > now + timedelta(minutes=5):
        raise ValidationFailed("consent.at", "is in the future")
    return consent.at


def parse_channels_for_registry(raw: list[dict[str, Any]], *, now: datetime, field: str = "channels",
                                confirmed: bool = True,
                                existing: list[StoredChannel] = ()) -> list[StoredChannel]:
    """Email and sms channels, validated as subscriptions' are; taken as confirmed (an officer entered them with
    the person), so they carry no code. With ``confirmed`` False (self-registration) each new contact keeps the
    confirmation code subscriptions give it, and one equal to an ``existing`` channel keeps its state."""
    for i, ch in enumerate(raw):
        kind = ch.get("type") if isinstance(ch, dict) else None
        if kind not in [c.value for c in REGISTRY_CHANNELS]:
            names = [c.value for c in REGISTRY_CHANNELS]
            raise ValidationFailed(f"{field}[{i}].type", f"must be one of {', '.join(names)}", names)
    channels, _ = parse_channels(raw, allow_hosts=(), now=now, field=field, existing=existing)
    if not confirmed:
        return channels
    return [c.model_copy(update={"confirmed": True, "code": None, "code_expires_at": None}) for c in channels]


def parse_caregiver(caregiver: CaregiverIn | None) -> Caregiver | None:
    """The caregiver, with the phone number in E.164."""
    if caregiver is None:
        return None
    phone = _phone(caregiver.phone, "caregiver.phone") if caregiver.phone is not None else None
    language = parse_languages([caregiver.language], field="caregiver.language")[0] if caregiver.language else None
    return Caregiver(name=caregiver.name.strip(), phone=phone, relation=caregiver.relation, language=language)


def caregiver_confirm_key(*, registrant_id: str, version: int) -> str:
    """The ledger key of a caregiver's confirmation request: one per entry version, so a new caregiver phone
    (a new version) gets its own request instead of being taken for the one already sent to the old phone."""
    return f"{CONFIRM_PREFIX}{registrant_id}:{version}"


def caregiver_confirm_registrant(key: str) -> str:
    """The registrant id of a confirmation request's key (``cgconfirm:<id>`` before the version was added)."""
    return key.removeprefix(CONFIRM_PREFIX).partition(":")[0]


def status_of(channels: list[StoredChannel]) -> Status:
    """``active`` once every contact is confirmed (an officer's are at once, a self-registration's with their codes), ``pending_confirmation`` before."""
    return "active" if channels and all(c.confirmed for c in channels) else "pending_confirmation"


def activated(*, old: Registrant, update: dict[str, Any], now: datetime) -> dict[str, Any]:
    """``update`` with ``activated_at`` set the first time the entry is active (kept ever after; an entry stored
    active before the field existed counts as active since its last change)."""
    if old.activated_at is None and old.status == "active":
        return {**update, "activated_at": old.updated_at or old.created_at}
    if old.activated_at is None and update.get("status") == "active":
        return {**update, "activated_at": now}
    return update


def carried_caregiver(*, old: Caregiver | None, new: Caregiver | None) -> tuple[Caregiver | None, bool]:
    """The caregiver to store after a change, and whether their phone is to be asked to confirm: the same phone
    keeps its confirmation and its STOP (a changed name or relation asks nothing again); a new phone starts
    unconfirmed (the link sent to the old one no longer confirms it: it is bound to the phone)."""
    if new is None:
        return None, False
    if old is not None and old.phone == new.phone:
        return new.model_copy(update={"confirmed_at": old.confirmed_at, "stopped": old.stopped}), False
    return new, new.phone is not None


def locate(*, address: str | None, lat: float | None, lon: float | None,
           geocoder: Geocoder | None) -> LocationOut:
    """Where the registrant lives: lat/lon as given, else the address geocoded against the region to one point at
    street precision (an intersection); a whole street, a named place (a district, the city) or a zone is
    ambiguous for a responder: 422 naming ``address`` with what it matched as the candidate."""
    if (lat is None) != (lon is None):
        raise ValidationFailed("lon" if lon is None else "lat", "give lat and lon together (or an address)")
    if lat is not None and lon is not None:
        try:
            lat, lon = check_lat_lon(lat, lon)
        except ValueError as exc:
            name, _, reason = str(exc).partition(": ")
            raise ValidationFailed(name, reason) from None
        return LocationOut(label=(address or "").strip() or f"{lat:.5f}, {lon:.5f}", geo_precision=GeoPrecision.exact,
                           lat=lat, lon=lon)
    if not (address or "").strip():
        raise ValidationFailed("address", "give the address (an intersection or a place of the region), or lat and lon")
    if geocoder is None:
        raise ValidationFailed("address", "geocoding is unavailable on this server (no region loaded); give lat and lon")
    found = geocoder.locate(location_text=address, text=None)
    if found is None:
        raise ValidationFailed("address", no_match(geocoder))
    if found.geometry.get("type") != "Point" or found.geo_precision not in (GeoPrecision.exact, GeoPrecision.street):
        what = "a whole street" if found.geometry.get("type") != "Point" else f"a {found.geo_precision.value}"
        raise ValidationFailed("address", f"matched {found.label!r}, {what}, not one door: give the nearest "
                                          "intersection (\"SE Division St & SE 12th Ave\") or lat and lon",
                               [found.label])
    lon_, lat_ = found.geometry["coordinates"][:2]
    return LocationOut(label=found.label, geo_precision=found.geo_precision, lat=lat_, lon=lon_)


def contacts_of(reg: Registrant) -> list[ContactOut]:
    """The registrant's channels in full (for officers only)."""
    return [ContactOut(channel_id=c.channel_id, type=c.channel.value, contact=c.address or c.number or "")
            for c in reg.channels]


def registrant_out(reg: Registrant) -> RegistrantOut:
    """An officer's view of one registrant."""
    return RegistrantOut(id=reg.id, name=reg.name,
                         location=LocationOut(label=reg.location_label, geo_precision=reg.geo_precision, lat=reg.lat,
                                              lon=reg.lon),
                         needs=reg.needs, language=reg.language, channels=contacts_of(reg), caregiver=reg.caregiver,
                         consent_at=reg.consent_at, created_at=reg.created_at, source=reg.source, status=reg.status,
                         reviewed_at=reg.reviewed_at, version=reg.version)


# --- who an alert covers, and the tasking order --------------------------------------------------

def centroid(area: Area) -> tuple[float, float]:
    """(lat, lon) of an alert area's centre: a circle's centre, a polygon's centroid (planar lon/lat)."""
    if isinstance(area, Circle):
        return area.lat, area.lon
    c = area.centroid
    return c.y, c.x


def covered(*, area: Area, locations: list[tuple[str, float, float]]) -> list[tuple[str, float]]:
    """The registrants (id, lat, lon) inside ``area`` with their distance in metres from its centroid."""
    if not locations:
        return []
    index = TargetIndex()
    index.add_points([r for r, _, _ in locations], [lat for _, lat, _ in locations], [lon for _, _, lon in locations])
    where = {r: (lat, lon) for r, lat, lon in locations}
    clat, clon = centroid(area)
    return [(r, round(geodesic_distance_m(clat, clon, *where[r]), 1)) for r in index.query(area)]


def need_rank(needs: list[Need]) -> int:
    """The position of the most urgent need in ``NEED_PRIORITY`` (lower is more urgent)."""
    return min((NEED_PRIORITY.index(n) for n in needs), default=len(NEED_PRIORITY))


def tasking(*, rows: list[tuple[Outreach, Registrant]]) -> list[TaskingItem]:
    """The tasking list: most urgent need first, then nearest the alert area's centroid, then id."""
    ordered = sorted(rows, key=lambda pair: (need_rank(pair[1].needs), pair[0].distance_m, pair[1].id))
    return [TaskingItem(rank=i + 1, registrant_id=reg.id, name=reg.name, lat=reg.lat, lon=reg.lon,
                        location_label=reg.location_label, needs=reg.needs, top_need=reg.needs[0],
                        distance_m=o.distance_m, language=reg.language, contacts=contacts_of(reg),
                        caregiver=reg.caregiver, checkin=o.state, answered_at=o.answered_at,
                        answered_by=o.answered_by, report_id=o.report_id)
            for i, (o, reg) in enumerate(ordered)]


TASKING_COLUMNS = ("rank", "registrant_id", "name", "top_need", "needs", "distance_m", "lat", "lon",
                   "location_label", "language", "contacts", "caregiver", "checkin", "answered_at", "report_id")


def tasking_row(item: TaskingItem) -> list[str]:
    """One CSV row of the tasking list (columns ``TASKING_COLUMNS``)."""
    cg = item.caregiver
    return [str(item.rank), item.registrant_id, item.name, item.top_need.value, " ".join(n.value for n in item.needs),
            f"{item.distance_m:.0f}", f"{item.lat:.6f}", f"{item.lon:.6f}", item.location_label, item.language or "",
            " ".join(c.contact for c in item.contacts),
            "" if cg is None else " ".join(x for x in (cg.name, cg.phone or "", cg.relation or "") if x),
            item.checkin, item.answered_at.isoformat() if item.answered_at else "", item.report_id or ""]


# --- ids, check-in links and the message ---------------------------------------------------------

def outreach_id(*, alert_id: str, registrant_id: str) -> str:
    """The check-in of one registrant for one alert thread (stable: a re-run finds the same one)."""
    return "chk-" + hashlib.sha256(f"{alert_id}|{registrant_id}".encode()).hexdigest()[:24]


def notice_key(outreach: str) -> str:
    """The ledger ``alert_version`` of a check-in message."""
    return f"checkin:{outreach}"


def checkin_sig(*, key: bytes, outreach: str, answer: str) -> str:
    """HMAC-SHA256 (hex, 32 digits) of ``checkin|<outreach>|<answer>``."""
    return hmac.new(key, f"checkin|{outreach}|{answer}".encode(), hashlib.sha256).hexdigest()[:32]


def checkin_token(*, key: bytes, outreach: str, answer: str, caregiver: bool = False) -> str:
    """``<outreach>.<answer>.<sig>``: the capability in an "I am safe" / "I need help" link; a caregiver's link
    (acting for the registrant) carries ``cgsafe`` / ``cghelp``, signed as such."""
    answer = f"{CAREGIVER_PREFIX}{answer}" if caregiver else answer
    return f"{outreach}.{answer}.{checkin_sig(key=key, outreach=outreach, answer=answer)}"


def read_token(*, key: bytes, token: str) -> tuple[str, str, str]:
    """(outreach id, state, who answers: registrant or caregiver) a check-in token stands for; ValidationFailed
    (malformed) / PermissionError (bad signature)."""
    parts = token.split(".")
    answer = parts[1].removeprefix(CAREGIVER_PREFIX) if len(parts) == 3 else ""
    if len(parts) != 3 or answer not in CHECKIN_ANSWERS or not parts[0].startswith("chk-"):
        raise ValidationFailed("token", "not a check-in link (it looks like chk-….safe|help.<signature>)")
    outreach, signed, sig = parts
    expected = checkin_sig(key=key, outreach=outreach, answer=signed)
    if not hmac.compare_digest(expected.encode(), sig.lower().encode("utf-8", "replace")):
        raise PermissionError("token")
    return outreach, CHECKIN_ANSWERS[answer], "caregiver" if signed != answer else "registrant"


def checkin_url(*, base: str, token: str) -> str:
    """The link of one answer (GET: a page with one button; POST: the answer)."""
    return f"{base.rstrip('/')}/api/v1/registry/checkins/{token}"


def caregiver_sig(*, key: bytes, registrant_id: str, phone: str) -> str:
    """HMAC-SHA256 (hex, 32 digits) of ``caregiver|<registrant>|<phone>``: a new phone voids the old link."""
    return hmac.new(key, f"caregiver|{registrant_id}|{phone}".encode(), hashlib.sha256).hexdigest()[:32]


def caregiver_token(*, key: bytes, registrant_id: str, phone: str) -> str:
    """``<registrant id>.<sig>``: the capability in a caregiver's confirmation link."""
    return f"{registrant_id}.{caregiver_sig(key=key, registrant_id=registrant_id, phone=phone)}"


def caregiver_token_registrant(token: str) -> str:
    """The registrant id a confirmation token names; ValidationFailed ``token`` when it is not one."""
    rid, dot, sig = token.partition(".")
    if not dot or not rid.startswith("reg-") or not sig:
        raise ValidationFailed("token", "not a caregiver confirmation link (it looks like reg-….<signature>)")
    return rid


def caregiver_token_valid(*, key: bytes, token: str, reg: Registrant) -> bool:
    """Whether ``token`` confirms the current caregiver phone of ``reg``."""
    cg = reg.caregiver
    if cg is None or cg.phone is None:
        return False
    expected = caregiver_token(key=key, registrant_id=reg.id, phone=cg.phone)
    return hmac.compare_digest(expected.encode(), token.lower().encode("utf-8", "replace"))


def caregiver_url(*, base: str, token: str) -> str:
    """The caregiver's confirmation link (GET: a page with one button; POST: the confirmation)."""
    return f"{base.rstrip('/')}/api/v1/registry/caregivers/{token}"


def caregiver_language(reg: Registrant) -> str:
    """The language of the caregiver's messages and pages: their own, else the registrant's, else English."""
    return message_language(reg.caregiver.language if reg.caregiver else None, reg.language)


def confirmation_message(*, reg: Registrant, url: str) -> Rendered:
    """The text asking the caregiver to confirm their phone, in their language (it names nobody: the phone may
    be a wrong number)."""
    lang = caregiver_language(reg)
    long = translate(CATALOGUE, "confirm_long", lang, url=url)
    return Rendered(headline=translate(CATALOGUE, "confirm_subject", lang), description=None, instruction=None,
                    wea_short=long[:90], wea_long=long, cap_xml="", geojson={}, link=url)


def message_language(*wanted: str | None) -> str:
    """The language of a registry message or page: the first of ``wanted`` (BCP 47) the catalogue ships, else
    English (``emergency.i18n.negotiate``)."""
    return negotiate([w for w in wanted if w])


def alert_headline(*, attributes: dict[str, Any], languages: list[str], wanted: list[str | None]) -> str | None:
    """The alert's headline in the info block the fan-out would choose for someone reading ``wanted`` (the
    alert's translation for that language, ``alerts.delivery.fanout.choose_language``), else the first block's."""
    block = choose_language(wanted=[w for w in wanted if w], available=languages)
    return translation_of(attributes, block).get("headline")


def outreach_for(*, event: Any, version: str, languages: list[str], reg: Registrant, distance_m: float,
                 now: datetime, due: datetime) -> Outreach:
    """The check-in of ``reg`` for an issued alert version (an ``Envelope``): the message language of the
    registrant and of their caregiver (who reads the registrant's language unless they gave their own), and the
    alert's headline in each."""
    a = event.attributes
    cg_lang = (reg.caregiver.language if reg.caregiver else None) or reg.language
    lang, caregiver_lang = message_language(reg.language), message_language(cg_lang)
    fallback = a.get("headline") or event.text or event.id
    headline = alert_headline(attributes=a, languages=languages, wanted=[reg.language, lang]) or fallback
    cg_headline = alert_headline(attributes=a, languages=languages, wanted=[cg_lang, caregiver_lang]) or fallback
    return Outreach(id=outreach_id(alert_id=event.id, registrant_id=reg.id), alert_id=event.id, alert_version=version,
                    registrant_id=reg.id, headline=headline, distance_m=distance_m, created_at=now, due_at=due,
                    language=lang, caregiver_language=caregiver_lang, caregiver_headline=cg_headline)


def caregiver_reachable(reg: Registrant) -> bool:
    """Whether the registrant's caregiver gets check-in messages: a phone that was confirmed and did not STOP."""
    cg = reg.caregiver
    return cg is not None and cg.phone is not None and cg.confirmed_at is not None and not cg.stopped


def page_language(*, outreach: Outreach, by: str) -> str:
    """The language of the page a check-in link opens: the registrant's, or their caregiver's for theirs."""
    return outreach.caregiver_language if by == "caregiver" else outreach.language


def _one_line(text: str, limit: int) -> str:
    return " ".join(text.split())[:limit]


def checkin_message(*, outreach: Outreach, safe_url: str, help_url: str, minutes: int) -> Rendered:
    """The accessible check-in message in the registrant's language (``outreach.language``): plain language,
    short sentences, the two links, what happens next."""
    lang, headline = outreach.language, _one_line(outreach.headline, 80)
    short = translate(CATALOGUE, "short", lang, headline=headline)[:90]
    long = translate(CATALOGUE, "long", lang, headline=headline, safe=safe_url, help=help_url, minutes=minutes)
    return Rendered(headline=translate(CATALOGUE, "subject", lang), description=None,
                    instruction=translate(CATALOGUE, "instruction", lang), wea_short=short, wea_long=long,
                    cap_xml="", geojson={}, link=safe_url)


def caregiver_message(*, outreach: Outreach, registrant_name: str, safe_url: str, help_url: str,
                      minutes: int) -> Rendered:
    """The check-in message to the registrant's caregiver, in the caregiver's language, with links that answer
    for the registrant (the registrant is named by their first name only)."""
    lang, headline = outreach.caregiver_language, _one_line(outreach.caregiver_headline or outreach.headline, 80)
    name = (registrant_name.split() or ["?"])[0][:40]
    short = translate(CATALOGUE, "cg_short", lang, name=name, headline=headline)[:90]
    long = translate(CATALOGUE, "cg_long", lang, name=name, headline=headline, safe=safe_url, help=help_url,
                     minutes=minutes)
    return Rendered(headline=translate(CATALOGUE, "cg_subject", lang, name=name), description=None,
                    instruction=translate(CATALOGUE, "cg_instruction", lang), wea_short=short, wea_long=long,
                    cap_xml="", geojson={}, link=safe_url)


def contact_of(reg: Registrant, channel_id: str) -> Contact | None:
    """The contact a channel worker needs for one of the registrant's channels, or their caregiver's phone
    (``CAREGIVER_CHANNEL``); None when gone or stopped (no unsubscribe link: a registrant leaves by asking an
    officer)."""
    person = f"{PERSON_PREFIX}:{reg.id}"
    if channel_id == CAREGIVER_CHANNEL:
        cg = reg.caregiver
        if cg is None or cg.phone is None or cg.stopped:
            return None
        return Contact(subscription_id=person, channel_id=CAREGIVER_CHANNEL, channel=ChannelType.sms, number=cg.phone)
    channel = next((c for c in reg.channels if c.channel_id == channel_id), None)
    if channel is None or channel.stopped:
        return None
    return Contact(subscription_id=person, channel_id=channel.channel_id, channel=channel.channel,
                   address=channel.address, number=channel.number)


def has_number(reg: Registrant, number: str) -> bool:
    """Whether ``number`` (E.164) is one of the registrant's sms channels or their caregiver's phone."""
    return any(c.channel is ChannelType.sms and c.number == number for c in reg.channels) or \
        (reg.caregiver is not None and reg.caregiver.phone == number)


def with_opt_out(reg: Registrant, *, number: str, stopped: bool) -> Registrant:
    """The registrant with every sms channel on ``number``, and their caregiver's phone if it is that number,
    STOPped (``stopped``) or started again."""
    channels = [c.model_copy(update={"stopped": stopped}) if c.channel is ChannelType.sms and c.number == number
                else c for c in reg.channels]
    cg = reg.caregiver
    if cg is not None and cg.phone == number:
        cg = cg.model_copy(update={"stopped": stopped})
    return reg.model_copy(update={"channels": channels, "caregiver": cg})


def needs_help_report(*, reg: Registrant, outreach: Outreach, silent: bool) -> CitizenReportIn:
    """The public needs-help report: the category, the point rounded to ``PUBLIC_DECIMALS``, a text without the
    name, the needs or any contact."""
    why = ("did not answer the check-in in time" if silent else "answered the check-in: I need help")
    return CitizenReportIn(category=ReportCategory.needs_help, lat=round(reg.lat, PUBLIC_DECIMALS),
                           lon=round(reg.lon, PUBLIC_DECIMALS),
                           text=f"A person on the vulnerable-persons registry {why} (alert {outreach.alert_id}).")


def report_event_id(outreach: str) -> str:
    """The needs-help report's event id: one per check-in, so every path that opens it opens the same one."""
    return f"citizen:{SOURCE_TYPE}:{outreach}"
