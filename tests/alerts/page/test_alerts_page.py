"""The public alerts page ``/alerts`` in real Chromium against the real system (broker, store, fan-out, the
Web Push channel), offline: nothing may leave 127.0.0.1.

Web Push: headless Chromium's ``pushManager.subscribe`` asks Google's push service (FCM), which cannot be
reached offline. So the push test replaces ``PushManager.prototype.subscribe`` (an init script) with one that
returns a PushSubscription-shaped object whose endpoint is the local push service of issue 11
(tests/alerts/delivery/channels/test_webpush.py: it checks the VAPID JWT and decrypts the body) and whose keys
are a browser key pair made by the test. Everything around it is the page's real flow: the service worker is
registered, the VAPID key is fetched from ``/api/v1/webpush/vapid`` and handed to ``subscribe`` (asserted), the
subscription is posted to ``POST /api/v1/subscriptions`` as the webpush channel, the echo and the token are
shown, and an alert issued afterwards reaches the push service, decrypted."""

from __future__ import annotations

import ipaddress
import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp.connector
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from alerts.subscriptions.repository import SUBSCRIPTIONS
from tests.alerts.delivery.channels.test_webpush import PushService
from tests.alerts.subscriptions.conftest import _system
from tests.conftest import eventually, offline_page

HERE = {"latitude": 45.5122, "longitude": -122.6587}  # SE Hawthorne Blvd near the river (WGS 84)
FAR = (45.5600, -122.5500)                             # about 10 km north-east: outside a 1 km circle at HERE


async def _alert(system, *, headline: str, lat: float, lon: float, radius_km: float = 1.0,
                 tier: str = "imminent_threat_severe") -> str:
    body = {"tier": tier, "headline": headline, "description": f"{headline}: a chemical plume is moving east",
            "instruction": f"{headline}: go inside, close windows", "event": "Hazardous Materials Warning",
            "area": {"circle": {"lat": lat, "lon": lon, "radius_km": radius_km}},
            "expires": (datetime.now(UTC) + timedelta(hours=2)).isoformat()}
    r = await system.http.post("/api/v1/alerts", json=body, headers=system.auth("alert_originator"))
    assert r.status_code == 202, r.text
    return r.json()["id"]


@asynccontextmanager
async def browser_page(*, locale: str = "en-US", permissions: tuple[str, ...] = ("geolocation",),
                       init_script: str | None = None) -> AsyncIterator[Any]:
    """A phone-sized Chromium page at HERE (Geolocation API) with ``locale`` (its Accept-Language and
    navigator.language), reaching 127.0.0.1 only; fails the test on off-host requests and page errors."""
    async with offline_page(width=390, height=844, init_script=init_script, locale=locale, geolocation=HERE,
                            permissions=list(permissions)) as (page, offsite, errors):
        page.set_default_timeout(60_000)  # the machine may be loaded; no timing is asserted
        yield page
    assert offsite == [] and errors == [], (offsite, errors)


RECORD_NOTIFICATIONS = """(() => {
    window.__notifications = [];
    const Native = window.Notification;
    function Recording(title, options) { window.__notifications.push({title, body: (options || {}).body}); }
    Recording.requestPermission = () => Native.requestPermission();
    Object.defineProperty(Recording, 'permission', {get: () => Native.permission});
    window.Notification = Recording;
})();"""


