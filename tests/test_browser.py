"""The coordinator's view end to end: real Chromium opens /map on the real system; a report posted
through the API appears as a marker without a reload, a social cluster's popup says how many people
posted it, and nothing is fetched from off the machine."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.async_api import async_playwright

from feeds.social.pipeline import public_ref
from tests.conftest import report_body
from tests.test_durability import closure_body
from tests.test_live_map_page import CHROMIUM, CHROMIUM_ARGS
from tests.test_social_api import post


async def test_report_marker_appears_live_on_the_map(system, tmp_path):
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
            page = await browser.new_page(viewport={"width": 1280, "height": 800})
            await page.route("**/*", guard)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(f"{system.base_url}/map")
            await page.wait_for_function("document.getElementById('cop-status')?.textContent.trim().toLowerCase() === 'live'",
                                         timeout=15_000)
            assert await page.locator("#cop-count-reports").inner_text() == "0"
            # the offline street layer of the region is drawn
            await page.wait_for_function("window.copLayers !== undefined", timeout=10_000)

            r = await system.http.post("/api/v1/reports", json=report_body(category="spot_fire", text="Flames by the fence"))
            report_id = r.json()["id"]
            await page.wait_for_function("(id) => window.copLayers.reports.has(id)", arg=report_id, timeout=20_000)
            assert await page.locator("#cop-count-reports").inner_text() == "1"
            c = await system.http.post("/api/v1/agency/road-closures", json=closure_body("PBOT-99"),
                                       headers=system.auth("agency"))
            await page.wait_for_function("(id) => window.copLayers.road_closures.has(id)", arg=c.json()["id"],
                                         timeout=20_000)

            # three people post the same smoke report: one item on the map that says so
            text = "Thick smoke pouring from the warehouse on SE Water Ave"
            r = await system.http.post("/api/v1/social/posts", headers=system.auth("coordinator"), json={"posts": [
                post("p1", text, author="ann", lat=45.5171, lon=-122.6655),
                post("p2", text + " http://t.co/x", author="ben", lat=45.5172, lon=-122.6656),
                post("p3", "RT " + text, author="cat", lat=45.5170, lon=-122.6654),
            ]})
            assert {d["cluster"] for d in r.json()["decisions"]} == {"p1"}, r.text
            await page.wait_for_function(
                f"() => {{ const m = window.copLayers.reports.get('social:jsonl:{public_ref('p1')}');"
                " return m && m.feature && m.feature.properties.count === 3; }", timeout=20_000)
            await page.evaluate(f"() => {{ window.copLayers.reports.get('social:jsonl:{public_ref('p1')}').openPopup(); }}")
            popup = page.locator(".cop-popup")
            await popup.wait_for(timeout=5_000)
            rows = await popup.locator(".cop-popup-rows").first.inner_text()
            assert "3 posts from 3 people" in rows and "First seen" in rows and "Last seen" in rows
            assert "ann" not in await popup.inner_text()  # authors stay private
            await page.screenshot(path=str(tmp_path / "map.png"))
            assert await page.evaluate("performance.navigation.type") == 0  # never reloaded
        finally:
            await browser.close()
    assert offsite == []
    assert errors == []
