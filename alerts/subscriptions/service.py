"""Decisions of the subscription domain: what an input means (or the 422 naming the field), tokens and codes,
masking, the Target other consumers see, and the journal envelope. No I/O here except the region lookup
handed in by the caller.

Geometry: WGS 84 degrees throughout; radii in metres; polygon areas measured geodesically (km²).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pyproj import Geod
from rapidfuzz import fuzz, process
from shapely.geometry import shape

from alerts.delivery.models import ChannelType, Contact, Target, TargetChannel
from alerts.subscriptions.models import (
    AdminItem,
    ChannelOut,
    StoredChannel,
    Subscription,
    SubscriptionOut,
)
from alerts.tiers import DEFAULT_TIERS, POLICY, Tier
from emergency.errors import ValidationFailed
from emergency.events import Envelope, Kind, Source
from emergency.geometry import check_area_geometry, check_lat_lon
from emergency.netguard import check_url_shape
from mapping.names import normalise
from mapping.regions import Region
from mapping.zones import expand_codes, find_zone, zone_geometry

MAX_RADIUS_M = 50_000.0
MAX_POLYGON_POSITIONS = 1000
MAX_POLYGON_KM2 = 10_000.0
CODE_DIGITS = 6
CODE_TTL = timedelta(hours=24)
MAX_CODE_ATTEMPTS = 5
CONFIRMED_BY_CODE = frozenset({ChannelType.email, ChannelType.sms})
SUBSCRIBABLE = (ChannelType.email, ChannelType.sms, ChannelType.webhook, ChannelType.mqtt, ChannelType.webpush)
TIER_ALIASES: dict[str, tuple[Tier, ...]] = {
    "imminent_threat": (Tier.imminent_threat_extreme, Tier.imminent_threat_severe),
    "amber": (Tier.child_abduction,),
    **{t.value: (t,) for t in Tier},
}
_BCP47 = re.compile(r"^(?P<lang>[A-Za-z]{2,3})(?:-(?P<script>[A-Za-z]{4}))?(?:-(?P<region>[A-Za-z]{2}|\d{3}))?"
                    r"(?P<rest>(?:-(?:[A-Za-z0-9]{5,8}|\d[A-Za-z0-9]{3}))*)$")
_CELL = re.compile(r"^[0-9a-z]{1,20}$")
_GEOD = Geod(ellps="WGS84")


# --- tokens, codes, signatures ------------------------------------------------------------------

def new_subscription_id() -> str:
    """A fresh, unguessable subscription id."""
    return "sub-" + secrets.token_hex(12)


def new_token() -> tuple[str, str]:
    """A management token and its SHA-256 hex hash (only the hash is stored)."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    """SHA-256 hex of a management token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(*, token: str | None, token_hash: str) -> bool:
    """Whether ``token`` is the one whose hash is ``token_hash`` (constant time)."""
    return token is not None and hmac.compare_digest(hash_token(token), token_hash)


def new_code() -> str:
    """A confirmation code of ``CODE_DIGITS`` digits."""
    return f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"


def unsubscribe_sig(*, key: bytes, subscription_id: str, channel_id: str) -> str:
    """HMAC-SHA256 (hex) of ``subscription_id|channel_id`` under the repository's key."""
    return hmac.new(key, f"{subscription_id}|{channel_id}".encode(), hashlib.sha256).hexdigest()


def sig_matches(*, key: bytes, subscription_id: str, channel_id: str, sig: str) -> bool:
    """Whether ``sig`` signs this channel's unsubscribe link (constant time)."""
    expected = unsubscribe_sig(key=key, subscription_id=subscription_id, channel_id=channel_id)
    return hmac.compare_digest(expected.encode(), sig.lower().encode("utf-8", "replace"))


def unsubscribe_url(*, public_url: str, key: bytes, subscription_id: str, channel_id: str) -> str:
    """The one-click unsubscribe link (RFC 8058) of one channel."""
    sig = unsubscribe_sig(key=key, subscription_id=subscription_id, channel_id=channel_id)
    return f"{public_url.rstrip('/')}/api/v1/subscriptions/{subscription_id}/unsubscribe/{channel_id}?sig={sig}"


# --- areas --------------------------------------------------------------------------------------

def parse_areas(raw: list[dict[str, Any]], *, region: Region | None, field: str = "areas") -> list[dict[str, Any]]:
    """Each area as stored (see the models' docstring); ValidationFailed naming ``areas[i].<part>``."""
    return [parse_area(area, region=region, field=f"{field}[{i}]") for i, area in enumerate(raw)]