async def test_geolocation_lists_the_covering_alerts_live_and_a_cancelled_one_as_cancelled(system, tmp_path):
    covering = await _alert(system, headline="Shelter in place", lat=HERE["latitude"], lon=HERE["longitude"])
    elsewhere = await _alert(system, headline="Far away warning", lat=FAR[0], lon=FAR[1])
    cancelled = await _alert(system, headline="Boil water notice", lat=HERE["latitude"], lon=HERE["longitude"],
                             radius_km=2.0)
    r = await system.http.post(f"/api/v1/alerts/{cancelled}/cancel", json={"note": "Water is safe again."},
                               headers=system.auth("alert_originator"))
    assert r.status_code == 202, r.text
    await eventually(_projected_cancel(system, cancelled))

    async with browser_page(permissions=("geolocation", "notifications"),
                            init_script=RECORD_NOTIFICATIONS) as page:
        await page.goto(f"{system.base_url}/alerts")
        assert await page.locator("h1").inner_text() == "Public alerts"
        await page.click("#ap-locate")
        await page.wait_for_function("document.getElementById('ap-status').dataset.state === 'live'")
        active = page.locator("#ap-active .ap-alert")
        await active.first.wait_for()
        assert await active.count() == 1
        item = page.locator(f"#ap-active [data-alert-id='{covering}']")
        text = await item.inner_text()
        assert "Shelter in place" in text and "go inside, close windows" in text
        assert "Severe" in text or "Extreme" in text  # severity
        assert await item.locator(".ap-cap").get_attribute("href") == f"/api/v1/alerts/{covering}.xml"
        assert (await system.http.get(f"/api/v1/alerts/{covering}.xml")).status_code == 200
        assert await page.locator(f"[data-alert-id='{elsewhere}']").count() == 0
        # the cancelled alert is not active: it is listed apart, as cancelled
        gone = page.locator(f"#ap-cancelled [data-alert-id='{cancelled}']")
        await gone.wait_for()
        assert "Cancelled at" in await gone.inner_text()
        assert await page.locator(f"#ap-active [data-alert-id='{cancelled}']").count() == 0
        assert "Cancelled — no longer active (1)" == await page.locator("#ap-cancelled-h").inner_text()
        # its updates: the Alert and the Cancel
        await gone.locator(".ap-updates").click()
        versions = gone.locator(".ap-thread .ap-version")
        await versions.nth(1).wait_for()
        assert [v.split(" — ")[0] for v in await versions.all_inner_texts()] == ["Cancel", "Alert"]

        # notifications while the page is open, then a new alert covering the point arrives live
        await page.click("#ap-notify")
        await page.wait_for_function("window.__notifications.length >= 2")  # the two already here, once each
        fresh = await _alert(system, headline="Evacuate east of the river", lat=HERE["latitude"],
                             lon=HERE["longitude"], radius_km=0.5, tier="imminent_threat_extreme")
        await page.locator(f"#ap-active [data-alert-id='{fresh}']").wait_for(timeout=20_000)
        ids = await page.eval_on_selector_all("#ap-active .ap-alert", "els => els.map(e => e.dataset.alertId)")
        assert ids == [fresh, covering]  # newest first
        await page.wait_for_function("window.__notifications.some(n => n.title === 'Evacuate east of the river')")
        await page.screenshot(path=str(tmp_path / "alerts-page.png"), full_page=True)
        assert await page.evaluate("performance.getEntriesByType('navigation')[0].type") == "navigate"  # no reload


def _projected_cancel(system, alert_id: str):
    async def check() -> bool:
        r = await system.http.get(f"/api/v1/events/{alert_id}")
        return r.status_code == 200 and r.json()["properties"].get("state") == "cancelled"
    return check


