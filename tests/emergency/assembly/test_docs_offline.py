"""``/docs`` works with no network: Swagger UI's files come from the package, the page links nowhere
else (favicon included), and a real Chromium that may not leave the machine renders the operations."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from playwright.async_api import async_playwright

from emergency.assembly.docs import STATIC_DIR, SWAGGER_UI
from tests.mapping.live_map.test_page import CHROMIUM, CHROMIUM_ARGS

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
    offsite: list[str] = []
    errors: list[str] = []

    async def guard(route):
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:
            offsite.append(route.request.url)
            await route.abort()

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            await page.route("**/*", guard)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(f"{system.base_url}/docs")
            await page.locator(".opblock-summary-path", has_text="/api/v1/reports").first.wait_for(timeout=20_000)
            paths = await page.locator(".opblock-summary-path").all_inner_texts()
            assert {"/api/v1/reports", "/api/v1/alerts", "/api/v1/agency/road-closures"} <= {
                p.replace("\u200b", "").strip() for p in paths}
            assert await page.locator(".information-container .title").first.inner_text() != ""
            assert await page.locator(".validator-badge, img[src*='validator']").count() == 0
        finally:
            await browser.close()
    assert offsite == []
    assert errors == []