def parse_area(area: dict[str, Any], *, region: Region | None, field: str) -> dict[str, Any]:
    """One area: a point + ``radius_m`` (metres), a drawn polygon, or a zone of the region."""
    kinds = [k for k in ("point", "polygon", "zone") if k in area]
    if len(kinds) != 1:
        raise ValidationFailed(field, "give exactly one of point (with radius_m), polygon or zone")
    extra = set(area) - {kinds[0]} - ({"radius_m"} if kinds[0] == "point" else set())
    if extra:
        raise ValidationFailed(f"{field}.{sorted(extra)[0]}", "unknown field")
    if kinds[0] == "point":
        return _point_area(area, field)
    if kinds[0] == "polygon":
        return _polygon_area(area["polygon"], f"{field}.polygon")
    return _zone_area(area["zone"], region, f"{field}.zone")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _point_area(area: dict[str, Any], field: str) -> dict[str, Any]:
    point = area["point"]
    if not isinstance(point, dict) or set(point) != {"lat", "lon"}:
        raise ValidationFailed(f"{field}.point", "must be {\"lat\": number, \"lon\": number} (WGS 84 degrees)")
    try:
        lat, lon = check_lat_lon(point["lat"], point["lon"])
    except ValueError as exc:
        name, _, reason = str(exc).partition(": ")
        raise ValidationFailed(f"{field}.point.{name}", reason) from None
    radius = area.get("radius_m")
    if not _number(radius) or not 0 < radius <= MAX_RADIUS_M:
        raise ValidationFailed(f"{field}.radius_m", f"must be a number of metres more than 0 and at most "
                                                    f"{MAX_RADIUS_M:,.0f}" + (f", got {radius:g}" if _number(radius)
                                                                               else ""))
    return {"type": "Point", "coordinates": [lon, lat], "radius_m": float(radius)}


def _positions(coords: Any) -> int:
    if isinstance(coords, list) and coords and _number(coords[0]):
        return 1
    return sum(_positions(c) for c in coords) if isinstance(coords, list) else 0


def _polygon_area(geom: Any, field: str) -> dict[str, Any]:
    if not isinstance(geom, dict) or geom.get("type") not in ("Polygon", "MultiPolygon"):
        raise ValidationFailed(field, "must be a GeoJSON Polygon or MultiPolygon")
    n = _positions(geom.get("coordinates"))
    if n > MAX_POLYGON_POSITIONS:
        raise ValidationFailed(field, f"has {n} positions; at most {MAX_POLYGON_POSITIONS}")
    try:
        checked = check_area_geometry({"type": geom["type"], "coordinates": geom.get("coordinates")})
    except ValueError as exc:
        raise ValidationFailed(field, str(exc)) from None
    km2 = abs(_GEOD.geometry_area_perimeter(shape(checked))[0]) / 1e6
    if km2 > MAX_POLYGON_KM2:
        raise ValidationFailed(field, f"covers {km2:,.0f} km²; a drawn area may cover at most {MAX_POLYGON_KM2:,.0f} "
                                      "km² (use a zone for a larger one)")
    return checked


def _zone_area(value: Any, region: Region | None, field: str) -> dict[str, Any]:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise ValidationFailed(field, "must be a zone code (UGC like ORZ111, or SAME) or a zone name")
    if region is None or not region.zones:
        raise ValidationFailed(field, "this server has no alerting zones (EMERGENCY_REGION_DIR)")
    text = value.strip()
    try:
        codes = expand_codes(text)
        for code in codes:
            find_zone(code, region)
        found = zone_geometry(text, region)
    except ValueError:
        found = _zone_by_name(text, region, field)
    geom = found["geometry"]
    return {"type": geom["type"], "coordinates": geom["coordinates"], "zone": ",".join(found["codes"]),
            "name": ", ".join(found["names"])}


def _zone_by_name(text: str, region: Region, field: str) -> dict[str, Any]:
    key = normalise(text)
    by_name = {normalise(z.name): z for z in sorted(region.zones.values(), key=lambda z: z.code)}
    zone = by_name.get(key)
    if zone is not None:
        return zone_geometry(zone.code, region)
    choices = {f"{z.name} ({z.code})": normalise(z.name) for z in region.zones.values()}
    choices.update({z.code: z.code.lower() for z in region.zones.values()})
    near = process.extract(key, choices, scorer=fuzz.WRatio, limit=5, score_cutoff=70)
    candidates = [label for _, _, label in near]
    raise ValidationFailed(field, f"not a zone code or zone name of {region.name}", candidates)


# --- channels -----------------------------------------------------------------------------------

