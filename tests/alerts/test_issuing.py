"""Who may issue alerts where (authorised areas), which SAME code an alert carries, and the one issuing
flow shared by the API, the CLI and the demo."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import httpx
import pytest

from alerts.cap.xml import read_alert
from emergency.auth.models import TokenRecord
from emergency.auth.repository import TOKENS
from emergency.auth.tokens import Role, create_token, hash_token
from emergency.config import PROJECT_ROOT
from emergency.store import open_store
from emergency.stream.broker import free_port
from tests.conftest import ADMIN_TOKEN, REGION
from tests.emergency.assembly.test_durability import alert_body

SEATTLE = {"circle": {"lat": 47.6062, "lon": -122.3321, "radius_km": 1.0}}


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emergency.assembly.cli", *args], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **env})


async def same_code(system, body: dict) -> str:
    r = await system.http.post("/api/v1/alerts", json=body, headers=system.auth("alert_originator"))
    assert r.status_code == 202, r.text
    assert await system.runtime.wait_applied(timeout_s=30)
    cap = read_alert((await system.http.get(f"/api/v1/alerts/{r.json()['id']}.xml")).content)
    return cap.info[0].event_codes("SAME")[0]


# --- A.7: every token that may originate alerts carries an authorised area -----------------------------

async def test_the_admin_api_refuses_an_alert_originator_token_without_an_area(system):
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    r = await system.http.post("/api/v1/admin/tokens", json={"name": "County EM", "roles": ["alert_originator"]},
                               headers=admin)
    assert r.status_code == 422
    assert r.json()["detail"].startswith("jurisdiction: an alert_originator token needs an authorised area")
    r = await system.http.post("/api/v1/admin/tokens", json={"name": "County EM", "roles": ["alert_originator"],
                                                             "jurisdiction": REGION["jurisdiction"]}, headers=admin)
    assert r.status_code == 201
    r = await system.http.post("/api/v1/admin/tokens", json={"name": "FEMA", "roles": ["national_authority"]},
                               headers=admin)
    assert r.status_code == 201  # a national authority alerts nationwide, and says so by its role
    r = await system.http.post("/api/v1/admin/tokens", json={
        "name": "x", "roles": ["alert_originator"], "jurisdiction": {"type": "Point", "coordinates": [0, 0]}},
        headers=admin)
    assert r.status_code == 422
    assert r.json()["detail"] == "jurisdiction: must be a GeoJSON Polygon or MultiPolygon, got 'Point'"


def test_the_token_command_refuses_an_alert_originator_token_without_an_area(tmp_path):
    env = {"EMERGENCY_DATA_DIR": str(tmp_path)}
    done = cli("token", "--name", "County EM", "--role", "alert_originator", env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("emergency: error: jurisdiction: an alert_originator token needs an "
                                          "authorised area")
    area = tmp_path / "area.geojson"
    area.write_text(json.dumps(REGION["jurisdiction"]))
    done = cli("token", "--name", "County EM", "--role", "alert_originator", "--jurisdiction", str(area), env=env)
    assert done.returncode == 0, done.stderr


async def test_a_portland_token_cannot_alert_seattle(system):
    """Regression: an alert token issued an alert for Seattle (issue 9, A.7)."""
    r = await system.http.post("/api/v1/alerts", json={**alert_body(), "area": SEATTLE},
                               headers=system.auth("alert_originator"))
    assert r.status_code == 403
    assert r.json()["detail"] == ("area: 'Alert area' lies (partly) outside the originator's authorised area "
                                  "(authority.area-outside)")


async def test_a_stored_originator_token_without_an_area_may_not_alert_at_all(system):
    """Tokens made before areas were required are refused rather than trusted everywhere."""
    await system.runtime.store.repository(TOKENS).put(TokenRecord(token_hash=hash_token("old-token"), name="Old EM",
                                                     roles=["alert_originator"], agency="Old EM"))
    r = await system.http.post("/api/v1/alerts", json=alert_body(), headers={"Authorization": "Bearer old-token"})
    assert r.status_code == 403 and r.json()["detail"].startswith("area: this token has no authorised area")


async def test_a_national_authority_may_alert_anywhere(system):
    token, _ = await create_token(system.runtime.store, name="FEMA", roles=[Role.national_authority], agency="FEMA")
    r = await system.http.post("/api/v1/alerts", json={**alert_body(), "area": SEATTLE},
                               headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 202, r.text


def test_the_demo_gives_its_alert_token_the_regions_area(tmp_path):
    """Regression: the demo's alert token had no jurisdiction (issue 9, A.7)."""
    from tests.emergency.assembly.test_demo import start_demo, stop

    port = free_port()
    proc, _lines, tokens = start_demo(tmp_path, port, "--speed", "1000")
    token = tokens.get("alert_originator")
    try:
        assert token, "the demo printed no alert_originator token"
        deadline = time.monotonic() + 90
        r = httpx.post(f"http://127.0.0.1:{port}/api/v1/alerts", json={**alert_body(), "area": SEATTLE},
                       headers={"Authorization": f"Bearer {token}"}, timeout=20)
        assert r.status_code == 403 and r.json()["detail"].startswith("area: ")
        r = httpx.post(f"http://127.0.0.1:{port}/api/v1/alerts", json=alert_body(),
                       headers={"Authorization": f"Bearer {token}"}, timeout=20)
        assert r.status_code == 202, r.text
        headlines: set[str] = set()
        while time.monotonic() < deadline and len(headlines) < 5:  # the scenario's 4 alerts passed the same flow
            features = httpx.get(f"http://127.0.0.1:{port}/api/v1/alerts", timeout=5).json()["features"]
            headlines = {f["properties"]["headline"] for f in features}
            time.sleep(0.2)
        assert len(headlines) == 5, headlines
    finally:
        stop(proc)

    async def stored() -> TokenRecord | None:
        store = await open_store(f"sqlite:///{tmp_path / 'emergency.sqlite3'}")
        try:
            return await store.repository(TOKENS).get(hash_token(token))
        finally:
            await store.close()

    record = asyncio.run(stored())
    assert record is not None and record.jurisdiction == REGION["jurisdiction"]


