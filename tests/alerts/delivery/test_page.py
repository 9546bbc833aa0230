"""The delivery page draws the curve per channel from the report, offline, in a real Chromium."""

from __future__ import annotations

from tests.alerts.delivery.conftest import delivering_system
from tests.alerts.delivery.peers import INSIDE, point_target
from tests.alerts.delivery.test_fanout import issue, subscribe
from tests.conftest import eventually, offline_page
from tests.emergency.assembly.test_durability import alert_body


async def test_the_page_draws_the_delivery_curve_per_channel(broker, sqlite_url, tmp_path):
    async with delivering_system(broker, sqlite_url, tmp_path) as d:
        await subscribe(d, *[point_target(f"s{i}", INSIDE[0] + i * 1e-6, INSIDE[1]) for i in range(5)])
        alert_id = await issue(d, alert_body())
        await eventually(lambda: len(d.peer.requests) == 5)
        await eventually(lambda: _all_sent(d, alert_id))
        async with offline_page() as (page, offsite, errors):
            await page.goto(f"{d.system.base_url}/alerts/{alert_id}/deliveries")
            await page.fill("#token", "wrong-token")
            await page.click("button[type=submit]")
            await page.wait_for_function("document.getElementById('error').textContent.startsWith('401')")
            await page.fill("#token", d.system.tokens["coordinator"])
            await page.click("button[type=submit]")
            await page.wait_for_selector("svg#curve polyline[data-channel=webhook]", state="attached")
            cells = await page.locator("#counts tr[data-channel=webhook] td").all_text_contents()
            assert cells[:4] == ["webhook", "5", "0", "5"]  # channel, targeted, queued, sent
            points = await page.get_attribute("svg#curve polyline[data-channel=webhook]", "points")
            assert len(points.split()) >= 2
            assert not offsite and not errors


async def _all_sent(d, alert_id: str) -> bool:
    from alerts.delivery.ledger import DELIVERIES

    rows = await d.system.runtime.store.repository(DELIVERIES).progress(alert_id)
    return len(rows) == 5 and all(p.sent_at is not None for p in rows)