def parse_channels(raw: list[dict[str, Any]], *, allow_hosts: Iterable[str], now: datetime,
                   existing: list[StoredChannel] = (), field: str = "channels"
                   ) -> tuple[list[StoredChannel], dict[str, str]]:
    """The channels as stored, with ids, and the webhook secrets generated (by channel id, shown once).

    A channel equal to one in ``existing`` (same type and contact) keeps its id and confirmation (a pending code
    that expired or ran out of attempts is renewed); a new email or sms channel gets a new code."""
    hosts = list(allow_hosts)
    parsed = [_parse_channel(ch, hosts, f"{field}[{i}]") for i, ch in enumerate(raw)]
    out: list[StoredChannel] = []
    generated: dict[str, str] = {}
    used = {c.channel_id for c in existing}
    taken_old: set[str] = set()
    for i, ch in enumerate(parsed):
        old = next((o for o in existing if o.channel_id not in taken_old and o.same_contact(ch)), None)
        if any(ch.same_contact(prev) for prev in out):
            raise ValidationFailed(f"{field}[{i}]", "the same channel is given twice")
        if old is not None:
            taken_old.add(old.channel_id)
            kept = old.model_copy(update={"secret": ch.secret or old.secret, "push": ch.push or old.push})
            if not kept.confirmed and (kept.code_expires_at is None or kept.code_expires_at <= now
                                       or kept.attempts >= MAX_CODE_ATTEMPTS):
                kept = kept.model_copy(update={"code": new_code(), "code_expires_at": now + CODE_TTL, "attempts": 0})
            out.append(kept)
            continue
        n = 0
        while f"{ch.channel.value}-{n}" in used:
            n += 1
        ch.channel_id = f"{ch.channel.value}-{n}"
        used.add(ch.channel_id)
        if ch.channel is ChannelType.webhook and ch.secret is None:
            ch.secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
            generated[ch.channel_id] = ch.secret
        if ch.channel in CONFIRMED_BY_CODE:
            ch.code, ch.code_expires_at = new_code(), now + CODE_TTL
        out.append(ch)
    return out, generated


def pick_channel(channels: list[StoredChannel], name: str) -> StoredChannel:
    """The channel a confirmation names: by id, else the (first unconfirmed) channel of that type."""
    by_id = next((c for c in channels if c.channel_id == name), None)
    if by_id is not None:
        return by_id
    of_type = [c for c in channels if c.channel.value == name]
    if not of_type:
        raise ValidationFailed("channel", "no such channel here", [c.channel_id for c in channels if not c.confirmed])
    return next((c for c in of_type if not c.confirmed), of_type[0])


def check_code_live(channel: StoredChannel, *, now: datetime) -> None:
    """ValidationFailed ``code`` when the channel's pending code has expired (or there is none)."""
    if channel.code is None or channel.code_expires_at is None or channel.code_expires_at <= now:
        raise ValidationFailed("code", "the code has expired; send the channel again (PATCH) for a new one")


def confirmed_by_code(channel: StoredChannel, *, code: str, attempts: int) -> StoredChannel:
    """The channel confirmed when ``code`` is its pending code (constant time) and at most ``MAX_CODE_ATTEMPTS``
    were tried (``attempts``, this one counted); ValidationFailed ``code`` otherwise."""
    if attempts > MAX_CODE_ATTEMPTS:
        raise ValidationFailed("code", f"{MAX_CODE_ATTEMPTS} wrong codes were tried; send the channel again (PATCH) "
                                       "for a new one")
    if not hmac.compare_digest(code.strip().encode(), (channel.code or "").encode()):
        left = MAX_CODE_ATTEMPTS - attempts
        raise ValidationFailed("code", f"not the code that was sent ({left} tries left)")
    return channel.model_copy(update={"confirmed": True, "code": None, "code_expires_at": None, "attempts": 0})


