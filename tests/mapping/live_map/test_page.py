"""Tests for the coordinator's live map page (``mapping.live_map``).

Unit tests check the rendered HTML (no external URLs, config blob, vendored files).
The browser test serves the page with stub API endpoints and a WebSocket on a free
127.0.0.1 port and drives Debian's Chromium with Playwright (``bash .ci/run`` installs
Debian's ``chromium`` and ``nodejs``; the tests fail, never skip, without them). Set ``LIVE_MAP_SCREENSHOT=/path.png``
to keep a screenshot of the rendered map.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import folium
import pytest
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

import emergency.layers as layer_registry
from emergency.layers import REGISTRY, Layer
from mapping.live_map.assets import (
    OFFLINE_ASSETS,
    STATIC_DIR,
    UnknownAssetError,
    apply_offline_assets,
    is_external,
)
from mapping.live_map.page import render_map_page
from mapping.live_map.vendoring import PACKAGES, VENDOR_DIR, vendored_files
from tests.conftest import CHROMIUM, CHROMIUM_ARGS

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
    page = _render(changes_path="/api/v2/changes", ws_path="/ws/live")
    config = _config(page)
    assert config["layers"] == [layer.page_config() for layer in layer_registry.REGISTRY.values()]
    assert [entry["name"] for entry in config["layers"]] == ["reports", "road_closures", "alerts", "feed_incidents",
                                                       "shelters", "damage_reports", "resource_requests",
                                                       "evacuation_zones", "hazard_perimeters", "incidents"]
    assert config["changes_path"] == "/api/v2/changes"
    assert config["ws_path"] == "/ws/live"
    assert config["base_layer_url"] == "/static/map/test/roads.geojson"
    assert config["has_tiles"] is False
    assert re.search(rf"var {re.escape(config['map_var'])} = L\.map\(", page)
    for key in ("reports", "road_closures", "alerts", "streets"):
        assert re.search(rf"var {re.escape(config['layer_vars'][key])} = L\.", page), key
    assert re.search(rf"var {re.escape(config['layer_vars']['reports'])} = L\.markerClusterGroup", page)
    assert re.search(rf"var {re.escape(config['layer_vars']['alerts'])} = L\.featureGroup", page)
    assert '"Reports"' in page and '"Road closures"' in page and '"Alerts"' in page


WELLS = Layer(name="water_points", title="Water points", path="/api/v1/water-points", kinds=frozenset(),
              draw="markers", color="#2e7d32", z=40, default_limit=250)


def with_water_points(monkeypatch: pytest.MonkeyPatch) -> None:
    """Add a layer to the registry, as a new domain would (one entry, nothing else)."""
    monkeypatch.setattr(layer_registry, "REGISTRY", {**layer_registry.REGISTRY, WELLS.name: WELLS})


def test_a_layer_added_to_the_registry_is_on_the_page(monkeypatch: pytest.MonkeyPatch) -> None:
    with_water_points(monkeypatch)
    page = _render()
    config = _config(page)
    assert config["layers"][-1] == {"name": "water_points", "title": "Water points", "path": "/api/v1/water-points",
                                    "draw": "markers", "color": "#2e7d32", "z": 40, "limit": 250, "min_zoom": None}
    assert re.search(rf"var {re.escape(config['layer_vars']['water_points'])} = L\.markerClusterGroup", page)
    assert '"Water points"' in page  # in the layer control


def test_no_hard_coded_layer_list_in_live_js() -> None:
    script = (STATIC_DIR / "live.js").read_text(encoding="utf-8")
    for leftover in ("LAYER_KEYS", "ENDPOINTS", "DEFAULT_TITLES", "/road-closures", "/api/v1/reports",
                     "road_closures"):
        assert leftover not in script, leftover


def test_config_and_title_cannot_break_out_of_markup() -> None:
    nasty = '</script><script>alert("x")</script>&<!--'
    page = _render(title=nasty, changes_path=nasty, ws_path=nasty)
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
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


# ---------------------------------------------------------------- browser tests
# A stub server that speaks the live-picture protocol (sequence numbers, hello, resume, reset,
# truncated snapshots) serves the page; the real system is driven in tests/test_browser.py.



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


def _circle(lat: float, lon: float, radius_km: float, sides: int = 64) -> dict:
    """A circle as a GeoJSON Polygon (WGS 84), radius in km (spherical approximation)."""
    dlat = radius_km / 111.32
    dlon = dlat / math.cos(math.radians(lat))
    ring = [[lon + dlon * math.cos(2 * math.pi * i / sides), lat + dlat * math.sin(2 * math.pi * i / sides)]
            for i in range(sides)]
    return {"type": "Polygon", "coordinates": [ring + [ring[0]]]}


def _alert(fid: str, tier: str, headline: str, geometry: dict, **extra: Any) -> dict:
    props = {
        "id": fid, "kind": "alert", "category": tier, "text": headline, "tier": tier, "headline": headline,
        "description": f"{headline}: what is happening", "instruction": f"{headline}: what to do",
        "event": "Evacuation Immediate", "state": "active", "observed_at": "2026-11-27T08:30:00Z",
        "sent": "2026-11-27T08:30:00Z", "expires": "2099-01-01T00:00:00Z", "geo_precision": "region",
        "confidence": 1, "source_type": "alert_originator", **extra,
    }
    return {"type": "Feature", "id": fid, "geometry": geometry, "properties": props}


XSS_TEXT = '<img src=x onerror="window.__xss=1">Smoke & <b>ash</b>'
EVAC_AT = (45.5060, -122.6800)      # (lat, lon) of the small EVACUATE NOW circle
CANCELLED_AT = (45.5230, -122.6600)  # (lat, lon) of the cancelled alert
ONLY_TEST_AT = (45.5000, -122.6500)  # inside the 5 km TEST alert only


def _initial_changes() -> list[tuple[str, dict]]:
    closure = {
        "type": "Feature",
        "id": "c-1",
        "geometry": {
            "type": "LineString",
            "coordinates": [[-122.690, 45.512], [-122.680, 45.512], [-122.672, 45.515]],
        },
        "properties": {
            "id": "c-1", "kind": "agency_report", "category": "road_closure", "text": "Fire activity",
            "observed_at": "2026-11-27T08:00:00Z", "reason": "Fire activity", "agency": "PBOT",
            "road": "SW Main St", "from": "SW 2nd Ave", "to": "SW 4th Ave", "length_m": 1234.4,
            "start": "2026-11-27T08:00:00Z", "end": None, "geo_precision": "exact", "confidence": 1,
            "source_type": "agency_api",
        },
    }
    reports = [
        _point("r-1", -122.690, 45.520, "spot_fire", "Flames behind the school"),
        _point("r-2", -122.665, 45.510, "flooding", "Water over the road"),
        _point("r-xss", -122.675, 45.522, "smoke", XSS_TEXT, kind="social_post"),
    ]
    alerts = [  # the big TEST alert comes last: drawn in arrival order it would cover the others
        _alert("a-evac", "imminent_threat_extreme", "EVACUATE NOW", _circle(*EVAC_AT, 0.3)),
        _alert("a-cancel", "public_safety", "CANCELLED: Boil water", _circle(*CANCELLED_AT, 0.4),
               state="cancelled", cancelled_at="2026-11-27T09:15:00Z"),
        _alert("a-test", "test", "TEST of the alert system", _circle(*CENTER, 5.0), cap_url="/cap/a-test.xml"),
    ]
    return ([("reports", f) for f in reports] + [("road_closures", closure)]
            + [("alerts", f) for f in alerts])


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
CLOSE = object()  # queue sentinel: close the socket


@dataclass
class LiveServer:
    """A uvicorn server in a thread speaking the live-picture protocol from an in-memory picture."""

    base_url: str
    loop: asyncio.AbstractEventLoop
    store: dict[str, dict[str, dict]] = field(default_factory=dict)  # layer -> id -> feature
    seq: int = 0
    log: list[dict] = field(default_factory=list)
    queues: list[asyncio.Queue] = field(default_factory=list)
    connections: list[str | None] = field(default_factory=list)  # ``after`` of every socket opened
    reads: list[str] = field(default_factory=list)  # every snapshot read (path?query)
    gate: threading.Event | None = None

    def _run(self, fn: Any) -> Any:
        async def call() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout=10)

    def _change(self, layer: str, feature: dict | None = None, remove_id: str | None = None) -> int:
        self.seq += 1
        if feature is not None:
            feature = json.loads(json.dumps(feature))
            feature["properties"]["seq"] = self.seq
            self.store.setdefault(layer, {})[feature["id"]] = feature
            change = {"type": "upsert", "seq": self.seq, "layer": layer, "feature": feature}
        else:
            self.store.setdefault(layer, {}).pop(remove_id, None)
            change = {"type": "remove", "seq": self.seq, "layer": layer, "id": remove_id, "reason": "expired"}
        self.log.append(change)
        for queue in self.queues:
            queue.put_nowait(json.dumps(change))
        return self.seq

    def upsert(self, layer: str, feature: dict) -> int:
        """Change the picture (next seq) and send the change to every subscriber."""
        return self._run(lambda: self._change(layer, feature))

    def remove(self, layer: str, fid: str) -> int:
        return self._run(lambda: self._change(layer, remove_id=fid))

    def push(self, message: dict | str) -> None:
        """Send one raw message to every subscriber (junk, stale changes)."""
        text = message if isinstance(message, str) else json.dumps(message)
        self._run(lambda: [q.put_nowait(text) for q in self.queues])

    def drop_clients(self) -> None:
        """Close every WebSocket from the server side (clients should reconnect)."""
        self._run(lambda: [q.put_nowait(CLOSE) for q in self.queues])

    def rebuild(self, changes: list[tuple[str, dict]]) -> None:
        """Start a new picture with a new sequence from 1 (as a different store would)."""
        def reset() -> None:
            self.store, self.log, self.seq = {}, [], 0
            for layer, feature in changes:
                self._change(layer, feature)

        self._run(reset)

    def hello(self, after: int | None) -> tuple[dict, list[dict]]:
        if after is not None and after > self.seq:
            return {"type": "hello", "seq": self.seq, "reset": True}, []
        backlog = [c for c in self.log if after is not None and c["seq"] > after]
        return {"type": "hello", "seq": self.seq, "reset": False}, backlog


def _make_app(server_ref: dict[str, LiveServer]) -> Any:
    app = FastAPI()

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return _render(base_layer_url="/test/roads.geojson")

    @app.get("/test/roads.geojson")
    def roads() -> JSONResponse:
        return JSONResponse(ROADS)

    @app.get("/api/v1/{rest:path}")
    async def snapshot(rest: str, request: Request) -> JSONResponse:
        server = server_ref["s"]
        layer = next((lay for lay in layer_registry.REGISTRY.values() if lay.path == f"/api/v1/{rest}"), None)
        if layer is None:
            return JSONResponse({"detail": "not found"}, status_code=404)
        server.reads.append(f"{request.url.path}?{request.url.query}")
        limit = int(request.query_params.get("limit", layer.default_limit))
        features = sorted(server.store.get(layer.name, {}).values(),
                          key=lambda f: (f["properties"]["observed_at"], f["properties"]["seq"]), reverse=True)
        body = {**_fc(*features[:limit]), "seq": server.seq, "total": len(features),
                "returned": min(limit, len(features)), "truncated": len(features) > limit, "next": None}
        if server.gate is not None:  # the picture was read; changes made while the answer waits are newer
            await asyncio.get_running_loop().run_in_executor(None, server.gate.wait)
        return JSONResponse(body, media_type="application/geo+json")

    @app.websocket("/ws/cop")
    async def cop_socket(ws: WebSocket) -> None:
        server = server_ref["s"]
        await ws.accept()
        raw = ws.query_params.get("after")
        server.connections.append(raw)
        queue: asyncio.Queue = asyncio.Queue()
        hello, backlog = server.hello(int(raw) if raw is not None else None)
        for message in [hello, *backlog]:
            queue.put_nowait(json.dumps(message))
        server.queues.append(queue)  # in the same step as the backlog: no gap, no duplicate

        async def write() -> None:
            while True:
                text = await queue.get()
                if text is CLOSE:
                    await ws.close(code=1012)
                    return
                await ws.send_text(text)

        writer = asyncio.create_task(write())
        try:
            while True:
                await ws.receive_text()
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            server.queues.remove(queue)
            writer.cancel()

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
    ref["s"] = live = LiveServer(f"http://127.0.0.1:{port}", loop)
    for layer, feature in _initial_changes():
        live._change(layer, feature)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "test server did not start"
        time.sleep(0.02)
    try:
        yield live
    finally:
        if live.gate is not None:
            live.gate.set()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def _browser_page(live: LiveServer, *, wait_live: bool = True) -> Iterator[Any]:
    """Chromium on the stub's page; fails the test on page errors, console errors, 4xx/5xx or off-host requests."""
    from playwright import sync_api
    problems: list[str] = []

    def guard(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            problems.append(f"offsite: {route.request.url}")
            route.abort()

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.route("**/*", guard)
            page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            page.goto(live.base_url + "/", wait_until="load")
            if wait_live:
                page.wait_for_function("document.getElementById('cop-status')?.textContent === 'live'",
                                       timeout=10_000)
            yield page
        finally:
            browser.close()
    assert not problems, problems


def _wait_counts(page: Any, **counts: int) -> None:
    page.wait_for_function(
        """(counts) => Object.entries(counts).every(([k, n]) =>
              (document.getElementById('cop-count-' + k) || {}).textContent === String(n))""",
        arg=counts,
        timeout=10_000,
    )


def _pixel(page: Any, lat: float, lon: float) -> tuple[float, float]:
    """The page pixel of (lat, lon), WGS 84."""
    return page.evaluate(
        """([lat, lon]) => {
            const map = window[JSON.parse(document.getElementById('cop-config').textContent).map_var];
            const p = map.latLngToContainerPoint([lat, lon]);
            const box = map.getContainer().getBoundingClientRect();
            return [box.left + p.x, box.top + p.y];
        }""",
        [lat, lon],
    )


def _click_at(page: Any, lat: float, lon: float) -> None:
    """Click the map at (lat, lon), WGS 84."""
    page.mouse.click(*_pixel(page, lat, lon))


def _area_entries(page: Any) -> list[str]:
    page.wait_for_selector(".cop-area-list .cop-area-entry", timeout=5_000)
    return page.eval_on_selector_all(".cop-area-list .cop-area-entry", "ns => ns.map(n => n.dataset.copId)")


def test_live_map_in_browser(live_server: LiveServer, tmp_path: Path) -> None:
    with _browser_page(live_server) as page:
        _wait_counts(page, reports=3, road_closures=1, alerts=3)
        assert page.evaluate("window.copLayers.reports.get('r-1').options.copId") == "r-1"
        assert page.evaluate("window.copLive.maxSeq") == live_server.seq == 7
        assert sorted(live_server.reads) == sorted(f"{layer.path}?limit={layer.default_limit}"
                                                   for layer in layer_registry.REGISTRY.values())

        # Everything is drawn: markers, closure line (casing + dashes), alert areas, streets.
        page.wait_for_selector(".awesome-marker", timeout=5_000)
        assert page.locator(".leaflet-cop-pane-road_closures-pane path").count() == 2
        assert page.locator(".leaflet-cop-pane-alerts-pane path").count() == 3
        page.wait_for_selector(".leaflet-copStreets-pane canvas", timeout=5_000)
        page.wait_for_function(
            "document.querySelector('.leaflet-control-attribution')?.textContent.includes('OpenStreetMap')",
            timeout=5_000,
        )
        # one control entry and one legend entry per registry layer, plus the streets
        labels = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
        by_z = sorted(layer_registry.REGISTRY.values(), key=lambda layer: -layer.z)
        assert [t.strip() for t in labels] == [layer.title for layer in by_z] + ["Streets (offline)"]
        legend = page.eval_on_selector_all("#cop-legend [data-layer]", "ns => ns.map(n => n.dataset.layer)")
        assert legend == list(layer_registry.REGISTRY)
        assert page.locator("#cop-legend .cop-legend-item").count() >= 17
        page.evaluate("document.fonts.ready")
        assert page.evaluate("document.fonts.check('900 14px \"Font Awesome 6 Free\"')")
        assert page.locator(".cop-truncated-row:not([hidden])").count() == 0  # nothing was cut

        # Popup text is inert.
        page.evaluate("window.copLayers.reports.get('r-xss').openPopup()")
        page.wait_for_selector(".cop-popup .cop-popup-text", timeout=5_000)
        assert page.locator(".cop-popup .cop-popup-text").inner_text() == XSS_TEXT
        assert page.locator(".leaflet-popup img").count() == 0
        assert page.evaluate("window.__xss") is None
        page.evaluate("window.copLayers.reports.get('r-xss').closePopup()")

        # Live upserts replace by id; removes remove; stale changes and junk are ignored.
        live_server.upsert("reports", _point("r-1", -122.700, 45.530, "spot_fire", "Fire spreading north"))
        page.wait_for_function("window.copLayers.reports.get('r-1').getLatLng().lat === 45.53", timeout=5_000)
        new = _point("r-new", -122.668, 45.518, "needs_help", "Elderly neighbour trapped")
        live_server.upsert("reports", new)
        _wait_counts(page, reports=4, road_closures=1, alerts=3)
        stale = _point("r-1", -122.600, 45.400, "spot_fire", "an old state")
        stale["properties"]["seq"] = 1
        for junk in (
            "not json",
            {"type": "bogus"},
            {"type": "upsert", "layer": "nope", "seq": 99},
            {"type": "upsert", "layer": "reports", "feature": {"type": "Feature"}},
            {"type": "remove", "layer": "alerts"},
            {"type": "upsert", "seq": 1, "layer": "reports", "feature": stale},
        ):
            live_server.push(junk)
        live_server.remove("road_closures", "c-1")
        _wait_counts(page, reports=4, road_closures=0, alerts=3)
        assert page.evaluate("window.copLayers.reports.get('r-1').getLatLng().lat") == 45.53
        assert page.locator(".leaflet-cop-pane-road_closures-pane path").count() == 0
        assert page.locator("#cop-updated").inner_text() != "—"
        assert page.evaluate("window.copLive.maxSeq") == live_server.seq == 10

        # A dropped socket resumes after maxSeq: what changed meanwhile arrives, nothing is re-fetched.
        page.evaluate(
            """() => {
                window.__statuses = [];
                new MutationObserver(() => window.__statuses.push(
                    document.getElementById('cop-status').textContent))
                  .observe(document.getElementById('cop-status'), {childList: true});
            }"""
        )
        page.evaluate("window.copLive.disconnect()")
        live_server.upsert("reports", _point("r-missed", -122.685, 45.508, "damage", "Wall collapsed"))
        live_server.remove("reports", "r-2")
        page.evaluate("window.copLive.connect()")
        _wait_counts(page, reports=4, road_closures=0, alerts=3)
        assert page.evaluate("window.copLayers.reports.has('r-missed')")
        assert not page.evaluate("window.copLayers.reports.has('r-2')")
        # and a drop by the server: the page reconnects by itself, after the last seq it holds
        live_server.drop_clients()
        page.wait_for_function(
            "window.__statuses.includes('reconnecting') && window.copLive.socketUrls.length === 3"
            " && document.getElementById('cop-status').textContent === 'live'",
            timeout=15_000,
        )
        live_server.upsert("reports", new | {"properties": new["properties"] | {"text": "Rescued"}})
        page.wait_for_function(
            "window.copLayers.reports.get('r-new').feature.properties.text === 'Rescued'", timeout=5_000)
        assert live_server.connections == [None, "10", "12"]
        assert len(live_server.reads) == len(layer_registry.REGISTRY)  # the snapshot was read once

        shot = os.environ.get("LIVE_MAP_SCREENSHOT") or str(tmp_path / "map.png")
        page.screenshot(path=shot)


def test_overlapping_alerts_click_lists_every_alert_smaller_and_higher_on_top(live_server: LiveServer) -> None:
    with _browser_page(live_server) as page:
        _wait_counts(page, alerts=3)
        # the 5 km TEST alert is updated live, so it is drawn (added to the SVG) after the others
        test_alert = json.loads(json.dumps(live_server.store["alerts"]["a-test"]))
        test_alert["properties"]["description"] = "TEST of the alert system: what is happening (updated)"
        live_server.upsert("alerts", test_alert)
        page.wait_for_function("window.copLayers.alerts.get('a-test').feature.properties.description"
                               ".endsWith('(updated)')")
        x, y = _pixel(page, *EVAC_AT)
        # the EVACUATE NOW area is drawn on top of the 5 km TEST area that arrived after it
        assert page.evaluate(
            "([x, y]) => window.copLayers.alerts.get('a-evac').getLayers()[0]._path"
            " === document.elementFromPoint(x, y)", [x, y])
        page.mouse.click(x, y)
        assert _area_entries(page) == ["a-evac", "a-test"]
        evac = page.locator(".cop-area-entry[data-cop-id='a-evac']")
        text = evac.inner_text()
        assert text.count("EVACUATE NOW") == 3  # the headline once, and in description and instruction
        assert "EVACUATE NOW: what is happening" in text and "EVACUATE NOW: what to do" in text
        assert "Active alert" in text and "Imminent threat: extreme" in text
        assert "Issued" in text and "Expires" in text
        assert evac.locator("a", has_text="CAP XML").get_attribute("href") == "/api/v1/alerts/a-evac.xml"
        test_entry = page.locator(".cop-area-entry[data-cop-id='a-test']")
        assert test_entry.locator("a", has_text="CAP XML").get_attribute("href") == "/cap/a-test.xml"
        assert page.locator(".cop-area-list-head").inner_text() == "2 alerts cover this point"

        # a point covered by the TEST alert only lists just that one
        page.keyboard.press("Escape")
        _click_at(page, *ONLY_TEST_AT)
        page.wait_for_function("document.querySelectorAll('.cop-area-list .cop-area-entry').length === 1")
        assert _area_entries(page) == ["a-test"]

        # an alert issued later under the one shown still lists in priority order
        live_server.upsert("alerts", _alert("a-severe", "imminent_threat_severe", "Shelter in place",
                                            _circle(*EVAC_AT, 1.0)))
        _wait_counts(page, alerts=4)
        page.keyboard.press("Escape")
        _click_at(page, *EVAC_AT)
        page.wait_for_function("document.querySelectorAll('.cop-area-list .cop-area-entry').length === 3")
        assert _area_entries(page) == ["a-evac", "a-severe", "a-test"]


def test_closure_popup_shows_road_cross_streets_and_length(live_server: LiveServer) -> None:
    with _browser_page(live_server) as page:
        _wait_counts(page, road_closures=1)
        page.evaluate("window.copLayers.road_closures.get('c-1').openPopup()")
        popup = page.locator(".leaflet-popup .cop-popup")
        popup.wait_for(timeout=5_000)
        rows = dict(zip(popup.locator("dt").all_inner_texts(), popup.locator("dd").all_inner_texts()))
        assert rows["Road"] == "SW Main St"
        assert rows["Between"] == "SW 2nd Ave – SW 4th Ave"
        assert rows["Length"] == "1.2 km"
        assert rows["Agency"] == "PBOT" and rows["Reason"] == "Fire activity"
        assert "From" in rows and "Until" not in rows  # open-ended
        short = json.loads(json.dumps(live_server.store["road_closures"]["c-1"]))
        short["properties"]["length_m"] = 850
        live_server.upsert("road_closures", short)
        page.wait_for_function("window.copLayers.road_closures.get('c-1').feature.properties.length_m === 850")
        page.evaluate("window.copLayers.road_closures.get('c-1').openPopup()")
        page.wait_for_function("[...document.querySelectorAll('.leaflet-popup dd')].some(n => n.textContent === '850 m')")


def test_feed_item_popup_names_its_publisher_and_licence(live_server: LiveServer) -> None:
    quake = _point("feed:usgs:us7000", -122.66, 45.52, "earthquake", "M 3.4 - 5 km N of Portland", kind="feed_item",
                   source_type="feed", feed="usgs", publisher="USGS Earthquake Hazards Program",
                   attribution="U.S. Geological Survey, public domain", magnitude=3.4, event_type="earthquake",
                   link="https://earthquake.usgs.gov/earthquakes/eventpage/us7000")
    live_server.upsert("feed_incidents", quake)
    with _browser_page(live_server) as page:
        _wait_counts(page, feed_incidents=1)
        page.evaluate("window.copLayers.feed_incidents.get('feed:usgs:us7000').openPopup()")
        popup = page.locator(".leaflet-popup .cop-popup")
        popup.wait_for(timeout=5_000)
        rows = dict(zip(popup.locator("dt").all_inner_texts(), popup.locator("dd").all_inner_texts()))
        assert rows["Published by"] == "USGS Earthquake Hazards Program"
        assert rows["Licence"] == "U.S. Geological Survey, public domain" and rows["Magnitude"] == "3.4"
        assert popup.locator("a.cop-popup-link").get_attribute("href").startswith("https://earthquake.usgs.gov/")


def test_cancelled_alert_is_drawn_as_cancelled_and_a_remove_deletes_it(live_server: LiveServer) -> None:
    with _browser_page(live_server) as page:
        _wait_counts(page, alerts=3)
        style = page.evaluate(
            """() => { const path = window.copLayers.alerts.get('a-cancel').getLayers()[0]._path;
                       return [path.getAttribute('fill'), path.getAttribute('stroke-dasharray'),
                               path.getAttribute('stroke'), path.classList.contains('cop-area-cancelled')]; }""")
        assert style == ["none", "6 5", "#616161", True]
        active = page.evaluate("window.copLayers.alerts.get('a-evac').getLayers()[0]._path.getAttribute('fill')")
        assert active == "#c62828"
        _click_at(page, *CANCELLED_AT)
        # inside the cancelled (unfilled) area: listed after the active TEST alert, and says it is cancelled
        assert _area_entries(page) == ["a-test", "a-cancel"]
        entry = page.locator(".cop-area-entry[data-cop-id='a-cancel']")
        sub = entry.locator(".cop-popup-sub").inner_text()
        assert sub.startswith("Cancelled at ") and "2026" in sub
        assert "Active alert" not in entry.inner_text()

        # an active alert cancelled live changes style and text in the open list
        evac = json.loads(json.dumps(live_server.store["alerts"]["a-evac"]))
        evac["properties"] |= {"state": "cancelled", "cancelled_at": "2026-11-27T10:00:00Z"}
        live_server.upsert("alerts", evac)
        page.wait_for_function(
            "window.copLayers.alerts.get('a-evac').getLayers()[0]._path.getAttribute('fill') === 'none'")

        # a remove takes it off the map at once, and out of the open list
        live_server.remove("alerts", "a-cancel")
        _wait_counts(page, alerts=2)
        assert page.locator(".leaflet-cop-pane-alerts-pane path").count() == 2
        page.wait_for_function("!document.querySelector(\".cop-area-entry[data-cop-id='a-cancel']\")")
        assert _area_entries(page) == ["a-test"]


def test_changes_during_the_snapshot_are_not_lost(live_server: LiveServer) -> None:
    live_server.gate = threading.Event()  # snapshot answers wait (after reading the picture)
    with _browser_page(live_server, wait_live=False) as page:
        page.wait_for_function("window.copLive && window.copLive.socketUrls.length === 1")
        deadline = time.monotonic() + 10
        # the layers changed below were read (the browser holds the others back: six connections per host)
        while not {"/api/v1/reports?limit=5000", "/api/v1/alerts?limit=1000"} <= set(live_server.reads):
            assert time.monotonic() < deadline, live_server.reads
            time.sleep(0.05)
        trapped = _point("r-trapped", -122.67, 45.515, "needs_help", "Person trapped")
        trapped["properties"]["observed_at"] = "2026-11-27T10:00:00Z"
        live_server.upsert("reports", trapped)  # after the snapshot was read, before it arrived
        live_server.remove("alerts", "a-evac")
        live_server.gate.set()
        _wait_counts(page, reports=4, road_closures=1, alerts=2)
        assert page.evaluate("window.copLayers.reports.has('r-trapped')")
        assert not page.evaluate("window.copLayers.alerts.has('a-evac')")
        assert live_server.connections == [None]  # subscribed once, before the snapshot


def test_truncated_layer_says_showing_newest_of_total(live_server: LiveServer,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    small = dataclasses.replace(layer_registry.REGISTRY["reports"], default_limit=2)
    monkeypatch.setattr(layer_registry, "REGISTRY", {**layer_registry.REGISTRY, "reports": small})
    for i in range(1200):
        live_server.upsert("reports", _point(f"r-bulk-{i}", -122.68, 45.51, "smoke", f"bulk {i}",
                                             observed_at=f"2026-11-27T07:{i % 60:02d}:00Z"))
    newest = _point("r-newest", -122.669, 45.516, "needs_help", "Person trapped",
                    observed_at="2026-11-27T11:00:00Z")
    live_server.upsert("reports", newest)
    with _browser_page(live_server) as page:
        _wait_counts(page, reports=2)
        assert "/api/v1/reports?limit=2" in live_server.reads
        note = page.locator("#cop-truncated-reports")
        assert note.is_visible() and note.inner_text() == "showing 2 newest of 1,204"
        assert page.evaluate("window.copLive.layers.reports") == {
            "drawn": 2, "synced": True, "truncated": True, "total": 1204, "returned": 2,
            "seq": live_server.seq, "text": "showing 2 newest of 1,204"}
        assert page.evaluate("window.copLive.layers.alerts.truncated") is False
        assert not page.locator("#cop-truncated-alerts").is_visible()
        assert page.evaluate("window.copLayers.reports.has('r-newest')")


def test_a_reset_hello_drops_the_picture_and_snapshots_again(live_server: LiveServer) -> None:
    with _browser_page(live_server) as page:
        _wait_counts(page, reports=3, road_closures=1, alerts=3)
        live_server.rebuild([("reports", _point("r-fresh", -122.67, 45.51, "smoke", "after the rebuild"))])
        live_server.drop_clients()
        _wait_counts(page, reports=1, road_closures=0, alerts=0)
        assert page.evaluate("[...window.copLayers.reports.keys()]") == ["r-fresh"]
        assert live_server.connections == [None, "7", None]  # resumed, was told to reset, subscribed anew
        assert page.evaluate("window.copLive.maxSeq") == 1
        live_server.upsert("reports", _point("r-next", -122.66, 45.51, "smoke", "next"))
        _wait_counts(page, reports=2)


def test_a_layer_added_to_the_registry_is_drawn(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    with_water_points(monkeypatch)
    live_server.upsert("water_points", _point("s-1", -122.672, 45.519, "shelter", "Water at the school",
                                              kind="shelter"))
    with _browser_page(live_server) as page:
        _wait_counts(page, reports=3, water_points=1)
        assert "/api/v1/water-points?limit=250" in live_server.reads
        labels = [t.strip() for t in page.locator(".leaflet-control-layers-overlays label").all_inner_texts()]
        assert labels[0] == "Water points"  # highest z first
        legend = page.eval_on_selector_all("#cop-legend [data-layer]", "ns => ns.map(n => n.dataset.layer)")
        assert legend == [*[n for n in layer_registry.REGISTRY if n != "water_points"], "water_points"]
        assert page.locator("#cop-status-panel th").all_inner_texts()[-1] == "Water points"
        # drawn in its own pane, above the reports (z 40 over 30), in the layer's colour
        assert page.evaluate("getComputedStyle(document.querySelector('.leaflet-cop-pane-water_points-pane')).zIndex") \
            == "640"
        assert page.evaluate("window.copLayers.water_points.get('s-1').options.fillColor") == "#2e7d32"
