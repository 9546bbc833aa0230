"""Tests for the coordinator's live map page (``mapping.live_map``).

Unit tests check the rendered HTML (no external URLs, config blob, vendored files).
The browser test serves the page with stub API endpoints and a WebSocket on a free
127.0.0.1 port and drives Debian's Chromium with Playwright (``bash .ci/run`` installs
Debian's ``chromium`` and ``nodejs``; the tests fail, never skip, without them). Set ``LIVE_MAP_SCREENSHOT=/path.png``
to keep a screenshot of the rendered map.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import folium
import pytest
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from mapping.live_map.assets import (
    OFFLINE_ASSETS,
    STATIC_DIR,
    UnknownAssetError,
    apply_offline_assets,
    is_external,
)
from mapping.live_map.page import render_map_page
from mapping.live_map.vendoring import PACKAGES, VENDOR_DIR, vendored_files

CENTER = (45.5152, -122.6784)  # Portland, OR (lat, lon)
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)""")


def _render(**overrides: Any) -> str:
    kwargs: dict[str, Any] = dict(
        title="Portland COP",
        center=CENTER,
        zoom=14,
        tile_url=None,
        tile_attribution=None,
        base_layer_url="/static/map/test/roads.geojson",
    )
    kwargs.update(overrides)
    return render_map_page(**kwargs)


