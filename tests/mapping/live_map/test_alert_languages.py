"""The map's alert popup in the reader's language (issue 15): Chromium whose languages are Spanish shows the
alert's Spanish block; an English reader sees the first block."""

from __future__ import annotations

from tests.conftest import offline_page
from tests.mapping.live_map.test_browser import _entries, _pixel

AT = (45.5190, -122.6560)
ES = {"headline": "EVACÚE AHORA", "description": "El incendio avanza hacia el este",
      "instruction": "Salga por SE Hawthorne Blvd hacia el oeste"}


async def _popup(system, alert_id: str, languages: list[str] | None) -> tuple[str, str | None]:
    async with offline_page() as (page, offsite, errors):
        if languages is not None:
            await page.add_init_script(f"Object.defineProperty(navigator, 'languages', {{get: () => {languages!r}}});")
        await page.goto(f"{system.base_url}/map")
        await page.wait_for_function("(id) => window.copLayers && window.copLayers.alerts.has(id)", arg=alert_id,
                                     timeout=20_000)
        x, y = await _pixel(page, *AT)
        await page.mouse.click(x, y)
        assert alert_id in await _entries(page, 1)
        entry = page.locator(f".cop-area-entry[data-cop-id='{alert_id}']")
        text, lang = await entry.inner_text(), await entry.get_attribute("lang")
    assert offsite == [] and errors == []
    return text, lang


async def test_the_alert_popup_shows_the_readers_language(system):
    from datetime import UTC, datetime, timedelta

    body = {"tier": "imminent_threat_extreme", "headline": "EVACUATE NOW", "description": "The fire is spreading east",
            "instruction": "Leave by SE Hawthorne Blvd westbound",
            "area": {"circle": {"lat": AT[0], "lon": AT[1], "radius_km": 0.3}},
            "expires": (datetime.now(UTC) + timedelta(hours=2)).isoformat(), "translations": {"es-US": ES}}
    r = await system.http.post("/api/v1/alerts", json=body, headers=system.auth("alert_originator"))
    assert r.status_code == 202, r.text
    text, lang = await _popup(system, r.json()["id"], ["es-MX", "es"])
    assert lang == "es-US" and "EVACÚE AHORA" in text and ES["instruction"] in text and "EVACUATE NOW" not in text
    text, lang = await _popup(system, r.json()["id"], ["en-GB"])
    assert lang == "en-US" and "EVACUATE NOW" in text and "EVACÚE" not in text
