"""The report page and the tracking page in Debian's Chromium (Playwright) against the real system: a report
placed by the browser's location reaches the API; a photo's EXIF GPS becomes the location hint; a report made
offline waits in the outbox and is stored exactly once when the network returns; the tracking page shows a
coordinator's status change and public reply; the page speaks Spanish and Korean."""

from __future__ import annotations

import io
import json
import re
from typing import Any

from PIL import ExifTags, Image

from emergency.store.base import EventQuery
from feeds.citizen.updates.repository import UPDATES
from tests.conftest import eventually, offline_context
from tests.emergency.cop.test_incidents import act, incident_of, post_report, settled

HERE = {"latitude": 45.5122, "longitude": -122.6587}  # SE Hawthorne Blvd near the river
PHOTO_AT = (45.5180, -122.6700)                       # where the photo was taken (its EXIF GPS)


def browser_context(**options: Any):
    """A phone-sized Chromium context that may reach 127.0.0.1 only: (context, off-host requests, page errors)."""
    return offline_context(viewport={"width": 390, "height": 844}, **options)


async def open_report_page(context, base_url: str, path: str = "/report"):
    page = await context.new_page()
    await page.goto(base_url + path)
    await page.wait_for_selector("body[data-ready=true]")
    return page


async def citizen_reports(system) -> list:
    return await system.runtime.store.query_events(EventQuery(kinds=("citizen_report",), limit=100))


async def sent_record(page) -> dict:
    await page.wait_for_selector("#outbox li[data-state=sent]", timeout=30000)
    [record] = await page.evaluate("window.reportPage.outbox()")
    return record


def gps_jpeg(lat: float, lon: float) -> bytes:
    """A small JPEG whose EXIF carries a GPS position (degrees, minutes, seconds; N/W)."""
    def dms(value: float) -> tuple[float, float, float]:
        value = abs(value)
        d = int(value)
        m = int((value - d) * 60)
        return float(d), float(m), round((value - d - m / 60) * 3600, 4)

    exif = Image.Exif()
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N" if lat >= 0 else "S"
    gps[ExifTags.GPS.GPSLatitude] = dms(lat)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E" if lon >= 0 else "W"
    gps[ExifTags.GPS.GPSLongitude] = dms(lon)
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(buf, "JPEG", exif=exif.tobytes())
    return buf.getvalue()


async def test_my_location_places_the_report_and_the_api_stores_it(system):
    async with browser_context(geolocation=HERE, permissions=["geolocation"], locale="en-US") as (ctx, offsite, errors):
        page = await open_report_page(ctx, system.base_url)
        await page.click("button[data-category=smoke]")
        await page.click("#locate")
        await page.wait_for_selector("#where[data-source=gps]")
        await page.fill("#text", "Grey smoke over the warehouse")
        await page.click("#send")
        record = await sent_record(page)
        assert record["tracking_url"] == f"{system.settings.public_base_url()}/r/{record['id']}"
        link = await page.get_attribute("#outbox li[data-state=sent] a.track", "href")
        assert link == record["tracking_url"]
        event = await eventually(lambda: system.runtime.store.get_event(record["id"]))  # once projected
        assert event is not None and event.category == "smoke" and event.text == "Grey smoke over the warehouse"
        lon, lat = event.geometry["coordinates"]
        assert abs(lat - HERE["latitude"]) < 1e-6 and abs(lon - HERE["longitude"]) < 1e-6
        assert event.source.type == "citizen_api"
        assert offsite == [] and errors == []


async def test_a_photo_with_gps_gives_the_location_hint(system):
    async with browser_context(locale="en-US") as (ctx, offsite, errors):  # no geolocation permission
        page = await open_report_page(ctx, system.base_url)
        await page.click("button[data-category=flooding]")
        await page.set_input_files("#photo", files=[{"name": "street.jpg", "mimeType": "image/jpeg",
                                                     "buffer": gps_jpeg(*PHOTO_AT)}])
        await page.wait_for_selector("#where[data-source=photo]")
        where = await page.text_content("#where")
        assert f"{PHOTO_AT[0]:.5f}, {PHOTO_AT[1]:.5f}" in where, where
        await page.wait_for_function("document.getElementById('photo-state').textContent.includes('kB')")
        pin = await page.evaluate("(() => { const m = document.querySelector('.leaflet-marker-icon'); return !!m; })()")
        assert pin
        assert offsite == [] and errors == []