async def test_spanish_from_the_browser_korean_by_the_switch_and_the_alert_in_the_readers_language(system):
    alert_id = await _alert(system, headline="Shelter in place", lat=HERE["latitude"], lon=HERE["longitude"])
    async with browser_page(locale="es-MX") as page:
        await page.goto(f"{system.base_url}/alerts")
        assert await page.locator("h1").inner_text() == "Alertas públicas"
        assert await page.locator("#ap-locate").inner_text() == "Usar mi ubicación"
        assert await page.get_attribute("html", "lang") == "es"
        await page.fill("#ap-place", "SE Hawthorne Blvd & SE 12th Ave")  # a typed place, about 400 m east
        await page.click("#ap-place-form button[type=submit]")
        suggestion = page.locator("#ap-suggestions button")
        await suggestion.wait_for()
        assert "Hawthorne" in await suggestion.inner_text()
        await suggestion.click()
        assert "Hawthorne" in await page.locator("#ap-around").inner_text()
        item = page.locator(f"#ap-active [data-alert-id='{alert_id}']")
        await item.wait_for()
        assert "Qué hacer" in await item.inner_text()
        assert await item.locator(".ap-severity").inner_text() == "Grave"  # CAP's Severe, in Spanish
        # no Spanish block in this alert: its first language is shown, and the page says so
        assert "Se muestra en English" in await item.locator(".ap-note").inner_text()
        # the alert's own feature from the server, given an es-US block as issue 15's translations carry it
        feature = (await system.http.get(f"/api/v1/events/{alert_id}")).json()
        feature["properties"]["translations"] = {"es-US": {
            "headline": "Refúgiese en el lugar", "instruction": "Entre y cierre las ventanas",
            "description": "Una nube química se mueve hacia el este"}}
        feature["properties"]["received_at"] = datetime.now(UTC).isoformat()
        await page.evaluate("(f) => window.alertsPage.ingest(f)", feature)
        await page.wait_for_function(f"document.querySelector(\"[data-alert-id='{alert_id}'] .ap-headline\")"
                                     ".textContent === 'Refúgiese en el lugar'")
        assert await item.locator(".ap-headline").get_attribute("lang") == "es-US"
        assert await item.locator(".ap-instruction").inner_text() == "Entre y cierre las ventanas"

        await page.select_option("#ap-lang", "ko")
        assert await page.locator("h1").inner_text() == "공공 경보"
        assert await page.locator("#ap-locate").inner_text() == "내 위치 사용"
        assert await item.locator(".ap-headline").inner_text() == "Shelter in place"  # no Korean block: English
        assert "행동 요령" in await item.inner_text()
        await page.reload()  # the choice is kept
        assert await page.locator("h1").inner_text() == "공공 경보"
    r = await system.http.get("/alerts", headers={"Accept-Language": "ko-KR,ko;q=0.9"})
    assert r.headers["content-language"] == "ko" and "공공 경보" in r.text
    r = await system.http.get("/alerts?lang=fr")
    assert r.status_code == 422 and "lang" in r.json()["detail"]


NEAR = (45.5200, -122.6400)  # about 1.7 km north-east of HERE: outside the alerts around HERE


async def _tap(page, lat: float, lon: float) -> None:
    """Tap the map at (lat, lon), WGS 84: the map's middle is scrolled to the middle of the screen first, and
    the tap fails at once, naming what is there, unless the point is on the map inside the screen."""
    where = await page.evaluate("""([lat, lon]) => {
        const el = document.getElementById('ap-map');
        el.scrollIntoView({block: 'center', inline: 'center'});
        const p = window.alertsPage.map.latLngToContainerPoint([lat, lon]), box = el.getBoundingClientRect();
        const x = box.left + p.x, y = box.top + p.y, hit = document.elementFromPoint(x, y);
        return {x, y, on_map: !!hit && el.contains(hit), hit: hit ? hit.tagName + '#' + hit.id : null,
                box: [box.left, box.top, box.width, box.height], viewport: [innerWidth, innerHeight]};
    }""", [lat, lon])
    assert where["on_map"], where
    await page.mouse.click(where["x"], where["y"])