# --- A.8: the SAME code follows the event; the tier decides WEA handling only -----------------------

@pytest.mark.parametrize("event,code", [
    ("Hazardous Materials Warning", "HMW"), ("Chemical spill", "HMW"), ("Fire", "FRW"), ("Wildfire", "FRW"),
    ("Evacuation Immediate", "EVI"), ("Shelter in place", "SPW"), ("Flash Flood Warning", "FFW"),
    ("Tornado Warning", "TOR"), ("Severe Thunderstorm Warning", "SVR"), ("Local Area Emergency", "LAE"),
    ("Something nobody listed", None), ("Firearm amnesty", None),  # issue 15: no guessed code
])
def test_the_same_code_is_chosen_from_the_event(event, code):
    from alerts.tiers import same_code_of_event

    assert same_code_of_event(event) == code


async def test_a_hazmat_alert_is_sent_as_hmw_not_cem(system):
    """Regression: a hazmat alert got CEM, the code of its tier (issue 9, A.8)."""
    assert await same_code(system, {**alert_body(), "event": "Hazardous Materials Warning"}) == "HMW"


async def test_fire_unknown_and_explicit_same_codes(system):
    assert await same_code(system, {**alert_body(), "event": "Fire"}) == "FRW"
    assert await same_code(system, {**alert_body(), "event": "Strange lights", "same_code": "CEM"}) == "CEM"
    assert await same_code(system, {**alert_body(), "event": "Gas main break", "same_code": "hmw"}) == "HMW"
    # no event: the tier's default event ("Public Safety Message") and its code
    assert await same_code(system, {**alert_body(), "tier": "public_safety", "headline": "Local notice"}) == "LAE"


