"""The live map's report popup in real Chromium: no thumbnail for the public before the report is verified, the
thumbnail for a coordinator who entered a token (fetched with it), and for everyone once verified."""

from __future__ import annotations

import json

from tests.emergency.cop.test_incidents import act, incident_of
from tests.feeds.photos import images
from tests.mapping.live_map.test_browser import _map_page

ONE_POPUP = "() => document.querySelectorAll('.leaflet-popup .cop-popup').length === 1"
LOADED = "() => { const i = document.querySelector('.cop-popup .cop-popup-photo'); return i && i.naturalWidth > 0; }"


async def test_the_report_popup_shows_the_photo_to_whoever_may_see_it(system):
    body = {"category": "smoke", "text": "Smoke over the school", "lat": 45.5122, "lon": -122.6587}
    r = await system.http.post("/api/v1/reports", files=[("report", (None, json.dumps(body))),
                                                         ("photo", ("IMG_1.jpg", images.jpeg(), "image/jpeg"))])
    assert r.status_code == 202, r.text
    report_id, photo = r.json()["id"], r.json()["photos"][0]
    async with _map_page(system) as (page, reads):
        await page.wait_for_function("(id) => window.copLayers.reports.has(id)", arg=report_id, timeout=60_000)
        open_popup = f"() => {{ window.copLayers.reports.get({report_id!r}).openPopup(); }}"
        close_popup = f"() => {{ window.copLayers.reports.get({report_id!r}).closePopup(); }}"
        await page.evaluate(open_popup)
        await page.locator(".cop-popup").wait_for(timeout=30_000)
        assert await page.locator(".cop-popup .cop-popup-photo").count() == 0  # the public, unverified: none
        await page.evaluate(close_popup)

        await page.evaluate(f"() => window.sessionStorage.setItem('cop-coordinator-token', "
                            f"{system.tokens['coordinator']!r})")
        await page.evaluate(open_popup)
        await page.wait_for_function(LOADED, timeout=60_000)
        await page.wait_for_function(ONE_POPUP, timeout=10_000)  # a marker rebuilt meanwhile: its popup fades out
        src = await page.locator(".cop-popup .cop-popup-photo").get_attribute("src")
        assert src.startswith("blob:")  # fetched with the token
        await page.evaluate(close_popup)
        await page.evaluate("() => window.sessionStorage.removeItem('cop-coordinator-token')")

        incident_id = await incident_of(system, report_id)
        assert (await act(system, incident_id, "verify", reason="crew on site")).status_code == 202
        await page.wait_for_function(
            "(id) => { const m = window.copLayers.reports.get(id);"
            " return m && m.feature && (m.feature.properties.photos || []).length === 1; }",
            arg=report_id, timeout=60_000)
        await page.evaluate(open_popup)
        await page.wait_for_function(LOADED, timeout=60_000)
        await page.wait_for_function(ONE_POPUP, timeout=10_000)
        assert await page.locator(".cop-popup .cop-popup-photo").get_attribute("src") == photo["url"]


async def test_an_open_popup_is_replaced_not_doubled_when_its_report_changes(system):
    """The report's marker is rebuilt when its feature changes (here: its incident verified) while the popup is
    open: the new popup opens in its place, and the old one (with a coordinator's photo) does not stay behind."""
    body = {"category": "smoke", "text": "Smoke by the depot", "lat": 45.5131, "lon": -122.6601}
    r = await system.http.post("/api/v1/reports", files=[("report", (None, json.dumps(body))),
                                                         ("photo", ("IMG_2.jpg", images.jpeg(), "image/jpeg"))])
    assert r.status_code == 202, r.text
    report_id = r.json()["id"]
    async with _map_page(system) as (page, reads):
        await page.wait_for_function("(id) => window.copLayers.reports.has(id)", arg=report_id, timeout=60_000)
        await page.evaluate(f"() => window.sessionStorage.setItem('cop-coordinator-token', "
                            f"{system.tokens['coordinator']!r})")
        await page.evaluate(f"() => {{ window.__old = window.copLayers.reports.get({report_id!r}); "
                            f"window.__old.openPopup(); }}")
        await page.wait_for_function(LOADED, timeout=60_000)  # the coordinator's photo, fetched with the token
        incident_id = await incident_of(system, report_id)
        assert (await act(system, incident_id, "verify", reason="crew on site")).status_code == 202
        await page.wait_for_function(  # the marker rebuilt with the verified feature
            "(id) => { const m = window.copLayers.reports.get(id); return m && m !== window.__old; }",
            arg=report_id, timeout=60_000)
        await page.wait_for_function(LOADED, timeout=60_000)
        await page.wait_for_function(ONE_POPUP, timeout=10_000)  # Leaflet fades the old one out (200 ms)
        assert await page.locator(".cop-popup .cop-popup-photo").count() == 1
