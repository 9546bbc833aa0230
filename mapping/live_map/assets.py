"""Point folium's JavaScript/CSS links at our vendored copies instead of CDNs.

Every folium asset class derives from :class:`folium.elements.JSCSSMixin` and, when
rendered, adds a ``<script src>``/``<link href>`` to the page header for each
``(name, url)`` pair in its ``default_js`` / ``default_css`` lists. The names are
stable ("leaflet", "markerclusterjs", ...), so we translate by name to files under
:data:`STATIC_DIR`, served by the web app at ``static_url``.

Two ways to apply it:

* :func:`apply_offline_assets` (preferred, used by :mod:`.page`): sets per-instance
  lists on the elements of one map, leaving folium's class attributes untouched,
  and fails loudly if the map uses an asset we have not vendored.
* :func:`use_offline_assets`: rewrites the class-level lists of every loaded folium
  asset class, for code that builds other folium maps in the same process.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType

import folium.plugins  # noqa: F401  (imported so every plugin asset class is registered)
from branca.element import Element
from folium.elements import JSCSSMixin

STATIC_DIR: Path = Path(__file__).resolve().parent / "static"
"""Folder to serve at ``static_url`` (holds ``live.js``, ``live.css`` and ``vendor/``)."""

DEFAULT_STATIC_URL = "/static/map"

Link = tuple[str, str]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")

OFFLINE_ASSETS: Mapping[str, str | None] = MappingProxyType(
    {
        # folium.Map
        "leaflet": "vendor/leaflet/dist/leaflet.js",
        "jquery": "vendor/jquery/dist/jquery.min.js",
        "bootstrap": "vendor/bootstrap/dist/js/bootstrap.bundle.min.js",
        "awesome_markers": "vendor/leaflet-awesome-markers/js/leaflet.awesome-markers.min.js",
        "leaflet_css": "vendor/leaflet/dist/leaflet.css",
        "bootstrap_css": "vendor/bootstrap/dist/css/bootstrap.min.css",
        "glyphicons_css": None,  # Bootstrap 3 glyphicons: dropped, see folium-compat.css
        "awesome_markers_font_css": "vendor/fontawesome-free/css/all.min.css",
        "awesome_markers_css": "vendor/leaflet-awesome-markers/css/leaflet.awesome-markers.css",
        "awesome_rotate_css": "folium-compat.css",
        # folium.plugins.MarkerCluster
        "markerclusterjs": "vendor/leaflet.markercluster/dist/leaflet.markercluster.js",
        "markerclustercss": "vendor/leaflet.markercluster/dist/MarkerCluster.css",
        "markerclusterdefaultcss": "vendor/leaflet.markercluster/dist/MarkerCluster.Default.css",
    }
)
"""folium asset name -> path relative to :data:`STATIC_DIR` (``None``: drop the link)."""


class UnknownAssetError(LookupError):
    """A folium element needs a browser asset that is not vendored (it would hit a CDN)."""


def _base(static_url: str) -> str:
    return static_url.rstrip("/")


def is_external(url: str) -> bool:
    """True if ``url`` would leave the page's own origin (has a scheme or starts with ``//``)."""
    return url.startswith("//") or _SCHEME.match(url) is not None


_UPSTREAM_HINTS: Mapping[str, str] = MappingProxyType(
    {
        "leaflet": "leaflet",
        "jquery": "jquery",
        "bootstrap": "bootstrap",
        "awesome_markers": "awesome-markers",
        "leaflet_css": "leaflet",
        "bootstrap_css": "bootstrap",
        "glyphicons_css": "glyphicons",
        "awesome_markers_font_css": "fontawesome",
        "awesome_markers_css": "awesome-markers",
        "awesome_rotate_css": "rotate",
        "markerclusterjs": "markercluster",
        "markerclustercss": "markercluster",
        "markerclusterdefaultcss": "markercluster",
    }
)
"""Substring an upstream URL must contain for its name to be trusted: folium reuses some
names for other files (``BoatMarker`` ships its own script as "markerclusterjs")."""

_NOT_VENDORED = object()


def _vendored_rel(name: str, url: str) -> str | None | object:
    """Vendored path for one folium link, ``None`` to drop it, or ``_NOT_VENDORED``."""
    if name not in OFFLINE_ASSETS:
        return _NOT_VENDORED
    if is_external(url) and _UPSTREAM_HINTS[name] not in url.lower():
        return _NOT_VENDORED
    return OFFLINE_ASSETS[name]


def offline_links(links: Iterable[Link], static_url: str = DEFAULT_STATIC_URL) -> list[Link]:
    """Translate folium ``(name, url)`` pairs to vendored URLs below ``static_url``.

    Links that are already local (relative or root-relative URLs) and not known by
    name are kept as they are.

    Raises:
        UnknownAssetError: if an external link has no vendored equivalent.
    """
    base = _base(static_url)
    result: list[Link] = []
    for name, url in links:
        rel = _vendored_rel(name, url)
        if rel is _NOT_VENDORED:
            if is_external(url):
                raise UnknownAssetError(f"folium asset {name!r} ({url}) is not vendored")
            result.append((name, url))
        elif rel is not None:
            result.append((name, f"{base}/{rel}"))
    return result


def _walk(element: Element) -> Iterator[Element]:
    yield element
    for child in list(element._children.values()):
        yield from _walk(child)


def apply_offline_assets(element: Element, static_url: str = DEFAULT_STATIC_URL) -> None:
    """Give every asset element in ``element``'s tree its own vendored link lists.

    Call it after the map is fully built and before rendering. Only instance
    attributes are set, so other folium maps in the process are unaffected.
    Idempotent (links are translated by name).

    Raises:
        UnknownAssetError: if some element needs an asset we do not vendor.
    """
    for node in _walk(element.get_root()):
        if isinstance(node, JSCSSMixin):
            node.default_js = offline_links(node.default_js, static_url)
            node.default_css = offline_links(node.default_css, static_url)


def _asset_classes() -> Iterator[type[JSCSSMixin]]:
    seen: set[type] = set()
    stack: list[type] = [JSCSSMixin]
    while stack:
        cls = stack.pop()
        if cls in seen:
            continue
        seen.add(cls)
        yield cls
        stack.extend(cls.__subclasses__())


def _rewrite_known(links: Iterable[Link], static_url: str) -> list[Link]:
    base = _base(static_url)
    out: list[Link] = []
    for name, url in links:
        rel = _vendored_rel(name, url)
        if rel is _NOT_VENDORED:
            out.append((name, url))  # not vendored: left as folium ships it
        elif rel is not None:
            out.append((name, f"{base}/{rel}"))
    return out


_applied_static_url: str | None = None


def use_offline_assets(static_url: str = DEFAULT_STATIC_URL) -> None:
    """Rewrite the class-level ``default_js``/``default_css`` of all folium asset classes.

    Affects every folium map rendered afterwards in this process (folium.Map,
    folium.plugins.MarkerCluster and any other class using a vendored asset name).
    Assets of plugins we do not vendor keep their CDN URLs. Idempotent: a repeat
    call with the same ``static_url`` does nothing; a different one re-points.
    """
    global _applied_static_url
    if _applied_static_url == static_url:
        return
    for cls in _asset_classes():
        own = vars(cls)
        if "default_js" in own:
            cls.default_js = _rewrite_known(own["default_js"], static_url)
        if "default_css" in own:
            cls.default_css = _rewrite_known(own["default_css"], static_url)
    _applied_static_url = static_url
