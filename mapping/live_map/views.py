"""``GET /map`` (the coordinator's live map), its static files and the offline street layer."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from mapping.live_map.assets import STATIC_DIR
from mapping.live_map.page import render_map_page

STATIC_URL = "/static/map"
router = APIRouter(tags=["live map"])


@lru_cache(maxsize=4)
def region_info(region_dir: Path) -> dict[str, Any]:
    """The region's ``region.json`` (name, center [lat, lon], zoom, bbox); a default if absent."""
    path = region_dir / "region.json"
    if not path.exists():
        return {"name": "Common operating picture", "center": [0.0, 0.0], "zoom": 2}
    return json.loads(path.read_text(encoding="utf-8"))


@router.get("/map", response_class=HTMLResponse)
async def live_map(request: Request) -> HTMLResponse:
    """The live map page: loads the current picture, then applies deltas from ``/ws/cop``."""
    settings = request.app.state.runtime.settings
    region = region_info(settings.region_dir)
    has_roads = (settings.region_dir / "roads.geojson").exists()
    page = render_map_page(
        title=f"Common operating picture — {region['name']}",
        center=tuple(region["center"]), zoom=int(region.get("zoom", 12)),
        tile_url=settings.tile_url or None, tile_attribution=settings.tile_attribution or None,
        base_layer_url="/region/roads.geojson" if has_roads else None,
        static_url=STATIC_URL,
    )
    return HTMLResponse(page)


@router.get("/region/roads.geojson", response_class=FileResponse, responses={
    200: {"content": {"application/geo+json": {}}, "description": "GeoJSON FeatureCollection (WGS 84)"}, 404: {"description": "this region has no roads file"}})
async def region_roads(request: Request) -> FileResponse:
    """The region's named roads (OSM, ODbL) used as the offline street layer."""
    path = request.app.state.runtime.settings.region_dir / "roads.geojson"
    if not path.exists():
        raise HTTPException(404, "region: this region has no roads.geojson")
    return FileResponse(path, media_type="application/geo+json")


def mount(app: FastAPI) -> None:
    """Add the page, the region layer and the vendored static files to ``app``."""
    app.include_router(router)
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="map-static")