class _PageScan(HTMLParser):
    """Collects src/href attribute values, CSS url() references and the cop-config text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.css_urls: list[str] = []
        self.config_text: str | None = None
        self.config_count = 0
        self._tag: str | None = None
        self._in_config = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag = tag
        values = dict(attrs)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "poster", "action", "data") and value:
                self.links.append(value)
            if name == "style" and value:
                self.css_urls += CSS_URL.findall(value)
        if tag == "script" and values.get("id") == "cop-config":
            self._in_config = True
            self.config_count += 1
            self.config_text = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_config = False
        self._tag = None

    def handle_data(self, data: str) -> None:
        if self._in_config:
            self.config_text = (self.config_text or "") + data
        elif self._tag == "style":
            self.css_urls += CSS_URL.findall(data)


def _scan(page: str) -> _PageScan:
    scan = _PageScan()
    scan.feed(page)
    scan.close()
    return scan


def _config(page: str) -> dict[str, Any]:
    scan = _scan(page)
    assert scan.config_count == 1 and scan.config_text is not None
    return json.loads(scan.config_text)


# ---------------------------------------------------------------- unit tests


def test_page_has_no_external_urls() -> None:
    page = _render()
    scan = _scan(page)
    assert scan.links, "expected script/link references"
    for ref in scan.links + scan.css_urls:
        assert not is_external(ref), ref
    # Stronger: nothing anywhere in the document points off-host.
    assert "http://" not in page and "https://" not in page and "//cdn" not in page


def test_only_the_configured_tile_url_and_attribution_are_external() -> None:
    tiles = "https://tiles.example.org/{z}/{x}/{y}.png"
    attribution = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>'
    page = _render(tile_url=tiles, tile_attribution=attribution)
    scan = _scan(page)
    for ref in scan.links + scan.css_urls:
        assert not is_external(ref), ref
    found = set(re.findall(r"https?://[^\s\"'<>\\]+", page))
    assert found == {tiles, "https://www.openstreetmap.org/copyright"}
    assert _config(page)["has_tiles"] is True


def test_config_blob() -> None:
    page = _render(api_prefix="/api/v2/", ws_path="/ws/live")
    config = _config(page)
    assert config["api_prefix"] == "/api/v2"
    assert config["ws_path"] == "/ws/live"
    assert config["base_layer_url"] == "/static/map/test/roads.geojson"
    assert config["has_tiles"] is False
    assert re.search(rf"var {re.escape(config['map_var'])} = L\.map\(", page)
    for key in ("reports", "road_closures", "alerts", "streets"):
        assert re.search(rf"var {re.escape(config['layer_vars'][key])} = L\.", page), key
    assert "L.markerClusterGroup" in page
    assert '"Reports"' in page and '"Road closures"' in page and '"Alerts"' in page


def test_no_base_layer() -> None:
    config = _config(_render(base_layer_url=None))
    assert config["base_layer_url"] is None
    assert config["layer_vars"]["streets"] is None


def test_config_and_title_cannot_break_out_of_markup() -> None:
    nasty = '</script><script>alert("x")</script>&<!--'
    page = _render(title=nasty, api_prefix=nasty, ws_path=nasty)
    assert "<script>alert" not in page
    assert "<title>&lt;/script&gt;" in page
    config = _config(page)
    assert config["ws_path"] == nasty


def test_references_live_js_and_css() -> None:
    links = _scan(_render()).links
    assert any(re.fullmatch(r"/static/map/live\.js\?v=[0-9a-f]{12}", u) for u in links)
    assert any(re.fullmatch(r"/static/map/live\.css\?v=[0-9a-f]{12}", u) for u in links)
    # Our files come after the libraries they build on.
    assert links.index(next(u for u in links if "live.js" in u)) > links.index(
        next(u for u in links if "leaflet.markercluster.js" in u)
    )


@pytest.mark.parametrize("static_url", ["/static/map", "/assets/cop/", "/x"])
def test_every_referenced_static_file_exists(static_url: str) -> None:
    base = static_url.rstrip("/") + "/"
    links = _scan(_render(static_url=static_url)).links
    assert len(links) >= 13
    for ref in links:
        assert ref.startswith(base), ref
        rel = urlsplit(ref).path[len(base) :]
        assert (STATIC_DIR / rel).is_file(), rel


def test_live_js_is_valid_javascript() -> None:
    out = subprocess.run(
        ["node", "--check", str(STATIC_DIR / "live.js")], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr


def test_every_offline_asset_target_exists() -> None:
    for name, rel in OFFLINE_ASSETS.items():
        assert rel is None or (STATIC_DIR / rel).is_file(), name


def test_vendored_css_references_resolve() -> None:
    css_files = sorted(VENDOR_DIR.rglob("*.css")) + [STATIC_DIR / "live.css"]
    assert len(css_files) >= 6
    for css in css_files:
        for ref in CSS_URL.findall(css.read_text(encoding="utf-8")):
            if ref.startswith(("data:", "#")):
                continue
            assert not is_external(ref), (css, ref)
            target = (css.parent / urlsplit(ref).path).resolve()
            assert target.is_file(), (css, ref)
            assert target.is_relative_to(STATIC_DIR), (css, ref)


def test_vendored_files_licences_and_readme() -> None:
    files = vendored_files()
    missing = [p for p in files if not p.is_file()]
    assert not missing
    total = sum(p.stat().st_size for p in files)
    assert total < 2.6e6, total
    readme = (VENDOR_DIR / "README.md").read_text(encoding="utf-8")
    for pkg in PACKAGES:
        assert (VENDOR_DIR / pkg.dest / pkg.licence_dest).stat().st_size > 200
        assert f"`{pkg.npm_name}`" in readme and pkg.version in readme
    on_disk = {p for p in VENDOR_DIR.rglob("*") if p.is_file()} - {VENDOR_DIR / "README.md"}
    assert on_disk == set(files), "files in static/vendor not listed in the manifest"


def test_render_does_not_touch_folium_globals() -> None:
    from folium.plugins import MarkerCluster

    before = (list(folium.Map.default_js), list(MarkerCluster.default_css))
    _render()
    assert (list(folium.Map.default_js), list(MarkerCluster.default_css)) == before


@pytest.mark.parametrize("plugin", ["Fullscreen", "BoatMarker"])
def test_unvendored_plugin_is_refused(plugin: str) -> None:
    # BoatMarker reuses the name "markerclusterjs" for its own script: not to be confused.
    import folium.plugins

    fmap = folium.Map(tiles=None)
    element = getattr(folium.plugins, plugin)
    (element(location=(45.5, -122.6)) if plugin == "BoatMarker" else element()).add_to(fmap)
    with pytest.raises(UnknownAssetError, match="not vendored"):
        apply_offline_assets(fmap)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="tile_attribution"):
        _render(tile_url="https://t.example/{z}/{x}/{y}.png")
    with pytest.raises(ValueError, match="lat, lon"):
        _render(center=(-122.6, 45.5))


def test_use_offline_assets_rewrites_globals_idempotently() -> None:
    # Run in a fresh interpreter: it changes folium's class attributes for the whole process.
    code = """