async def test_an_area_drawn_on_the_map_is_subscribed_and_its_new_alerts_notified(system):
    async with browser_page(permissions=("geolocation", "notifications"), init_script=RECORD_NOTIFICATIONS) as page:
        await page.goto(f"{system.base_url}/alerts")
        await page.click("#ap-locate")
        await page.wait_for_function("document.getElementById('ap-status').dataset.state === 'live'")
        await page.click("#ap-notify")
        # the view "use my location" set may still be animating (slowly, on a loaded machine), and Leaflet ends a
        # zoom animation by moving to the animation's target: set NEAR until the map stays there
        await page.wait_for_function("""([lat, lon]) => { const map = window.alertsPage.map;
            if (map._animatingZoom) return false;  // Leaflet 1.9's flag: a zoom animation is running
            if (map.getZoom() === 15 && map.getCenter().distanceTo([lat, lon]) < 1) return true;
            map.setView([lat, lon], 15, {animate: false}); return false; }""", arg=list(NEAR), polling=100)
        await page.click("#ap-draw")
        corners = [(NEAR[0] + dy, NEAR[1] + dx) for dy, dx in ((-0.002, -0.003), (-0.002, 0.003), (0.002, 0.003),
                                                                (0.002, -0.003))]
        for lat, lon in corners:
            await _tap(page, lat, lon)
        assert "4" in await page.locator("#ap-draw-status").inner_text()
        await page.click("#ap-draw-finish")
        assert await page.locator("input[name=ap-area][value=polygon]").is_checked()
        await page.check("#ap-ch-webhook")
        await page.fill("#ap-webhook", "https://hooks.example.org/alerts")
        await page.click("#ap-sub-send")
        await page.wait_for_function("!document.getElementById('ap-sub-result').hidden"
                                     " || document.getElementById('ap-sub-error').textContent !== ''", timeout=20_000)
        assert await page.locator("#ap-sub-error").inner_text() == ""
        assert await page.locator(".ap-echo-areas").inner_text() == "an area of 4 corners"
        sub = await page.evaluate("window.alertsPage.state.subscription")
        [ring] = sub["areas"][0]["coordinates"]
        assert len(ring) == 5 and ring[0] == ring[-1]
        for (lat, lon), (x, y) in zip(corners, ring[:4], strict=True):
            assert abs(x - lon) < 1e-4 and abs(y - lat) < 1e-4  # where it was tapped (a pixel is ~3 m here)

        # a new alert inside the drawn area, not covering HERE: notified, not listed around HERE
        inside = await _alert(system, headline="Gas leak on the east side", lat=NEAR[0], lon=NEAR[1], radius_km=0.1)
        await page.wait_for_function("window.__notifications.some(n => n.title === 'Gas leak on the east side')",
                                     timeout=20_000)
        assert await page.locator(f"[data-alert-id='{inside}']").count() == 0


@pytest.fixture
async def any_store_system(broker, store_url, tmp_path):
    """The system on SQLite and on PostGIS."""
    async for system in _system(broker, store_url, tmp_path):
        yield system


async def test_an_alerts_thread_lists_its_alert_update_and_cancel_with_public_fields_only(any_store_system):
    system = any_store_system
    alert_id = await _alert(system, headline="Shelter in place", lat=HERE["latitude"], lon=HERE["longitude"])
    body = {"tier": "imminent_threat_severe", "headline": "Shelter in place: extended", "instruction": "Stay in",
            "area": {"circle": {"lat": HERE["latitude"], "lon": HERE["longitude"], "radius_km": 1.5}},
            "expires": (datetime.now(UTC) + timedelta(hours=3)).isoformat()}
    r = await system.http.post(f"/api/v1/alerts/{alert_id}/update", json=body, headers=system.auth("alert_originator"))
    assert r.status_code == 202, r.text
    r = await system.http.post(f"/api/v1/alerts/{alert_id}/cancel", json={"note": "All clear"},
                               headers=system.auth("alert_originator"))
    assert r.status_code == 202, r.text
    thread = (await system.http.get(f"/api/v1/alerts/{alert_id}/thread")).json()
    assert thread["cap_url"] == f"/api/v1/alerts/{alert_id}.xml"
    assert [v["msg_type"] for v in thread["versions"]] == ["Alert", "Update", "Cancel"]
    assert [v["cap_id"] for v in thread["versions"]] == [alert_id, f"{alert_id}:1", f"{alert_id}:2"]
    assert thread["versions"][1]["headline"] == "Shelter in place: extended"
    assert [v["state"] for v in thread["versions"]] == ["active", "active", "cancelled"]
    assert "County EM" not in json.dumps(thread) and "sender" not in json.dumps(thread)  # who sent it stays out