async def test_an_event_naming_no_eas_event_is_refused_with_candidates_not_sent_as_cem(system):
    """Issue 15: an unknown event got CEM silently; now it is refused naming ``event`` with the closest EAS
    events, and ``same_code`` says what the sender means."""
    auth = system.auth("alert_originator")
    r = await system.http.post("/api/v1/alerts", json={**alert_body(), "event": "Tornadoes near town"}, headers=auth)
    assert r.status_code == 202  # a hazard the table knows
    r = await system.http.post("/api/v1/alerts", json={**alert_body(), "event": "Strange lights"}, headers=auth)
    assert r.status_code == 422 and r.json()["detail"].startswith("event: 'Strange lights' names no EAS event")
    assert len(r.json()["candidates"]) == 5 and all("(" in c for c in r.json()["candidates"])
    r = await system.http.post("/api/v1/alerts", json={**alert_body(), "event": "Tornado Warnng"}, headers=auth)
    assert r.status_code == 202  # "tornado" is a whole word of it
    r = await system.http.post("/api/v1/alerts", json={**alert_body(), "event": "Flod"}, headers=auth)
    assert r.status_code == 422 and any(c.startswith("Flood") for c in r.json()["candidates"][:3])


async def test_an_invalid_or_misplaced_same_code_is_refused(system):
    auth = system.auth("alert_originator")
    r = await system.http.post("/api/v1/alerts", json={**alert_body(), "same_code": "XYZ"}, headers=auth)
    assert r.status_code == 422
    assert r.json()["detail"] == "same_code: 'XYZ' is not an EAS event code"
    assert "HMW" in r.json()["candidates"]
    r = await system.http.post("/api/v1/alerts", json={**alert_body(), "same_code": "RMT"}, headers=auth)
    assert r.status_code == 422 and r.json()["detail"].startswith("same_code: 'RMT' is a test event (SAME RMT)")
    r = await system.http.post("/api/v1/alerts", json={**alert_body(), "event": "Presidential Alert"}, headers=auth)
    assert r.status_code == 422 and r.json()["detail"].startswith("event: 'Presidential Alert' is a presidential")


# --- B.4: the CLI issues through the same flow ---------------------------------------------------------

async def test_the_alert_command_issues_through_the_same_checks_and_reaches_the_picture(system, tmp_path):
    env = {"EMERGENCY_STORE_URL": system.settings.store_url, "EMERGENCY_DATA_DIR": str(tmp_path),
           "EMERGENCY_TOKEN": system.tokens["alert_originator"]}
    good = tmp_path / "alert.json"
    good.write_text(json.dumps({**alert_body(), "event": "Hazardous Materials Warning"}))
    done = cli("alert", "issue", str(good), env=env)
    assert done.returncode == 0, done.stderr
    alert_id = done.stdout.strip()
    assert await system.runtime.wait_applied(timeout_s=30)
    r = await system.http.get(f"/api/v1/alerts/{alert_id}.xml")
    assert r.status_code == 200 and read_alert(r.content).info[0].event_codes("SAME") == ["HMW"]

    seattle = tmp_path / "seattle.json"
    seattle.write_text(json.dumps({**alert_body(), "area": SEATTLE}))
    done = cli("alert", "issue", str(seattle), env=env)
    assert done.returncode == 2
    assert done.stderr.strip() == ("emergency: error: area: 'Alert area' lies (partly) outside the originator's "
                                   "authorised area (authority.area-outside)")

    done = cli("alert", "cancel", alert_id, "--note", "Leak stopped.", env=env)
    assert done.returncode == 0, done.stderr
    assert await system.runtime.wait_applied(timeout_s=30)
    cap = read_alert((await system.http.get(f"/api/v1/alerts/{alert_id}.xml")).content)
    assert cap.msg_type == "Cancel" and cap.info[0].description == "Leak stopped."

    done = cli("alert", "issue", str(good), env={**env, "EMERGENCY_TOKEN": system.tokens["coordinator"]})
    assert done.returncode == 2
    assert done.stderr.strip() == "emergency: error: tier: this token may not issue imminent_threat_severe alerts"