import folium, folium.plugins
from mapping.live_map.assets import use_offline_assets
use_offline_assets("/s")
first = (list(folium.Map.default_js), list(folium.Map.default_css),
         list(folium.plugins.MarkerCluster.default_js))
use_offline_assets("/s")
assert first == (list(folium.Map.default_js), list(folium.Map.default_css),
                 list(folium.plugins.MarkerCluster.default_js))
m = folium.Map(tiles=None)
folium.plugins.MarkerCluster().add_to(m)
html = m.get_root().render()
assert "http://" not in html and "https://" not in html, html
assert '<script src="/s/vendor/leaflet/dist/leaflet.js">' in html
assert "boatmarker" in folium.plugins.BoatMarker.default_js[0][1]
print("ok")
"""
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


# ---------------------------------------------------------------- browser test

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
]


def _point(fid: str, lon: float, lat: float, category: str, text: str, **extra: Any) -> dict:
    props = {
        "id": fid,
        "kind": "citizen_report",
        "category": category,
        "text": text,
        "observed_at": "2026-11-27T09:00:00Z",
        "geo_precision": "exact",
        "confidence": 0.8,
        "source_type": "web_form",
        **extra,
    }
    return {
        "type": "Feature",
        "id": fid,
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": props,
    }


def _fc(*features: dict) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


XSS_TEXT = '<img src=x onerror="window.__xss=1">Smoke & <b>ash</b>'


def _initial_store() -> dict[str, dict[str, dict]]:
    closure = {
        "type": "Feature",
        "id": "c-1",
        "geometry": {
            "type": "LineString",
            "coordinates": [[-122.690, 45.512], [-122.680, 45.512], [-122.672, 45.515]],
        },
        "properties": {
            "id": "c-1",
            "kind": "agency_report",
            "category": "road_closure",
            "text": "Closed both ways",
            "observed_at": "2026-11-27T08:00:00Z",
            "reason": "Fire activity",
            "agency": "PBOT",
            "start": "2026-11-27T08:00:00Z",
            "end": None,
            "geo_precision": "street",
            "confidence": 1,
            "source_type": "agency_api",
        },
    }
    ring = [
        [-122.700, 45.505],
        [-122.660, 45.505],
        [-122.660, 45.525],
        [-122.700, 45.525],
        [-122.700, 45.505],
    ]
    alert = {
        "type": "Feature",
        "id": "a-1",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {
            "id": "a-1",
            "kind": "alert",
            "category": "other",
            "text": "Leave now",
            "observed_at": "2026-11-27T08:30:00Z",
            "tier": "imminent_threat_extreme",
            "headline": "Evacuate downtown",
            "expires": "2099-01-01T00:00:00Z",
            "geo_precision": "exact",
            "confidence": 1,
            "source_type": "operator",
        },
    }
    reports = [
        _point("r-1", -122.690, 45.520, "spot_fire", "Flames behind the school"),
        _point("r-2", -122.665, 45.510, "flooding", "Water over the road"),
        _point("r-xss", -122.675, 45.522, "smoke", XSS_TEXT, kind="social_post"),
    ]
    return {
        "reports": {f["id"]: f for f in reports},
        "road_closures": {"c-1": closure},
        "alerts": {"a-1": alert},
    }


def _road(fid: str, name: str, highway: str, coords: list[list[float]]) -> dict:
    return {
        "type": "Feature",
        "id": fid,
        "properties": {"name": name, "highway": highway},
        "geometry": {"type": "LineString", "coordinates": coords},
    }


ROADS = _fc(
    _road("way/1", "W Burnside St", "primary", [[-122.71, 45.523], [-122.65, 45.523]]),
    _road("way/2", "SW Broadway", "tertiary", [[-122.681, 45.50], [-122.681, 45.53]]),
)
ROADS["attribution"] = "© OpenStreetMap contributors, ODbL 1.0"


@dataclass
class LiveServer:
    """A uvicorn server in a thread with stub API data and a WebSocket hub."""

    base_url: str
    store: dict[str, dict[str, dict]]
    loop: asyncio.AbstractEventLoop
    sockets: list[Any] = field(default_factory=list)
    connections: int = 0

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def push(self, message: dict | str) -> None:
        """Send one message to every connected client."""
        text = message if isinstance(message, str) else json.dumps(message)

        async def send() -> None:
            for ws in list(self.sockets):
                await ws.send_text(text)

        self._run(send())

    def drop_clients(self) -> None:
        """Close every WebSocket from the server side (clients should reconnect)."""

        async def close() -> None:
            for ws in list(self.sockets):
                await ws.close(code=1012)

        self._run(close())


def _make_app(server_ref: dict[str, LiveServer]) -> Any:
    app = FastAPI()

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return _render(base_layer_url="/test/roads.geojson")

    def collection(layer: str) -> JSONResponse:
        features = list(server_ref["s"].store[layer].values())
        return JSONResponse(_fc(*features), media_type="application/geo+json")

    app.get("/api/v1/reports")(lambda: collection("reports"))
    app.get("/api/v1/road-closures")(lambda: collection("road_closures"))
    app.get("/api/v1/alerts")(lambda: collection("alerts"))
    app.get("/test/roads.geojson")(lambda: JSONResponse(ROADS))

    @app.websocket("/ws/cop")
    async def cop_socket(ws: WebSocket) -> None:
        server = server_ref["s"]
        await ws.accept()
        server.sockets.append(ws)
        server.connections += 1
        try:
            while True:
                await ws.receive_text()
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            if ws in server.sockets:
                server.sockets.remove(ws)

    app.mount("/static/map", StaticFiles(directory=STATIC_DIR), name="map-static")
    return app


@pytest.fixture()
def live_server() -> Iterator[LiveServer]:
    import uvicorn
    ref: dict[str, LiveServer] = {}
    app = _make_app(ref)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    loop = asyncio.new_event_loop()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.serve(sockets=[sock]))

    thread = threading.Thread(target=run, name="live-map-test-server", daemon=True)
    ref["s"] = LiveServer(f"http://127.0.0.1:{port}", _initial_store(), loop)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "test server did not start"
        time.sleep(0.02)
    try:
        yield ref["s"]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _count(page: Any, layer: str) -> int:
    return int(page.locator(f"#cop-count-{layer}").inner_text())


def _wait_counts(page: Any, reports: int, closures: int, alerts: int) -> None:
    page.wait_for_function(
        """([r, c, a]) => {
            const t = (k) => (document.getElementById('cop-count-' + k) || {}).textContent;
            return t('reports') === String(r) && t('road_closures') === String(c)
                && t('alerts') === String(a);
        }""",
        arg=[reports, closures, alerts],
        timeout=10_000,
    )


def test_live_map_in_browser(live_server: LiveServer, tmp_path: Path) -> None:
    from playwright import sync_api
    offsite: list[str] = []
    errors: list[str] = []
    bad_responses: list[str] = []

    def guard(route: Any) -> None:
        host = urlsplit(route.request.url).hostname
        if host == "127.0.0.1":
            route.continue_()
        else:
            offsite.append(route.request.url)
            route.abort()

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.route("**/*", guard)
            page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on(
                "response",
                lambda r: bad_responses.append(f"{r.status} {r.url}") if r.status >= 400 else None,
            )
            page.goto(live_server.base_url + "/", wait_until="load")

            page.wait_for_function(
                "document.getElementById('cop-status')?.textContent === 'live'", timeout=10_000
            )
            _wait_counts(page, 3, 1, 1)
            assert page.evaluate("window.copLayers.reports.get('r-1').options.copId") == "r-1"

            # Everything is drawn: markers, closure line (casing + dashes), alert area, streets.
            page.wait_for_selector(".awesome-marker", timeout=5_000)
            assert page.locator(".leaflet-copClosures-pane path").count() == 2
            assert page.locator(".leaflet-copAlerts-pane path").count() == 1
            page.wait_for_selector(".leaflet-copStreets-pane canvas", timeout=5_000)
            page.wait_for_function(
                "document.querySelector('.leaflet-control-attribution')"
                "?.textContent.includes('OpenStreetMap')",
                timeout=5_000,
            )
            assert page.locator(".leaflet-control-layers-overlays label").count() == 4
            assert page.locator("#cop-legend .cop-legend-item").count() >= 14
            page.evaluate("document.fonts.ready")
            assert page.evaluate("document.fonts.check('900 14px \"Font Awesome 6 Free\"')")

            # Popup text is inert.
            page.evaluate("window.copLayers.reports.get('r-xss').openPopup()")
            page.wait_for_selector(".cop-popup .cop-popup-text", timeout=5_000)
            assert page.locator(".cop-popup .cop-popup-text").inner_text() == XSS_TEXT
            assert page.locator(".leaflet-popup img").count() == 0
            assert page.evaluate("window.__xss") is None

            # Live upserts replace by id; removes remove; junk is ignored.
            moved = _point("r-1", -122.700, 45.530, "spot_fire", "Fire spreading north")
            live_server.push({"type": "upsert", "layer": "reports", "feature": moved})
            page.wait_for_function(
                "window.copLayers.reports.get('r-1').getLatLng().lat === 45.53", timeout=5_000
            )
            assert _count(page, "reports") == 3
            new = _point("r-new", -122.668, 45.518, "needs_help", "Elderly neighbour trapped")
            live_server.push({"type": "upsert", "layer": "reports", "feature": new})
            _wait_counts(page, 4, 1, 1)
            for junk in (
                "not json",
                {"type": "bogus"},
                {"type": "upsert", "layer": "nope"},
                {"type": "upsert", "layer": "reports", "feature": {"type": "Feature"}},
                {"type": "remove", "layer": "alerts"},
            ):
                live_server.push(junk)
            live_server.push({"type": "remove", "layer": "road_closures", "id": "c-1"})
            _wait_counts(page, 4, 0, 1)
            assert page.locator(".leaflet-copClosures-pane path").count() == 0
            assert page.locator("#cop-updated").inner_text() != "—"

            # After a reconnect the page re-fetches, so changes made meanwhile appear.
            page.evaluate(
                """() => {
                    window.__statuses = [];
                    new MutationObserver(() => window.__statuses.push(
                        document.getElementById('cop-status').textContent))
                      .observe(document.getElementById('cop-status'), {childList: true});
                }"""
            )
            live_server.store["reports"]["r-missed"] = _point(
                "r-missed", -122.685, 45.508, "damage", "Wall collapsed"
            )
            del live_server.store["reports"]["r-2"]
            live_server.store["reports"]["r-new"] = new
            live_server.drop_clients()
            page.wait_for_function(
                "window.__statuses.includes('reconnecting')"
                " && document.getElementById('cop-status').textContent === 'live'",
                timeout=15_000,
            )
            _wait_counts(page, 4, 1, 1)
            assert page.evaluate("window.copLayers.reports.has('r-missed')")
            assert not page.evaluate("window.copLayers.reports.has('r-2')")
            assert live_server.connections >= 2

            shot = os.environ.get("LIVE_MAP_SCREENSHOT") or str(tmp_path / "map.png")
            page.screenshot(path=shot)
        finally:
            browser.close()

    assert not offsite, offsite
    assert not errors, errors
    assert not bad_responses, bad_responses