async def test_place_search_and_thread_answer_or_name_the_field(system):
    # the page types places through the one geocoder endpoint (GET /api/v1/geocode, shared with the report page)
    r = await system.http.get("/api/v1/geocode", params={"q": "SE Hawthorne Blvd & SE 12th Ave"})
    assert r.status_code == 200, r.text
    match = r.json()["candidates"][0]
    assert "Hawthorne" in match["label"] and abs(match["lat"] - 45.512) < 0.01
    r = await system.http.get("/api/v1/geocode", params={"q": "Atlantis Boulevard of Dreams"})
    assert r.status_code == 200 and r.json()["candidates"] == []  # nothing guessed
    r = await system.http.get("/api/v1/geocode", params={"q": " "})
    assert r.status_code == 422 and r.json()["detail"].startswith("q: ")
    r = await system.http.get("/api/v1/alerts/alert:none/thread")
    assert r.status_code == 404 and r.json()["detail"].startswith("alert_id: ")


def _tls_files(tmp_path: Path) -> tuple[Path, Path, bytes]:
    """A throwaway CA and a certificate for 127.0.0.1 signed by it: (cert file, key file, CA PEM)."""
    now = datetime.now(UTC)

    def cert(subject: str, key, issuer_name, issuer_key, *, ca: bool) -> x509.Certificate:
        builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(issuer_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(hours=2))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(
                "127.0.0.1"))]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test push CA")])
    ca = cert("test push CA", ca_key, ca_name, ca_key, ca=True)
    leaf = cert("127.0.0.1", key, ca_name, ca_key, ca=False)
    cert_file, key_file = tmp_path / "push.crt", tmp_path / "push.key"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file, ca.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
