"""The coordinator's view end to end: real Chromium opens /map on the real system; a report posted
through the API appears as a marker without a reload, a social cluster's popup says how many people
posted it, and nothing is fetched from off the machine. The live-picture protocol on the real system:
overlapping alerts listed in priority order (CAP XML link, cancel shown as cancelled), a truncated layer
says "showing N newest of M", an ended closure leaves the open map, a dropped socket resumes after the
last seq with no gap and no duplicate."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import emergency.layers as layer_registry
from feeds.social.pipeline import public_ref
from tests.conftest import eventually, offline_page, report_body
from tests.emergency.assembly.test_durability import closure_body
from tests.feeds.social.test_api import post


async def test_report_marker_appears_live_on_the_map(system, tmp_path):
    async with offline_page() as (page, offsite, errors):
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
    assert offsite == []
    assert errors == []


# ---------------------------------------------------------------- the live-picture protocol on the real system

@asynccontextmanager
async def _map_page(system, *, record_socket: bool = False) -> AsyncIterator[tuple[Any, list[str]]]:
    """Chromium on the real /map, synced (status live, every layer's snapshot applied); yields the page
    and the paths of its snapshot reads. Fails the test on page errors and off-host requests."""
    reads: list[str] = []
    async with offline_page() as (page, offsite, errors):
        page.on("request", lambda r: reads.append(urlsplit(r.url).path + "?" + urlsplit(r.url).query)
                if urlsplit(r.url).path.startswith("/api/") else None)
        if record_socket:  # every message any socket of the page receives, in order
            await page.add_init_script("""(() => {
                window.__received = [];
                const Native = window.WebSocket;
                window.WebSocket = function (url, protocols) {
                    const ws = new Native(url, protocols);
                    ws.addEventListener('message', (e) => window.__received.push(JSON.parse(e.data)));
                    return ws;
                };
                window.WebSocket.prototype = Native.prototype;
                Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
            })();""")
        await page.goto(f"{system.base_url}/map")
        await page.wait_for_function(
            "window.copLive && window.copLive.status === 'live'"
            " && Object.values(window.copLive.layers).every(l => l.synced)", timeout=15_000)
        yield page, reads
    assert [f"offsite: {u}" for u in offsite] + [f"pageerror: {e}" for e in errors] == []


async def _alert(system, *, tier: str, headline: str, lat: float, lon: float, radius_km: float) -> str:
    body = {"tier": tier, "headline": headline, "description": f"{headline}: the fire is spreading east",
            "instruction": f"{headline}: leave by SE Hawthorne Blvd westbound",
            "area": {"circle": {"lat": lat, "lon": lon, "radius_km": radius_km}},
            "expires": (datetime.now(UTC) + timedelta(hours=2)).isoformat()}
    r = await system.http.post("/api/v1/alerts", json=body, headers=system.auth("alert_originator"))
    assert r.status_code == 202, r.text
    return r.json()["id"]


async def _pixel(page, lat: float, lon: float) -> tuple[float, float]:
    """The page pixel of (lat, lon), WGS 84."""
    return await page.evaluate(
        """([lat, lon]) => {
            const map = window[JSON.parse(document.getElementById('cop-config').textContent).map_var];
            const p = map.latLngToContainerPoint([lat, lon]);
            const box = map.getContainer().getBoundingClientRect();
            return [box.left + p.x, box.top + p.y];
        }""", [lat, lon])


async def _entries(page, n: int) -> list[str]:
    await page.wait_for_function("(n) => document.querySelectorAll('.cop-area-list .cop-area-entry').length === n",
                                 arg=n, timeout=5_000)
    return await page.eval_on_selector_all(".cop-area-list .cop-area-entry", "ns => ns.map(n => n.dataset.copId)")


async def test_overlapping_alerts_list_every_alert_and_a_cancel_shows_as_cancelled(system):
    evac_at = (45.5190, -122.6560)  # (lat, lon) inside the region, away from the panels
    async with _map_page(system) as (page, _):
        evac = await _alert(system, tier="imminent_threat_extreme", headline="EVACUATE NOW", lat=evac_at[0],
                            lon=evac_at[1], radius_km=0.3)
        await page.wait_for_function("(id) => window.copLayers.alerts.has(id)", arg=evac, timeout=20_000)
        test = await _alert(system, tier="test", headline="TEST of the alert system", lat=45.518106,
                            lon=-122.654868, radius_km=5.0)  # issued after: would be drawn over the small one
        await page.wait_for_function("(id) => window.copLayers.alerts.has(id)", arg=test, timeout=20_000)

        x, y = await _pixel(page, *evac_at)
        assert await page.evaluate(
            "([id, x, y]) => window.copLayers.alerts.get(id).getLayers()[0]._path === document.elementFromPoint(x, y)",
            [evac, x, y])
        await page.mouse.click(x, y)
        assert await _entries(page, 2) == [evac, test]
        entry = page.locator(f".cop-area-entry[data-cop-id='{evac}']")
        text = await entry.inner_text()
        assert text.count("EVACUATE NOW") == 3  # headline once, then in description and instruction
        assert "the fire is spreading east" in text and "leave by SE Hawthorne Blvd westbound" in text
        assert "Active alert" in text and "Imminent threat: extreme" in text
        href = await entry.locator("a", has_text="CAP XML").get_attribute("href")
        cap = await page.request.get(system.base_url + href)
        assert cap.status == 200 and "<headline>EVACUATE NOW</headline>" in await cap.text()

        r = await system.http.post(f"/api/v1/alerts/{evac}/cancel", json={"note": "Fire is out."},
                                   headers=system.auth("alert_originator"))
        assert r.status_code == 202, r.text
        await page.wait_for_function(
            "(id) => window.copLayers.alerts.get(id).getLayers()[0]._path.getAttribute('fill') === 'none'",
            arg=evac, timeout=20_000)
        # the open list follows: the cancelled alert moves below the active TEST alert and says so
        assert await _entries(page, 2) == [test, evac]
        sub = await page.locator(f".cop-area-entry[data-cop-id='{evac}'] .cop-popup-sub").inner_text()
        assert sub.startswith("Cancelled at ")


async def test_a_truncated_layer_shows_the_newest_and_says_so(system, monkeypatch):
    small = dataclasses.replace(layer_registry.REGISTRY["reports"], default_limit=3)
    monkeypatch.setattr(layer_registry, "REGISTRY", {**layer_registry.REGISTRY, "reports": small})
    ids = []
    for i in range(5):
        r = await system.http.post("/api/v1/reports", json=report_body(text=f"Smoke report {i}",
                                                                       lat=45.51 + i / 1000))
        ids.append(r.json()["id"])
    await eventually(lambda: _total(system), timeout=20)
    async with _map_page(system) as (page, reads):
        assert "/api/v1/reports?limit=3" in reads
        note = page.locator("#cop-truncated-reports")
        assert await note.inner_text() == "showing 3 newest of 5" and await note.is_visible()
        assert await page.evaluate("[...window.copLayers.reports.keys()].sort()") == sorted(ids[2:])
        trapped = await system.http.post("/api/v1/reports", json=report_body(category="needs_help",
                                                                              text="Person trapped"))
        await page.wait_for_function("(id) => window.copLayers.reports.has(id)", arg=trapped.json()["id"],
                                     timeout=20_000)
        assert await page.locator("#cop-count-reports").inner_text() == "4"


async def _total(system) -> bool:
    return (await system.http.get("/api/v1/reports?limit=1")).json().get("total") == 5


async def test_a_dropped_socket_resumes_after_max_seq_with_no_gap_and_no_duplicate(system):
    async with _map_page(system, record_socket=True) as (page, reads):
        seq = await page.evaluate("window.copLive.maxSeq")
        await page.evaluate("window.copLive.disconnect()")
        r = await system.http.post("/api/v1/reports", json=report_body(category="needs_help", text="Person trapped"))
        missed = r.json()["id"]
        await eventually(lambda: _has(system, missed), timeout=20)
        await page.evaluate("window.copLive.connect()")
        await page.wait_for_function("(id) => window.copLayers.reports.has(id)", arg=missed, timeout=20_000)
        urls = await page.evaluate("window.copLive.socketUrls")
        assert len(urls) == 2 and urls[1].endswith(f"/ws/cop?after={seq}")
        after = await system.http.post("/api/v1/reports", json=report_body(text="After the reconnect"))
        await page.wait_for_function("(id) => window.copLayers.reports.has(id)", arg=after.json()["id"],
                                     timeout=20_000)
        received = await page.evaluate("window.__received")
        upserts = [m for m in received if m.get("type") == "upsert" and m["feature"]["id"] == missed]
        assert len(upserts) == 1, received
        seqs = [m["seq"] for m in received if m.get("type") in ("upsert", "remove")]
        assert seqs == sorted(set(seqs))
        assert [p for p in reads if p.startswith("/api/v1/reports")] == ["/api/v1/reports?limit=5000"]
        assert await page.evaluate("window.copLive.maxSeq") == seqs[-1]


async def _has(system, event_id: str) -> bool:
    return (await system.http.get(f"/api/v1/events/{event_id}")).status_code == 200


async def test_a_closure_popup_names_the_road_and_an_ended_closure_leaves_the_open_map(system):
    async with _map_page(system) as (page, _):
        body = closure_body("PBOT-END")
        body["end"] = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()  # the sweeper ends it soon
        r = await system.http.post("/api/v1/agency/road-closures", json=body, headers=system.auth("agency"))
        closure = r.json()["id"]
        await page.wait_for_function("(id) => window.copLayers.road_closures.has(id)", arg=closure, timeout=20_000)
        await page.evaluate("(id) => { window.copLayers.road_closures.get(id).openPopup(); }", closure)
        popup = page.locator(".leaflet-popup .cop-popup")
        await popup.wait_for(timeout=5_000)
        rows = dict(zip(await popup.locator("dt").all_inner_texts(), await popup.locator("dd").all_inner_texts()))
        assert rows["Road"] == "SE Hawthorne Blvd"
        assert rows["Agency"] == "City of Portland" and rows["Reason"] == "Tree and power lines down"
        assert "From" in rows and "Until" in rows
        # its end passes: a remove change takes it off the map, no reload
        await page.wait_for_function("(id) => !window.copLayers.road_closures.has(id)", arg=closure, timeout=30_000)
        assert await page.locator("#cop-count-road_closures").inner_text() == "0"
        assert await page.evaluate("performance.navigation.type") == 0


async def test_a_coordinator_verifies_an_incident_from_its_popup(system):
    """The incidents layer on the real system: a coordinator enters a token in the popup, verifies the incident
    with its button, and the marker's state turns verified live; a wrong-role token is told why."""
    first = await system.http.post("/api/v1/reports", json=report_body(category="smoke", text="Smoke by the school"))
    await system.http.post("/api/v1/reports", json=report_body(category="spot_fire", text="Flames by the fence"))
    assert await system.runtime.wait_applied(timeout_s=30)
    incident = (await system.http.get(f"/api/v1/events/{first.json()['id']}")).json()["properties"]["incident_id"]
    async with _map_page(system) as (page, _):
        await page.wait_for_function("(id) => window.copLayers.incidents.has(id)", arg=incident, timeout=20_000)
        open_popup = f"() => {{ window.copLayers.incidents.get({incident!r}).openPopup(); }}"
        close_popup = f"() => {{ window.copLayers.incidents.get({incident!r}).closePopup(); }}"
        await page.evaluate(open_popup)
        popup = page.locator(".cop-popup")
        await popup.wait_for(timeout=5_000)
        assert "corroborated" in (await popup.locator(".cop-popup-sub").inner_text()).lower()
        await popup.locator(".cop-token-input").fill(system.tokens["agency"])  # the wrong role first
        await popup.locator(".cop-action-token").click()
        await page.evaluate(close_popup)
        await page.evaluate(open_popup)
        await popup.locator(".cop-action-verify").click()
        result = popup.locator(".cop-incident-result")
        await page.wait_for_function("() => document.querySelector('.cop-incident-result').dataset.status === '403'",
                                     timeout=10_000)
        assert "coordinator" in await result.inner_text()
        await page.evaluate(f"() => window.sessionStorage.setItem('cop-coordinator-token', "
                            f"{system.tokens['coordinator']!r})")
        await page.evaluate(close_popup)
        await page.evaluate(open_popup)
        await popup.locator(".cop-action-verify").click()
        await page.wait_for_function("() => document.querySelector('.cop-incident-result').dataset.status === '202'",
                                     timeout=10_000)
        await page.wait_for_function(
            "(id) => window.copLayers.incidents.get(id).feature.properties.status === 'verified'", arg=incident,
            timeout=20_000)
        last = page.locator(".cop-popup").last  # a live update re-opens the popup on the redrawn marker
        for action, fill, prop, value in (("claim", None, "claimed", True), ("note", "hose team on site", None, None),
                                          ("release", None, "claimed", False),
                                          ("resolve", None, "status", "resolved"),
                                          ("reopen", None, "status", "corroborated")):
            await page.evaluate(close_popup)
            await page.evaluate(open_popup)
            if fill:
                await last.locator(".cop-note-input").fill(fill)
            await last.locator(f".cop-action-{action}").click()
            await page.wait_for_function(
                "() => [...document.querySelectorAll('.cop-incident-result')].some(r => r.dataset.status === '202')",
                timeout=10_000)
            assert await system.runtime.wait_applied(timeout_s=30)
            if prop:
                await page.wait_for_function(
                    "([id, k, v]) => Boolean(window.copLayers.incidents.get(id).feature.properties[k]) === Boolean(v)"
                    " && (k !== 'status' || window.copLayers.incidents.get(id).feature.properties[k] === v)",
                    arg=[incident, prop, value], timeout=20_000)
    state = (await system.http.get(f"/api/v1/incidents/{incident}")).json()
    assert [e["action"] for e in state["audit"]] == ["verify", "claim", "note", "release", "resolve", "reopen"]


async def test_at_low_zoom_incidents_replace_the_raw_reports(system):
    """Below ``REPORTS_MIN_ZOOM`` the reports layer is hidden and the incidents stand for them (the legend says
    so); zooming back in draws the reports again."""
    first = await system.http.post("/api/v1/reports", json=report_body(category="smoke", text="Smoke by the school"))
    assert await system.runtime.wait_applied(timeout_s=30)
    report = first.json()["id"]
    incident = (await system.http.get(f"/api/v1/events/{report}")).json()["properties"]["incident_id"]
    threshold = layer_registry.REPORTS_MIN_ZOOM
    set_zoom = ("(z) => { window[JSON.parse(document.getElementById('cop-config').textContent).map_var]"
                ".setZoom(z, {animate: false}); }")
    async with _map_page(system) as (page, _):
        await page.wait_for_function("([r, i]) => window.copLayers.reports.has(r) && window.copLayers.incidents.has(i)",
                                     arg=[report, incident], timeout=20_000)
        shown = await page.evaluate("() => window.copLive.shown")
        assert "reports" in shown and "incidents" in shown  # the region opens closer than the threshold
        assert await page.locator("#cop-zoom-note").inner_text() == "Reports and incidents shown"

        await page.evaluate(set_zoom, threshold - 2)
        await page.wait_for_function("() => !window.copLive.shown.includes('reports')", timeout=5_000)
        assert "incidents" in await page.evaluate("() => window.copLive.shown")
        note = await page.locator("#cop-zoom-note").inner_text()
        assert "reports hidden, incidents shown" in note and f"level {threshold}" in note
        assert await page.get_attribute('#cop-legend [data-layer="reports"]', "data-hidden") == "zoom"

        await page.evaluate(set_zoom, threshold)
        await page.wait_for_function("() => window.copLive.shown.includes('reports')", timeout=5_000)
        assert "incidents" in await page.evaluate("() => window.copLive.shown")
        assert await page.locator("#cop-zoom-note").inner_text() == "Reports and incidents shown"
        assert await page.get_attribute('#cop-legend [data-layer="reports"]', "data-hidden") == ""


async def test_a_coordinator_splits_a_report_off_an_incident_from_its_popup(system):
    """The popup lists the incident's reports; the coordinator ticks one and splits it off: two incidents."""
    first = await system.http.post("/api/v1/reports", json=report_body(category="smoke", text="Smoke by the school"))
    second = await system.http.post("/api/v1/reports", json=report_body(category="spot_fire",
                                                                         text="Flames by the fence"))
    assert await system.runtime.wait_applied(timeout_s=30)
    a, b = first.json()["id"], second.json()["id"]
    incident = (await system.http.get(f"/api/v1/events/{a}")).json()["properties"]["incident_id"]
    assert (await system.http.get(f"/api/v1/events/{b}")).json()["properties"]["incident_id"] == incident
    async with _map_page(system) as (page, _):
        await page.wait_for_function("(id) => window.copLayers.incidents.has(id)", arg=incident, timeout=20_000)
        await page.evaluate(f"() => window.sessionStorage.setItem('cop-coordinator-token', "
                            f"{system.tokens['coordinator']!r})")
        await page.evaluate(f"() => {{ window.copLayers.incidents.get({incident!r}).openPopup(); }}")
        popup = page.locator(".cop-popup")
        await popup.wait_for(timeout=5_000)
        await popup.locator(".cop-split summary").click()
        rows = popup.locator(".cop-split-report")
        assert await rows.count() == 2
        await page.wait_for_function("() => [...document.querySelectorAll('.cop-split-report span')]"
                                     ".some(s => s.textContent.includes('Flames by the fence'))", timeout=10_000)
        await popup.locator(".cop-action-split").click()  # nothing ticked: refused in the page
        assert "tick the reports" in await popup.locator(".cop-incident-result").inner_text()
        await popup.locator(f'.cop-split-report input[value="{b}"]').check()
        await popup.locator(".cop-action-split").click()
        await page.wait_for_function("() => document.querySelector('.cop-incident-result').dataset.status === '202'",
                                     timeout=10_000)
        assert await system.runtime.wait_applied(timeout_s=30)
        await page.wait_for_function("() => window.copLayers.incidents.size === 2", timeout=20_000)
    new = (await system.http.get(f"/api/v1/events/{b}")).json()["properties"]["incident_id"]
    assert new != incident
    incidents = {f["id"]: f["properties"] for f in (await system.http.get("/api/v1/incidents")).json()["features"]}
    assert set(incidents) == {incident, new}
    assert incidents[incident]["report_ids"] == [a] and incidents[new]["report_ids"] == [b]
    state = (await system.http.get(f"/api/v1/incidents/{incident}")).json()
    assert [(e["action"], e.get("reports"), e.get("into")) for e in state["audit"]] == [("split", [b], new)]
