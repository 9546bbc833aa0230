"""Build the coordinator's live map page (one self-contained HTML document, no CDN links).

The page is a folium map with one empty layer group per layer of the registry
(:data:`emergency.layers.REGISTRY`: "markers" layers as a marker cluster, "lines" and "areas"
layers as feature groups), optionally "Streets (offline)", and a layer control.
``static/live.js`` finds the map, the layers (``Layer.page_config()``, in legend order) and the
groups through the JSON blob in ``<script id="cop-config" type="application/json">`` and fills
them from the layers' read routes and the change stream (the protocol is described at the top of
``static/live.js``).
Coordinates: ``center`` is (lat, lon) in WGS 84; the GeoJSON the browser loads is lon/lat
(RFC 7946).

The web app must serve :data:`mapping.live_map.assets.STATIC_DIR` at ``static_url``.
"""

from __future__ import annotations

import hashlib
import html
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import folium
from branca.element import Element, Figure
from folium.elements import JSCSSMixin
from folium.plugins import MarkerCluster
from folium.template import Template

import emergency.layers as layer_registry

from .assets import DEFAULT_STATIC_URL, STATIC_DIR, apply_offline_assets

CONFIG_ELEMENT_ID = "cop-config"
MAX_ZOOM = 19

STREETS_TITLE = "Streets (offline)"
CLUSTER_OPTIONS = {"chunkedLoading": True, "disableClusteringAtZoom": 17, "maxClusterRadius": 50}


class _RawHtml(Element):
    """Header element that emits a pre-built HTML string verbatim (no Jinja parsing of it)."""

    _template = Template("{{ this.markup }}")

    def __init__(self, markup: str) -> None:
        super().__init__()
        self._name = "RawHtml"
        self.markup = markup


def _json_for_script(data: dict[str, Any]) -> str:
    """Serialise ``data`` so it cannot terminate or confuse the enclosing ``<script>``."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


@lru_cache(maxsize=32)
def _content_hash(path: Path, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _own_asset_url(static_url: str, rel_path: str) -> str:
    """URL of one of our own static files with a content-hash query for cache busting."""
    path = STATIC_DIR / rel_path
    stat = path.stat()
    version = _content_hash(path, stat.st_mtime_ns, stat.st_size)
    return f"{static_url.rstrip('/')}/{rel_path}?v={version}"


class _LiveAssets(JSCSSMixin):
    """Links our own ``live.js`` / ``live.css`` (with a content-hash query for cache busting)."""

    _template = Template("")

    def __init__(self, static_url: str) -> None:
        super().__init__()
        self._name = "LiveAssets"
        self.default_js = [("cop_live_js", _own_asset_url(static_url, "live.js"))]
        self.default_css = [("cop_live_css", _own_asset_url(static_url, "live.css"))]


def render_map_page(
    *,
    title: str,
    center: tuple[float, float],
    zoom: int,
    tile_url: str | None,
    tile_attribution: str | None,
    base_layer_url: str | None,
    changes_path: str = "/api/v1/changes",
    ws_path: str = "/ws/cop",
    static_url: str = DEFAULT_STATIC_URL,
) -> str:
    """Return the full HTML of the live map page.

    Args:
        title: document title (plain text; escaped).
        center: initial map centre as (lat, lon), WGS 84 degrees.
        zoom: initial Leaflet zoom level.
        tile_url: XYZ tile URL template (``.../{z}/{x}/{y}.png``); falsy for no tiles.
        tile_attribution: attribution HTML for the tiles; required when ``tile_url`` is set.
        base_layer_url: URL of a GeoJSON FeatureCollection of road LineStrings drawn as a
            light "Streets (offline)" base layer, or ``None``.
        changes_path: path of the changes page (``GET ?after=SEQ``) on the page's host.
        ws_path: path of the live-update WebSocket (``?after=SEQ`` to resume) on the page's host.
        static_url: URL where :data:`~mapping.live_map.assets.STATIC_DIR` is served.

    Raises:
        ValueError: if ``tile_url`` is set without ``tile_attribution``, or ``center`` is
            outside WGS 84 bounds.
    """
    lat, lon = center
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise ValueError(f"center must be (lat, lon) in degrees, got {center!r}")
    if tile_url and not tile_attribution:
        raise ValueError("tile_attribution is required when tile_url is set")

    figure = Figure(title=html.escape(title))
    fmap = folium.Map(
        location=[lat, lon],
        zoom_start=zoom,
        tiles=None,
        control_scale=True,
        prefer_canvas=False,
        maxZoom=MAX_ZOOM,  # Leaflet.markercluster needs a map maxZoom even without tiles
    )
    figure.add_child(fmap)
    if tile_url:
        folium.TileLayer(
            tiles=tile_url,
            attr=tile_attribution,
            name="Tiles",
            overlay=False,
            control=False,
            max_zoom=MAX_ZOOM,
            max_native_zoom=MAX_ZOOM - 1,
        ).add_to(fmap)

    layers = list(layer_registry.REGISTRY.values())  # read now: a layer added to the registry shows up
    layer_vars: dict[str, str | None] = {}
    for layer in sorted(layers, key=lambda item: -item.z):  # layer control lists the topmost first
        group = (MarkerCluster(name=layer.title, options=CLUSTER_OPTIONS) if layer.draw == "markers"
                 else folium.FeatureGroup(name=layer.title))
        group.add_to(fmap)  # drawing order is set by panes in live.js (from each layer's z)
        layer_vars[layer.name] = group.get_name()
    layer_vars["streets"] = None
    if base_layer_url:
        streets = folium.FeatureGroup(name=STREETS_TITLE)
        streets.add_to(fmap)
        layer_vars["streets"] = streets.get_name()
    folium.LayerControl(collapsed=False, position="topright").add_to(fmap)

    config = {
        "map_var": fmap.get_name(),
        "layers": [layer.page_config() for layer in layers],
        "layer_vars": layer_vars,
        "streets_title": STREETS_TITLE,
        "changes_path": changes_path,
        "ws_path": ws_path,
        "base_layer_url": base_layer_url or None,
        "has_tiles": bool(tile_url),
    }
    header = figure.header
    header.add_child(
        _RawHtml(
            '<link rel="icon" type="image/svg+xml" '
            f'href="{html.escape(_own_asset_url(static_url, "favicon.svg"))}"/>'
        ),
        name="cop_favicon",
    )
    header.add_child(
        _RawHtml(
            f'<script id="{CONFIG_ELEMENT_ID}" type="application/json">'
            f"{_json_for_script(config)}</script>"
        ),
        name="cop_config",
    )
    # Added last, so live.css/live.js come after the Leaflet and plugin links.
    _LiveAssets(static_url).add_to(fmap)

    apply_offline_assets(fmap, static_url)
    return figure.render()
