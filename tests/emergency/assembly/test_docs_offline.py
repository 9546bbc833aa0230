"""``/docs`` works with no network: Swagger UI's files come from the package, the page links nowhere
else (favicon included), and a real Chromium that may not leave the machine renders the operations."""

from __future__ import annotations

import re

from emergency.assembly.docs import STATIC_DIR, SWAGGER_UI
from tests.conftest import offline_page

URL = re.compile(r"""(?:https?:)?//[^\s"'<>)]+""")


async def test_docs_page_links_only_to_its_own_host(system):
    r = await system.http.get("/docs")
    assert r.status_code == 200
    html = r.text
    assert URL.findall(html) == []  # no CDN, no fastapi.tiangolo.com favicon: every link is on this host
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert {a.rsplit("/", 1)[-1] for a in assets} == {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"}
    for asset in assets:
        got = await system.http.get(asset)
        assert got.status_code == 200 and len(got.content) > 500, asset
    assert (await system.http.get("/redoc")).status_code == 404  # not served: it would need a CDN
    vendored = STATIC_DIR / SWAGGER_UI.dest
    assert (vendored / "LICENSE").read_text().lstrip().startswith("Apache License")
    assert (vendored / "NOTICE").is_file()


async def test_docs_render_the_operations_in_chromium_offline(system):
    """Swagger UI (5.3x) renders a long operation list virtually: only what is near the viewport is in the page,
    so the test scrolls down as a reader would, collecting every operation path it sees, until the last tag."""
    wanted = set((await system.http.get("/openapi.json")).json()["paths"])  # every operation's path
    assert {"/api/v1/reports", "/api/v1/alerts", "/api/v1/agency/road-closures"} <= wanted
    async with offline_page(height=900) as (page, offsite, errors):
        await page.goto(f"{system.base_url}/docs")
        await page.locator(".opblock-summary-path").first.wait_for(timeout=90_000)  # a bound
        seen: set[str] = set()
        for _ in range(3_000):  # a bound: about 2.4 million pixels of scrolling
            seen |= {p.replace("\u200b", "").strip()
                     for p in await page.locator(".opblock-summary-path").all_inner_texts()}
            if wanted <= seen:
                break
            await page.mouse.wheel(0, 800)
            await page.wait_for_timeout(50)
        assert wanted <= seen, sorted(wanted - seen)  # every tag, not only the first screens
        assert await page.locator(".information-container .title").first.inner_text() != ""
        assert await page.locator(".validator-badge, img[src*='validator']").count() == 0
    assert offsite == []
    assert errors == []
