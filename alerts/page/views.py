"""``GET /alerts`` (the public alerts page), its service worker ``/alerts/sw.js``, its static files, the place
an alert's public thread (places are typed through ``GET /api/v1/geocode``) ``GET /api/v1/alerts/{id}/thread``."""

from __future__ import annotations

import html
import json
from typing import Any

from fastapi import APIRouter, FastAPI, Header, Query, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from alerts.page import service
from mapping.live_map.page import _json_for_script
from mapping.live_map.views import STATIC_URL as MAP_STATIC_URL
from mapping.live_map.views import region_info

STATIC_URL = "/static/alerts"
router = APIRouter(tags=["public alerts page"])


@router.get("/alerts", response_class=HTMLResponse)
async def alerts_page(request: Request, lang: str | None = Query(None, description="en, es or ko; default: the "
                                                                 "browser's Accept-Language"),
                      accept_language: str | None = Header(None)) -> HTMLResponse:
    """The public alerts page (mobile first, every asset served from here): the active alerts around a place,
    their instructions, CAP messages and updates; subscribing to an area; notifications while it is open."""
    settings = request.app.state.runtime.settings
    language = service.page_language(lang=lang, accept_language=accept_language)
    roads = "/region/roads.geojson" if (settings.region_dir / "roads.geojson").exists() else None
    config = service.page_config(language=language, region=region_info(settings.region_dir), roads_url=roads,
                                 static_url=STATIC_URL, map_static_url=MAP_STATIC_URL)
    strings = service.catalogue()[language]
    page = (service.STATIC_DIR / "alerts.html").read_text(encoding="utf-8")
    for key, value in (("LANG", language), ("TITLE", html.escape(strings["title"])),
                       ("MAP_STATIC", MAP_STATIC_URL), ("JS", config["assets"][1]), ("CSS", config["assets"][2]), ("CONFIG", _json_for_script(config))):
        page = page.replace(f"__{key}__", value)
    return HTMLResponse(page, headers={"Vary": "Accept-Language", "Content-Language": language})


@router.get("/alerts/sw.js", response_class=Response, responses={200: {"content": {"text/javascript": {}}}})
async def alerts_service_worker(request: Request) -> Response:
    """The page's service worker (scope ``/alerts``): precaches the page and its assets, shows Web Push alerts."""
    settings = request.app.state.runtime.settings
    roads = "/region/roads.geojson" if (settings.region_dir / "roads.geojson").exists() else None
    assets = service.offline_assets(static_url=STATIC_URL, map_static_url=MAP_STATIC_URL, roads_url=roads)
    body = (f"const ASSETS = {json.dumps(assets)};\nconst VERSION = {json.dumps(service.asset_version('sw.js'))};\n"
            + (service.STATIC_DIR / "sw.js").read_text(encoding="utf-8"))
    return Response(body, media_type="text/javascript",
                    headers={"Service-Worker-Allowed": "/alerts", "Cache-Control": "no-cache"})


@router.get("/api/v1/alerts/{alert_id}/thread")
async def alert_thread(alert_id: str, request: Request) -> dict[str, Any]:
    """An issued alert's messages oldest first (the Alert, its Updates, its Cancel): CAP id, type, sent, expires,
    headline, instruction, severity, urgency, state; public fields only. 404 ``alert_id`` for no issued alert."""
    return await service.public_thread(store=request.app.state.runtime.store, alert_id=alert_id)


def mount(app: FastAPI) -> None:
    """Add the page, its routes and its static files to ``app`` (its strings are checked now: a missing
    translation stops the app here, not on a citizen's first visit)."""
    service.catalogue()
    app.include_router(router)
    app.mount(STATIC_URL, StaticFiles(directory=service.STATIC_DIR), name="alerts-static")