async def https_push_service(tmp_path) -> AsyncIterator[PushService]:
    """Issue 11's local push service (VAPID check, aes128gcm decryption) served over TLS: the subscription API
    takes https endpoints only, as browsers' push services are. The server's Web Push channel (aiohttp's
    default verified context, made when aiohttp is imported) is told to trust the throwaway CA, as a system CA
    store would be."""
    svc = PushService()
    svc.origin = f"https://127.0.0.1:{svc.port}"
    cert_file, key_file, ca_pem = _tls_files(tmp_path)
    aiohttp.connector._SSL_CONTEXT_VERIFIED.load_verify_locations(cadata=ca_pem.decode())
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert_file, key_file)
    app = web.Application()
    app.router.add_post("/push/{name}", svc.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", svc.port, ssl_context=server_ctx).start()
    yield svc
    await runner.cleanup()


@pytest.fixture
async def push_system(broker, sqlite_url, tmp_path, https_push_service):
    async for system in _system(broker, sqlite_url, tmp_path, vapid_subject="mailto:ops@example.org"):
        yield system, https_push_service


def _fake_subscribe(subscription: dict) -> str:
    """An init script: ``pushManager.subscribe`` answers ``subscription`` (FCM is offline) and records the
    applicationServerKey it was given (base64url)."""
    return """(() => {
        const sub = __SUBSCRIPTION__;
        window.__pushKey = null;
        if (!('PushManager' in self)) return;
        PushManager.prototype.subscribe = function (options) {
            const raw = new Uint8Array(options.applicationServerKey);
            window.__pushKey = btoa(String.fromCharCode(...raw)).replace(/\\+/g, '-').replace(/\\//g, '_')
                .replace(/=+$/, '');
            return Promise.resolve({endpoint: sub.endpoint, toJSON: () => sub});
        };
    })();""".replace("__SUBSCRIPTION__", json.dumps(subscription))


async def test_subscribe_from_the_page_with_web_push_and_email_then_an_alert_arrives_decrypted(push_system):
    system, push = push_system
    vapid = (await system.http.get("/api/v1/webpush/vapid")).json()["applicationServerKey"]
    push.server_key = vapid
    device = push.browser("phone")
    async with browser_page(permissions=("geolocation", "notifications"),
                            init_script=_fake_subscribe(device.subscription())) as page:
        await page.goto(f"{system.base_url}/alerts")
        await page.click("#ap-locate")
        await page.wait_for_function("document.getElementById('ap-status').dataset.state === 'live'")
        presidential = page.locator("#ap-tier-presidential")
        assert await presidential.is_checked() and await presidential.is_disabled()
        assert not await page.locator("#ap-tier-test").is_checked()
        await page.uncheck("#ap-tier-public_safety")
        await page.fill("#ap-radius", "2000")
        await page.check("#ap-ch-webpush")
        await page.check("#ap-ch-email")
        await page.fill("#ap-email", "resident@example.org")
        await page.click("#ap-sub-send")
        result = page.locator("#ap-sub-result")
        await page.wait_for_function("!document.getElementById('ap-sub-result').hidden"
                                     " || document.getElementById('ap-sub-error').textContent !== ''", timeout=20_000)
        assert await page.locator("#ap-sub-error").inner_text() == ""
        assert await page.evaluate("window.__pushKey") == vapid  # subscribed with the server's VAPID key
        assert await page.evaluate("navigator.serviceWorker.getRegistration('/alerts').then(r => !!r)")
        areas = await result.locator(".ap-echo-areas").inner_text()
        assert areas == f"within 2000 m of {HERE['latitude']}, {HERE['longitude']}"
        tiers = await result.locator(".ap-echo-tiers").inner_text()
        assert "Presidential" in tiers and "Public safety" not in tiers and "Test" not in tiers
        channels = await result.locator(".ap-echo-channels").inner_text()
        assert "Web Push" in channels and "@example.org" in channels
        assert "resident@example.org" not in channels  # masked
        assert "shown only once" in await result.locator(".ap-warning").inner_text()
        token = await result.locator(".ap-token").inner_text()

        # the subscription exists as the page sent it
        sub_id = await page.evaluate("window.alertsPage.state.subscription.id")
        got = (await system.http.get(f"/api/v1/subscriptions/{sub_id}",
                                     headers={"Authorization": f"Bearer {token}"})).json()
        assert [c["type"] for c in got["channels"]] == ["webpush", "email"]
        assert got["areas"] == [{"type": "Point", "coordinates": [HERE["longitude"], HERE["latitude"]],
                                 "radius_m": 2000}]
        assert got["languages"] == ["en"]

        # the email's confirmation step: the code (from the store: no mail server runs here) → /confirm
        stored = await system.runtime.store.repository(SUBSCRIPTIONS).get(sub_id)
        [email] = [c for c in stored.channels if c.channel == "email"]
        form = result.locator(".ap-confirm[data-channel='email']")
        await form.locator("input").fill("000000" if email.code == "000001" else "000001")
        await form.locator("button").click()
        await form.locator(".ap-confirm-result.ap-error").wait_for()
        await form.locator("input").fill(email.code)
        await form.locator("button").click()
        await form.locator(".ap-confirm-result.ap-ok").wait_for()
        assert await form.locator(".ap-confirm-result").inner_text() == "Email confirmed"

    alert_id = await _alert(system, headline="Shelter in place", lat=HERE["latitude"], lon=HERE["longitude"])
    held = await eventually(lambda: push.held.get("phone"), timeout=30)
    assert push.refusals == []
    [msg] = held
    assert msg["payload"]["alert_id"] == alert_id and msg["payload"]["headline"] == "Shelter in place"
    assert msg["payload"]["msg_type"] == "Alert"


async def test_the_service_worker_caches_the_page_and_its_assets_for_offline_use(system):
    async with browser_page() as page:
        await page.goto(f"{system.base_url}/alerts")
        await page.wait_for_function("navigator.serviceWorker.ready.then(() => true)")
        cached = await page.evaluate("""async () => {
            await navigator.serviceWorker.ready;
            const names = (await caches.keys()).filter(n => n.startsWith('alerts-page-'));
            const cache = await caches.open(names[0]);
            return (await cache.keys()).map(r => new URL(r.url).pathname);
        }""")
        for path in ("/alerts", "/static/alerts/alerts.js", "/static/alerts/alerts.css",
                     "/static/map/vendor/leaflet/dist/leaflet.js", "/region/roads.geojson"):
            assert path in cached, (path, cached)
        await page.context.set_offline(True)
        await page.reload()
        assert await page.locator("h1").inner_text() == "Public alerts"
        assert await page.evaluate("typeof L === 'object' && !!window.alertsPage")
        await page.context.set_offline(False)
