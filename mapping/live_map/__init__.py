"""Coordinator's live incident map: folium page, vendored offline assets, live-update script.

Public surface:

* :func:`render_map_page` -- full HTML of the live map page.
* :data:`STATIC_DIR` -- folder the web app must serve at the page's ``static_url``.
* :func:`use_offline_assets` / :func:`apply_offline_assets` -- point folium at vendored files.
"""

from .assets import STATIC_DIR, UnknownAssetError, apply_offline_assets, use_offline_assets
from .page import render_map_page

__all__ = [
    "STATIC_DIR",
    "UnknownAssetError",
    "apply_offline_assets",
    "render_map_page",
    "use_offline_assets",
]