def _parse_channel(ch: dict[str, Any], hosts: list[str], field: str) -> StoredChannel:
    kind = ch.get("type") if isinstance(ch, dict) else None
    names = [t.value for t in SUBSCRIBABLE]
    if kind not in names:
        hint = "; websocket is a live session (/ws/alerts), not a subscription" if kind == "websocket" else ""
        raise ValidationFailed(f"{field}.type", f"must be one of {', '.join(names)}{hint}", names)
    channel = ChannelType(kind)
    allowed = {"email": {"address"}, "sms": {"number"}, "webhook": {"url", "secret"}, "mqtt": {"cell"},
               "webpush": {"subscription"}}[kind]
    extra = set(ch) - allowed - {"type"}
    if extra:
        raise ValidationFailed(f"{field}.{sorted(extra)[0]}", f"unknown field for a {kind} channel")
    base = {"channel_id": "", "channel": channel, "confirmed": channel not in CONFIRMED_BY_CODE}
    if channel is ChannelType.email:
        return StoredChannel(**base, address=_email(ch.get("address"), f"{field}.address"))
    if channel is ChannelType.sms:
        return StoredChannel(**base, number=_phone(ch.get("number"), f"{field}.number"))
    if channel is ChannelType.webhook:
        url = _url(ch.get("url"), f"{field}.url", hosts)
        return StoredChannel(**base, url=url, secret=_secret(ch.get("secret"), f"{field}.secret"))
    if channel is ChannelType.mqtt:
        cell = ch.get("cell")
        if cell is not None and (not isinstance(cell, str) or not _CELL.match(cell)):
            raise ValidationFailed(f"{field}.cell", "must be an H3 cell or geohash: 1 to 20 lower-case letters "
                                                    "and digits")
        return StoredChannel(**base, cell=cell)
    return StoredChannel(**base, push=_push(ch.get("subscription"), f"{field}.subscription", hosts))


