"""The report page and tracking page as HTML, and the service worker with its precache manifest.

Both pages are one HTML shell (``static/page.html``) filled with a JSON config: the language the server negotiated
(``emergency.i18n``), the whole catalogue (``messages.json``: en, es, ko, so the page's language switch works
offline), the categories and the region's map view. Map coordinates are WGS 84 degrees ([lat, lon] for Leaflet).
"""

from __future__ import annotations

import hashlib
import html
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from emergency.categories import ReportCategory
from emergency.cop.incidents.models import FAMILY
from emergency.i18n import SUPPORTED, translate

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
STATIC_URL = "/static/report"
MAP_STATIC_URL = "/static/map"  # the live map's vendored Leaflet (mapping/live_map/static/vendor)
MAP_STATIC_DIR = HERE.parents[2] / "mapping" / "live_map" / "static"
WORKER_URL = "/report-sw.js"
WORKER_SCOPE = "/r"  # "/report" and "/r/{id}" both start with it
NEARBY_RADIUS_M = 100
NEARBY_HOURS = 2

ICONS: dict[ReportCategory, str] = {  # Lucide icons (ISC), vendored from npm (feeds.citizen.page.vendoring)
    ReportCategory.blocked_road: "construction", ReportCategory.spot_fire: "flame", ReportCategory.smoke: "cloud-fog",
    ReportCategory.flooding: "waves", ReportCategory.damage: "triangle-alert", ReportCategory.needs_help: "life-buoy",
    ReportCategory.other: "circle-question-mark",
}
ICON_DIR = STATIC_DIR / "vendor" / "lucide" / "icons"
SVG_NS = "http://www.w3.org/2000/svg"  # a namespace name, never fetched; left out of the page's HTML


@lru_cache(maxsize=16)
def icon_svg(name: str) -> str:
    """The markup of a vendored icon, inlined into the page's config (no request, so it works offline and takes
    the button's colour through ``currentColor``); the file's licence comment is left out (the licence is
    ``vendor/lucide/LICENSE``)."""
    text = (ICON_DIR / f"{name}.svg").read_text(encoding="utf-8")
    return " ".join(text[text.index("<svg"):].split()).replace(f' xmlns="{SVG_NS}"', "")  # the page adds it back


#: Files the page needs, relative to their static root, precached by the service worker (url -> file).
OWN_ASSETS = ("common.js", "report.js", "report.css", "track.js", "vendor/idb/build/umd.js", "vendor/exifr/dist/lite.umd.js")
MAP_ASSETS = ("vendor/leaflet/dist/leaflet.js", "vendor/leaflet/dist/leaflet.css",
              "vendor/leaflet/dist/images/marker-icon.png", "vendor/leaflet/dist/images/marker-icon-2x.png",
              "vendor/leaflet/dist/images/marker-shadow.png")


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, str]]:
    """The pages' strings ``{language: {key: text}}`` (``messages.json``; English is every key's fallback)."""
    return json.loads((HERE / "messages.json").read_text(encoding="utf-8"))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def asset_files() -> dict[str, Path]:
    """Every static file the pages load: URL path -> file on disk."""
    out = {f"{STATIC_URL}/{rel}": STATIC_DIR / rel for rel in OWN_ASSETS}
    out.update({f"{MAP_STATIC_URL}/{rel}": MAP_STATIC_DIR / rel for rel in MAP_ASSETS})
    return out


def page_config(*, settings: Any, region: dict[str, Any], page: str, language: str,
                report_id: str | None = None) -> dict[str, Any]:
    """What the page script needs (no personal data): language, catalogue, categories, map view (``region``:
    its ``region.json``), URLs."""
    return {
        "page": page, "lang": language, "languages": list(SUPPORTED), "messages": catalogue(),
        "categories": [{"value": c.value, "icon": icon_svg(ICONS[c]), "family": FAMILY.get(c.value, c.value)}
                       for c in ReportCategory],
        "center": region.get("center", [0.0, 0.0]), "zoom": int(region.get("zoom", 12)),
        "roads_url": "/region/roads.geojson" if (settings.region_dir / "roads.geojson").exists() else None,
        "tile_url": settings.tile_url or None, "tile_attribution": settings.tile_attribution or None,
        "worker_url": WORKER_URL, "worker_scope": WORKER_SCOPE,
        "nearby_radius_m": NEARBY_RADIUS_M, "nearby_hours": NEARBY_HOURS, "report_id": report_id,
    }


def render_page(*, settings: Any, region: dict[str, Any], page: str, language: str, report_id: str | None = None) -> str:
    """The HTML of ``page`` ("report" or "track") in ``language``; the script does the rest."""
    config = page_config(settings=settings, region=region, page=page, language=language, report_id=report_id)
    shell = (STATIC_DIR / "page.html").read_text(encoding="utf-8")
    key = "title" if page == "report" else "track_title"
    script = f"{STATIC_URL}/{'report.js' if page == 'report' else 'track.js'}"
    return (shell.replace("{{lang}}", language)
            .replace("{{title}}", html.escape(translate(catalogue(), key, language)))
            .replace("{{static}}", STATIC_URL).replace("{{map_static}}", MAP_STATIC_URL)
            .replace("{{script}}", script)
            .replace("{{config}}", json.dumps(config, ensure_ascii=False).replace("</", "<\\/")))


def page_revision(*, settings: Any, region: dict[str, Any]) -> str:
    """A digest of what the report page's HTML is made of (shell, catalogue, region view), language aside."""
    config = page_config(settings=settings, region=region, page="report", language="en")
    body = (STATIC_DIR / "page.html").read_bytes() + json.dumps(config, sort_keys=True).encode()
    return hashlib.sha256(body).hexdigest()[:16]


def render_worker(*, settings: Any, region: dict[str, Any]) -> str:
    """The service worker script: ``sw.js`` with the precache manifest (URL + content digest of each file)."""
    manifest = [{"url": "/report", "revision": page_revision(settings=settings, region=region)}]
    manifest += [{"url": url, "revision": _digest(path)} for url, path in sorted(asset_files().items())]
    script = (STATIC_DIR / "sw.js").read_text(encoding="utf-8")
    return script.replace("self.__PRECACHE_MANIFEST", json.dumps(manifest)).replace("{{static}}", STATIC_URL)
