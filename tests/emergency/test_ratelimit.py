"""Rate limits on every citizen intake path, one limiter (emergency/ratelimit.py): per client address, per
contact and per partner application, across the JSON report API and Open311, and the hook the SMS and email
intake call; beyond a limit 429 with Retry-After and a detail naming the limit (never the contact)."""

from __future__ import annotations

import pytest

from emergency.auth.tokens import Role, create_token
from emergency.config import Settings
from emergency.errors import RateLimited
from emergency.ratelimit import IntakeLimits
from tests.conftest import PORTLAND_POINT, phone_leaks, report_body, running_system

OPEN311 = "/open311/v2/requests.json"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
OPEN311_BODY = f"service_code=smoke&lat={PORTLAND_POINT['lat']}&long={PORTLAND_POINT['lon']}"


def refused(r, limit: str) -> str:
    assert r.status_code == 429, r.text
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    body = r.json()
    detail = body[0]["description"] if isinstance(body, list) else body["detail"]
    if isinstance(body, list):
        assert body[0]["code"] == 429  # Open311's error format
    assert detail.startswith(f"rate: at most {limit}"), detail
    return detail


async def test_reports_from_one_address_are_limited_across_the_json_api_and_open311(broker, sqlite_url, tmp_path):
    async with running_system(broker, sqlite_url, tmp_path, intake_rate="2/minute") as system:
        assert (await system.http.post("/api/v1/reports", json=report_body())).status_code == 202
        assert (await system.http.post(OPEN311, content=OPEN311_BODY, headers=FORM)).status_code == 200
        refused(await system.http.post("/api/v1/reports", json=report_body()),
                "2 per 1 minute from one address (EMERGENCY_INTAKE_RATE)")
        refused(await system.http.post(OPEN311, content=OPEN311_BODY, headers=FORM),
                "2 per 1 minute from one address (EMERGENCY_INTAKE_RATE)")
        assert (await system.runtime.store.journal_counts()).total == 2


async def test_reports_from_one_contact_are_limited_on_every_path_and_the_contact_is_never_said(
        broker, sqlite_url, tmp_path):
    async with running_system(broker, sqlite_url, tmp_path, intake_rate="100/minute", intake_contact_rate="1/minute") as system:
        r = await system.http.post("/api/v1/reports", json=report_body(contact="Jo@Example.org"))
        assert r.status_code == 202, r.text
        again = await system.http.post("/api/v1/reports", json=report_body(contact=" jo@example.ORG"))
        detail = refused(again, "1 per 1 minute from one contact (EMERGENCY_INTAKE_CONTACT_RATE)")
        assert "jo@" not in detail.lower()
        by_open311 = await system.http.post(OPEN311, content=OPEN311_BODY + "&email=jo%40example.org", headers=FORM)
        refused(by_open311, "1 per 1 minute from one contact")
        other = await system.http.post("/api/v1/reports", json=report_body(contact="sam@example.org"))
        assert other.status_code == 202, other.text


async def test_a_partner_application_is_counted_by_its_key_not_its_servers_address(broker, sqlite_url, tmp_path):
    async with running_system(broker, sqlite_url, tmp_path, intake_rate="1/minute", intake_partner_rate="2/minute") as system:
        key, _ = await create_token(system.runtime.store, name="FixMyStreet", roles=[Role.partner])
        for _ in range(2):  # beyond the address's 1/minute: a partner is not counted per address
            r = await system.http.post(OPEN311, content=f"{OPEN311_BODY}&api_key={key}", headers=FORM)
            assert r.status_code == 200, r.text
        refused(await system.http.post(OPEN311, content=f"{OPEN311_BODY}&api_key={key}", headers=FORM),
                "2 per 1 minute from one partner application (EMERGENCY_INTAKE_PARTNER_RATE)")
        assert (await system.http.post("/api/v1/reports", json=report_body())).status_code == 202  # the address's own


async def test_subscription_creation_counts_in_the_same_limiter(broker, sqlite_url, tmp_path):
    async with running_system(broker, sqlite_url, tmp_path, subscribe_rate="1/minute") as system:
        body = {"areas": [{"zone": "ORZ111"}], "channels": [{"type": "mqtt"}]}
        assert (await system.http.post("/api/v1/subscriptions", json=body)).status_code == 201
        r = await system.http.post("/api/v1/subscriptions", json=body)
        assert r.status_code == 429 and r.json()["detail"].startswith(
            "subscription: at most 1 per 1 minute from one address (EMERGENCY_SUBSCRIBE_RATE)")
        assert "subscription" in system.runtime.intake_limits.limits
        assert (await system.http.post("/api/v1/reports", json=report_body())).status_code == 202  # its own budget


async def test_the_sms_and_email_hook_counts_a_number_by_its_digits_and_an_address_case_blind():
    limits = IntakeLimits.from_settings(Settings(intake_contact_rate="1/minute"))
    await limits.check_contact("+1 (503) 555-0100")
    with pytest.raises(RateLimited) as caught:
        await limits.check_contact("+15035550100")
    assert caught.value.status == 429 and caught.value.retry_after_s >= 1
    assert "EMERGENCY_INTAKE_CONTACT_RATE" in str(caught.value) and not phone_leaks(str(caught.value), "+15035550100")
    await limits.check_contact("Sender@Example.org")
    with pytest.raises(RateLimited):
        await limits.check_contact("sender@example.org")


async def test_a_refused_request_uses_up_none_of_the_limits():
    limits = IntakeLimits.from_settings(Settings(intake_rate="2/minute", intake_contact_rate="1/minute"))
    await limits.check(address="10.0.0.1", contact="a@example.org")
    with pytest.raises(RateLimited, match="contact"):
        await limits.check(address="10.0.0.1", contact="a@example.org")
    await limits.check(address="10.0.0.1", contact="b@example.org")  # the address still had its second slot
    with pytest.raises(RateLimited, match="address"):
        await limits.check(address="10.0.0.1")


async def test_open311_reads_spend_the_clients_read_budget_of_the_picture(broker, sqlite_url, tmp_path):
    async with running_system(broker, sqlite_url, tmp_path, read_budget="1500/minute") as system:
        assert (await system.http.get("/open311/v2/requests.json")).status_code == 200  # counts max_requests: 1000
        r = await system.http.get("/open311/v2/servicerequestupdates.xml")
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert b"<code>429</code>" in r.content and b"limit: read budget spent" in r.content
        assert (await system.http.get("/open311/v2/requests.json", params={"max_requests": 100})).status_code == 200