async def test_a_report_made_offline_is_queued_and_stored_exactly_once(system):
    async with browser_context(geolocation=HERE, permissions=["geolocation"], locale="en-US") as (ctx, offsite, errors):
        page = await open_report_page(ctx, system.base_url)
        await page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        await page.reload()  # now under the service worker, which has precached the page
        await page.wait_for_selector("body[data-ready=true]")
        assert await page.evaluate("!!navigator.serviceWorker.controller")

        await ctx.set_offline(True)
        await page.reload()  # the page itself comes from the service worker's cache
        await page.wait_for_selector("body[data-ready=true]")
        assert await page.is_visible("#offline")
        await page.click("button[data-category=blocked_road]")
        await page.click("#locate")
        await page.wait_for_selector("#where[data-source=gps]")
        await page.fill("#text", "Tree across the road")
        await page.click("#send")
        await page.wait_for_selector("#outbox li[data-state=queued]")
        for _ in range(3):  # retries while offline change nothing
            await page.evaluate("window.reportPage.flush()")
        [queued] = await page.evaluate("window.reportPage.outbox()")
        assert queued["state"] == "queued"
        assert await citizen_reports(system) == []

        await ctx.set_offline(False)  # the page's `online` handler sends it
        record = await sent_record(page)
        # a retry of the same outbox entry (a lost answer, another tab) is the same report
        await page.evaluate("""async () => {
            const db = await idb.openDB('citizen-reports', 1);
            const r = (await db.getAll('outbox'))[0];
            r.state = 'queued';
            await db.put('outbox', r);
        }""")
        await page.reload()  # the page retries its outbox on load
        await page.wait_for_selector("#outbox li[data-state=sent]")
        [again] = await page.evaluate("window.reportPage.outbox()")
        assert again["id"] == record["id"]
        await settled(system)
        stored = await citizen_reports(system)
        assert [e.id for e in stored] == [record["id"]]
        assert stored[0].text == "Tree across the road"
        assert offsite == [] and errors == []


async def test_a_refused_report_shows_the_servers_reason(system):
    async with browser_context(locale="en-US") as (ctx, offsite, errors):
        page = await open_report_page(ctx, system.base_url)
        await page.click("button[data-category=smoke]")
        await page.fill("#place", "Nowhere Street In Another Town")
        await page.click("#send")
        await page.wait_for_selector("#outbox li[data-state=failed]")
        text = await page.text_content("#outbox li[data-state=failed] .state")
        assert "location_text: no match in region portland" in text, text
        assert await citizen_reports(system) == []


async def test_typed_place_suggestions_place_the_pin(system):
    async with browser_context(locale="en-US") as (ctx, offsite, errors):
        page = await open_report_page(ctx, system.base_url)
        await page.click("button[data-category=damage]")
        await page.fill("#place", "Hawthorne and 20th")
        await page.click("#suggestions button >> nth=0")
        await page.wait_for_selector("#where[data-source=place]")
        await page.click("#send")
        record = await sent_record(page)
        event = await eventually(lambda: system.runtime.store.get_event(record["id"]))  # once projected
        assert event.location_text == "SE Hawthorne Blvd & SE 20th Ave, Portland"
        lon, lat = event.geometry["coordinates"]
        assert abs(lat - 45.5122) < 0.002 and abs(lon + 122.6444) < 0.002


async def test_nearby_reports_are_offered_and_the_report_joins_that_incident(system):
    first = await post_report(system, category="smoke", text="Smoke", lat=HERE["latitude"], lon=HERE["longitude"])
    second = await post_report(system, category="spot_fire", text="Flames", contact="+1 503 555 0101",
                               lat=HERE["latitude"] + 0.0003, lon=HERE["longitude"])
    await settled(system)
    iid = await incident_of(system, first)
    assert await incident_of(system, second) == iid
    async with browser_context(geolocation=HERE, permissions=["geolocation"], locale="en-US") as (ctx, offsite, errors):
        page = await open_report_page(ctx, system.base_url)
        await page.click("button[data-category=smoke]")
        await page.click("#locate")
        await page.wait_for_selector(f".nearby[data-incident='{iid}']")
        text = await page.text_content(".nearby p")
        assert text.startswith("2 people reported smoke within 100 m in the last 2 hours"), text
        await page.click("#nearby-yes")
        await page.click("#send")
        record = await sent_record(page)
        assert record["body"]["incident_id"] == iid
        await settled(system)
        assert await incident_of(system, record["id"]) == iid


async def test_the_tracking_page_shows_a_coordinators_status_change_and_reply(system):
    rid = await post_report(system, category="blocked_road", text="Tree down", contact="sam@example.org",
                            lat=HERE["latitude"], lon=HERE["longitude"])
    await settled(system)
    iid = await incident_of(system, rid)
    async with browser_context(locale="en-US") as (ctx, offsite, errors):
        page = await open_report_page(ctx, system.base_url, f"/r/{rid}")
        assert await page.get_attribute("#status", "data-status") == "received"
        assert await page.text_content("#status") == "Received"
        assert (await act(system, iid, "dismiss", reason="duplicate call", public_reason="Already cleared")).status_code == 202
        assert (await act(system, iid, "reply", text="Thanks, the road crew cleared it.")).status_code == 202
        await settled(system)
        await page.evaluate("window.trackingPage.reload()")
        await page.wait_for_selector("#status[data-status=dismissed]")
        assert await page.text_content("#reason") == "Reason: Already cleared"
        assert await page.text_content("#replies li p") == "Thanks, the road crew cleared it."
        html = await page.content()
        assert "sam@example.org" not in html and "duplicate call" not in html and "Tree down" not in html
        missing = await open_report_page(ctx, system.base_url, "/r/citizen:nope")
        assert await missing.text_content("#status") == "No report with this link."
        assert offsite == [] and errors == []


