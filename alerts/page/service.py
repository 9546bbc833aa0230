"""Decisions behind the public alerts page: its strings per language, its config, places typed by a citizen,
and the public versions of an alert's thread. Geometries are GeoJSON, WGS 84 degrees ([lon, lat])."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from alerts.journal import ALERT_JOURNAL
from alerts.service import issued_alert
from alerts.tiers import Tier
from emergency.cop.features import to_feature
from emergency.errors import ValidationFailed
from emergency.i18n import FALLBACK, SUPPORTED, negotiate
from emergency.store.base import Store

STATIC_DIR = Path(__file__).resolve().parent / "static"
STRINGS_FILE = Path(__file__).resolve().parent / "strings.json"
PAGE_ASSETS = ("alerts.js", "alerts.css")

# What one version of a thread shows on the public page (a subset of the alert's public feature).
THREAD_FIELDS = ("cap_id", "msg_type", "sent", "expires", "headline", "instruction", "severity", "urgency",
                 "state", "cancelled_at")


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, str]]:
    """The page's strings ``{language: {key: text}}`` (``strings.json``; English holds every key)."""
    strings = json.loads(STRINGS_FILE.read_text(encoding="utf-8"))
    missing = {lang: sorted(set(strings[FALLBACK]) - set(strings.get(lang, {}))) for lang in SUPPORTED}
    if any(missing.values()):  # a missing translation would show English silently: refuse to start instead
        raise ValueError(f"alerts page strings: missing keys {missing}")
    return strings


def page_language(*, lang: str | None, accept_language: str | None) -> str:
    """The page's language: an explicit ``?lang=`` choice when we ship it, else the browser's preferences."""
    if lang:
        chosen = negotiate([lang])
        if chosen != lang.split("-", 1)[0].lower():
            raise ValidationFailed("lang", f"{lang!r} is not offered", candidates=list(SUPPORTED))
        return chosen
    return negotiate(accept_language)


def asset_version(name: str) -> str:
    """Twelve hex digits of the SHA-256 of one of the page's own static files (cache busting)."""
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]


def page_config(*, language: str, region: dict[str, Any], roads_url: str | None, static_url: str,
                map_static_url: str) -> dict[str, Any]:
    """What ``alerts.js`` needs: languages and strings, the map's start (``center`` [lat, lon], WGS 84), routes."""
    return {
        "lang": language, "supported": list(SUPPORTED), "strings": catalogue(),
        "region": region.get("name", ""), "center": region.get("center", [0.0, 0.0]),
        "zoom": int(region.get("zoom", 12)), "roads_url": roads_url,
        "tiers": [t.value for t in Tier],
        "ws_path": "/ws/alerts", "cop_ws_path": "/ws/cop", "geocode_path": "/api/v1/geocode", "vapid_path": "/api/v1/webpush/vapid",
        "subscriptions_path": "/api/v1/subscriptions", "thread_path": "/api/v1/alerts/{id}/thread",
        "sw_url": "/alerts/sw.js", "sw_scope": "/alerts",
        "assets": offline_assets(static_url=static_url, map_static_url=map_static_url, roads_url=roads_url),
    }


def offline_assets(*, static_url: str, map_static_url: str, roads_url: str | None) -> list[str]:
    """Every URL the page needs, as the service worker precaches them (the page itself first)."""
    own = [f"{static_url}/{name}?v={asset_version(name)}" for name in PAGE_ASSETS]
    leaflet = [f"{map_static_url}/vendor/leaflet/dist/{name}" for name in
               ("leaflet.js", "leaflet.css", "images/marker-icon.png", "images/marker-icon-2x.png",
                "images/marker-shadow.png")]
    return ["/alerts", *own, *leaflet, *([roads_url] if roads_url else [])]


async def public_thread(*, store: Store, alert_id: str) -> dict[str, Any]:
    """Every journaled version of an issued alert (Alert, Updates, Cancel), oldest first, public fields only."""
    versions = await store.repository(ALERT_JOURNAL).versions(alert_id)  # the journal: the projection may lag
    issued_alert(versions[-1] if versions else None, alert_id)
    out = []
    for version in versions:
        props = to_feature(version)["properties"]
        out.append({k: props.get(k) for k in THREAD_FIELDS}
                   | {"cap_id": props.get("cap_id") or alert_id, "received_at": props["received_at"]})
    return {"id": alert_id, "cap_url": f"/api/v1/alerts/{alert_id}.xml", "versions": out}
