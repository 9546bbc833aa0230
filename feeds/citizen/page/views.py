"""``GET /report`` (the report page), ``GET /report-sw.js`` (its service worker), ``GET /r/{id}`` (a report's
tracking page) and their static files, every one served from this package (no CDN)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Header, Path, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from emergency.i18n import negotiate
from feeds.citizen.page.service import STATIC_DIR, STATIC_URL, render_page, render_worker
from mapping.live_map.views import region_info

router = APIRouter(tags=["report page"])
NO_CACHE = {"Cache-Control": "no-cache"}  # always revalidated: the service worker keeps the offline copy


def _page(request: Request, **kwargs: object) -> str:
    settings = request.app.state.runtime.settings
    return render_page(settings=settings, region=region_info(settings.region_dir), **kwargs)  # type: ignore[arg-type]


@router.get("/report", response_class=HTMLResponse)
async def report_page(request: Request, lang: str | None = None,
                      accept_language: str | None = Header(None, alias="Accept-Language")) -> HTMLResponse:
    """The report page, in the browser's language (``?lang=`` or the page's switch choose another: en, es, ko)."""
    language = negotiate([lang] if lang else accept_language)
    return HTMLResponse(_page(request, page="report", language=language),
                        headers=NO_CACHE)


@router.get("/r/{report_id}", response_class=HTMLResponse)
async def tracking_page(request: Request, report_id: str = Path(max_length=400), lang: str | None = None,
                        accept_language: str | None = Header(None, alias="Accept-Language")) -> HTMLResponse:
    """A report's public tracking page: its status and the coordinators' public replies (nothing private)."""
    language = negotiate([lang] if lang else accept_language)
    return HTMLResponse(_page(request, page="track", language=language,
                                    report_id=report_id), headers=NO_CACHE)


@router.get("/report-sw.js", response_class=Response, responses={200: {"content": {"text/javascript": {}}}})
async def service_worker(request: Request) -> Response:
    """The report page's service worker (Workbox, vendored): precaches the page and its assets by content hash."""
    return Response(render_worker(settings=(s := request.app.state.runtime.settings), region=region_info(s.region_dir)), media_type="text/javascript",
                    headers=NO_CACHE)


def mount(app: FastAPI) -> None:
    """Add the pages, the worker and the static files to ``app``."""
    app.include_router(router)
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="report-static")