async def test_the_page_in_spanish_and_korean(system):
    async with browser_context(locale="es-MX") as (ctx, offsite, errors):
        page = await open_report_page(ctx, system.base_url)
        assert await page.get_attribute("html", "lang") == "es"
        assert await page.text_content("h1") == "Informe lo que ve"
        assert "Humo" in await page.text_content("button[data-category=smoke]")
        assert await page.text_content("#send") == "Enviar informe"
        await page.select_option("#lang", "ko")  # the switch, kept for the next visit
        assert await page.text_content("h1") == "보이는 상황을 신고하세요"
        assert "연기" in await page.text_content("button[data-category=smoke]")
        again = await open_report_page(ctx, system.base_url)
        assert await again.text_content("h1") == "보이는 상황을 신고하세요"
    async with browser_context(locale="ko-KR") as (ctx, offsite, errors):
        page = await open_report_page(ctx, system.base_url)
        assert await page.get_attribute("html", "lang") == "ko"
        assert "도로 막힘" in await page.text_content("button[data-category=blocked_road]")
        await page.click("#send")
        assert await page.text_content("#form-error") == "무엇이 보이는지 선택하세요."
        rid = await post_report(system)
        track = await open_report_page(ctx, system.base_url, f"/r/{rid}")
        assert await track.text_content("h1") == "내 신고"
        assert await track.text_content("#status") == "접수됨"
        assert offsite == [] and errors == []


async def test_the_pages_load_nothing_from_outside(system):
    r = await system.http.get("/report", headers={"Accept-Language": "ko"})
    assert r.status_code == 200 and '<html lang="ko">' in r.text
    config = json.loads(r.text.split('<script id="config" type="application/json">', 1)[1].split("</script>", 1)[0])
    assert [c["value"] for c in config["categories"]] == ["blocked_road", "spot_fire", "smoke", "flooding", "damage",
                                                          "needs_help", "other"]
    assert "http://" not in r.text.replace(system.base_url, "") and "https://" not in r.text
    worker = await system.http.get("/report-sw.js")
    assert worker.status_code == 200 and worker.headers["content-type"].startswith("text/javascript")
    assert "googleapis" not in worker.text and "/report" in worker.text
    manifest = json.loads(re.search(r"precacheAndRoute\((\[.*?\]), \{", worker.text).group(1))
    assert len(manifest) == 12
    for url in manifest:
        assert (await system.http.get(url["url"])).status_code == 200, url


async def test_the_tracking_page_confirms_the_contact_with_its_code(system):
    rid = await post_report(system, category="smoke", text="Smoke by the river", contact="kim@example.org",
                            lat=HERE["latitude"], lon=HERE["longitude"])
    updates = system.runtime.store.repository(UPDATES)
    pending = await eventually(lambda: updates.get(rid))  # the worker made the code (and queued its message)
    assert not pending.confirmed and pending.code
    async with browser_context(locale="ko-KR") as (ctx, offsite, errors):
        page = await open_report_page(ctx, system.base_url, f"/r/{rid}")
        assert await page.text_content("#confirm h2") == "상태 알림"
        await page.fill("#confirm-code", "000000" if pending.code != "000000" else "111111")
        await page.click("#confirm button")
        await page.wait_for_selector("#confirm-result[data-state=refused]")
        assert (await page.text_content("#confirm-result")).startswith("code: not the code that was sent")
        await page.fill("#confirm-code", pending.code)
        await page.click("#confirm button")
        await page.wait_for_selector("#confirm-result[data-state=confirmed]")
        assert await page.text_content("#confirm-result") == "확인되었습니다: 상태가 바뀔 때마다 알림을 받습니다."
        assert "kim@example.org" not in await page.content()
        assert offsite == [] and errors == []
    assert (await updates.get(rid)).confirmed


async def test_the_category_buttons_show_the_vendored_svg_icons_offline(system):
    async with browser_context(locale="en-US") as (ctx, offsite, errors):
        page = await open_report_page(ctx, system.base_url, "/report")
        icons = await page.evaluate("""Array.from(document.querySelectorAll('.categories button')).map(b => {
            const svg = b.querySelector('.icon svg');
            return {svg: !!svg && svg.namespaceURI === 'http://www.w3.org/2000/svg', paths: svg ? svg.children.length : 0,
                    text: b.textContent.trim()};
        })""")
        assert len(icons) == 7 and all(i["svg"] and i["paths"] > 0 for i in icons), icons
        assert [i["text"] for i in icons][:3] == ["Blocked road", "Spot fire", "Smoke"]  # no emoji left in the text
        box = await page.evaluate("document.querySelector('.categories button .icon svg').getBoundingClientRect().width")
        assert box > 10
        assert offsite == [] and errors == []