def _email(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(field, "an email address is required")
    if len(value) > 254:
        raise ValidationFailed(field, "longer than 254 characters")
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValidationFailed(field, f"not a valid email address ({str(exc)[:120]})") from None


def _phone(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(field, "a phone number in E.164 form (+15035550100) is required")
    text = value.strip()
    if not re.fullmatch(r"\+[1-9]\d{6,14}", text):
        raise ValidationFailed(field, "must be in E.164 form: + then the country code and number, digits only")
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise ValidationFailed(field, "not a phone number") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationFailed(field, "not a valid phone number for its country code")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _url(value: Any, field: str, hosts: list[str], *, https_only: bool = False) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationFailed(field, "a URL is required")
    check_url_shape(value, field=field, allow_hosts=hosts)  # SSRF: scheme, credentials, literal/local hosts
    if https_only and urlsplit(value).scheme != "https":
        raise ValidationFailed(field, "must be an https URL")
    return value


def _secret(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationFailed(field, "must be a string")
    body = value.removeprefix("whsec_")
    try:
        raw = base64.b64decode(body + "==", validate=False)
        ok = bool(re.fullmatch(r"[A-Za-z0-9+/]+=*", body))
    except (binascii.Error, ValueError):
        ok = False
    if not ok or not 24 <= len(raw) <= 64:
        raise ValidationFailed(field, "must be a Standard Webhooks secret: optional whsec_ and then base64 of "
                                      "24 to 64 random bytes (leave it out and one is made for you)")
    return value


def _b64url(value: Any, field: str, length: int) -> bytes:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_-]+=*", value):
        raise ValidationFailed(field, "must be base64url text")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise ValidationFailed(field, "must be base64url text") from None
    if len(raw) != length:
        raise ValidationFailed(field, f"must encode {length} bytes, got {len(raw)}")
    return raw


def _push(value: Any, field: str, hosts: list[str]) -> dict[str, Any]:
    if not isinstance(value, dict) or not isinstance(value.get("keys"), dict):
        raise ValidationFailed(field, "must be a PushSubscription: {\"endpoint\", \"keys\": {\"p256dh\", \"auth\"}}")
    endpoint = _url(value.get("endpoint"), f"{field}.endpoint", hosts, https_only=True)
    keys = value["keys"]
    if _b64url(keys.get("p256dh"), f"{field}.keys.p256dh", 65)[0] != 4:
        raise ValidationFailed(f"{field}.keys.p256dh", "must be an uncompressed P-256 point (65 bytes, first 0x04)")
    _b64url(keys.get("auth"), f"{field}.keys.auth", 16)
    return {"endpoint": endpoint, "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]}}


# --- languages and tiers ----------------------------------------------------------------------

def bcp47_tag(tag: object) -> str | None:
    """A BCP 47 language tag case-normalised (``es-us`` -> ``es-US``, ``zh-hant-tw`` -> ``zh-Hant-TW``), or None
    when it is not one (language, optional script, region and variants; at most 35 characters)."""
    m = _BCP47.match(tag) if isinstance(tag, str) and len(tag) <= 35 else None
    if m is None:
        return None
    parts = [m["lang"].lower()]
    if m["script"]:
        parts.append(m["script"].title())
    if m["region"]:
        parts.append(m["region"].upper())
    return "-".join(parts) + m["rest"].lower()


def parse_languages(raw: list[str], *, field: str = "languages") -> list[str]:
    """BCP 47 tags in preference order, case-normalised (``es``, ``zh-Hant-TW``), each once."""
    out: list[str] = []
    for i, tag in enumerate(raw):
        normal = bcp47_tag(tag)
        if normal is None:
            raise ValidationFailed(f"{field}[{i}]", "not a BCP 47 language tag (like en, es, zh-Hant, pt-BR)")
        if normal not in out:
            out.append(normal)
    return out


def parse_tier_choice(raw: dict[str, bool], *, field: str = "tiers") -> list[Tier]:
    """The tiers taken, in delivery order: defaults (every tier but test), minus the opt-outs, plus the opt-ins.
    Presidential cannot be opted out of (ValidationFailed ``tiers.presidential``)."""
    taken = set(DEFAULT_TIERS)
    for name, wanted in raw.items():
        if name not in TIER_ALIASES:
            raise ValidationFailed(f"{field}.{name[:40]}", "unknown tier", sorted(TIER_ALIASES))
        if not isinstance(wanted, bool):
            raise ValidationFailed(f"{field}.{name}", "must be true (take) or false (opt out)")
        for tier in TIER_ALIASES[name]:
            if not wanted and not POLICY[tier].subscriber_may_opt_out:
                raise ValidationFailed(f"{field}.{name}", "presidential alerts cannot be opted out of (WEA)")
            (taken.add if wanted else taken.discard)(tier)
    return sorted(taken, key=lambda t: POLICY[t].rank)


# --- views of a subscription ------------------------------------------------------------------

def mask(channel: StoredChannel) -> str | None:
    """The channel's contact with most of it hidden: ``a***@example.org``, ``+1503*****00``, ``https://host/…``."""
    if channel.address:
        local, _, domain = channel.address.partition("@")
        return f"{local[:1]}***@{domain}"
    if channel.number:
        n = channel.number
        return n[:5] + "*" * max(0, len(n) - 7) + n[-2:]
    url = channel.url or (channel.push or {}).get("endpoint")
    if url:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname}/…"
    if channel.cell:
        return channel.cell[:3] + "…"
    return None


def pending(channels: list[StoredChannel]) -> list[str]:
    """Channel types still waiting for their code, each once, in channel order."""
    return list(dict.fromkeys(c.channel.value for c in channels if not c.confirmed))


def channel_out(channel: StoredChannel) -> ChannelOut:
    """A channel as answered: masked contact, state."""
    return ChannelOut(channel_id=channel.channel_id, type=channel.channel, confirmed=channel.confirmed,
                      stopped=channel.stopped, contact=mask(channel))


def subscription_out(sub: Subscription) -> dict[str, Any]:
    """The holder's view (masked contacts) as the fields of ``SubscriptionOut``."""
    return SubscriptionOut(id=sub.id, version=sub.version, areas=sub.areas, tiers=sub.tiers, languages=sub.languages,
                           channels=[channel_out(c) for c in sub.channels], pending_confirmation=pending(sub.channels),
                           created_at=sub.created_at, updated_at=sub.updated_at).model_dump()


def admin_item(sub: Subscription) -> AdminItem:
    """An admin's view: masked contacts, how many areas (no geometry)."""
    return AdminItem(id=sub.id, version=sub.version, areas=len(sub.areas), tiers=sub.tiers, languages=sub.languages,
                     channels=[channel_out(c) for c in sub.channels], created_at=sub.created_at,
                     updated_at=sub.updated_at)


def target_of(sub: Subscription) -> Target:
    """What the fan-out sees: areas, tiers, languages, channels (confirmation only; stopped numbers left out)."""
    if sub.deleted_at is not None:
        return Target(subscription_id=sub.id, version=sub.version, areas=[], tiers=[], languages=[], channels=[],
                      deleted=True)
    return Target(subscription_id=sub.id, version=sub.version, areas=sub.areas, tiers=sub.tiers,
                  languages=sub.languages,
                  channels=[TargetChannel(channel_id=c.channel_id, channel=c.channel, confirmed=c.confirmed)
                            for c in sub.channels if not c.stopped])


def contact_of(sub: Subscription, channel: StoredChannel, *, unsubscribe: str | None) -> Contact:
    """The contact a channel worker needs for one channel."""
    return Contact(subscription_id=sub.id, channel_id=channel.channel_id, channel=channel.channel,
                   address=channel.address, number=channel.number, url=channel.url, secret=channel.secret,
                   push=channel.push, cell=channel.cell, unsubscribe_url=unsubscribe)


def envelope_of(target: Target, *, now: datetime) -> Envelope:
    """The journal/topic envelope of one subscription change: the Target only (no contact, no code)."""
    return Envelope(id=f"subscription:{target.subscription_id}", kind=Kind.subscription,
                    source=Source(type="subscription", ref=target.subscription_id), observed_at=now, received_at=now,
                    attributes=target.model_dump(mode="json"))
