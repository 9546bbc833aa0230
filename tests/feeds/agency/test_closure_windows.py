"""Road closures' recurring windows (closed only at set hours, in a timezone: the region's by default;
a window past midnight ends the next day) and lane detail, through the API to the map and to WZDx."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from emergency.errors import ValidationFailed
from emergency.timebounds import next_window, window_occurrences, window_state
from feeds.agency.models import RoadClosureIn
from feeds.agency.service import understand_windows
from tests.feeds.agency.test_closure_lifecycle import LINE, closures
from tests.feeds.agency.test_closures_api import body
from tests.feeds.agency.test_wzdx import URL as WZDX_URL
from tests.feeds.agency.test_wzdx import validator

URL = "/api/v1/agency/road-closures"
PORTLAND = ZoneInfo("America/Los_Angeles")


def test_a_window_past_midnight_ends_the_next_day_and_is_clipped_to_the_closure():
    # Monday 2026-11-30 (Portland, UTC-8): 22:00 Mon to 05:00 Tue is 06:00Z to 13:00Z on Tuesday
    windows = [{"days": ["mon"], "start": "22:00", "end": "05:00"}]
    at = datetime(2026, 11, 30, 12, 0, tzinfo=PORTLAND)
    assert next_window(windows=windows, timezone="America/Los_Angeles", at=at) == (
        datetime(2026, 12, 1, 6, 0, tzinfo=UTC), datetime(2026, 12, 1, 13, 0, tzinfo=UTC))
    # at 02:00 Tuesday the Monday night window is in progress
    inside = datetime(2026, 12, 1, 2, 0, tzinfo=PORTLAND)
    state = window_state(attributes={"windows": windows, "timezone": "America/Los_Angeles",
                                     "start": at.isoformat(), "end": None}, now=inside)
    assert state == {"next_window": {"start": "2026-12-01T06:00:00Z", "end": "2026-12-01T13:00:00Z"},
                     "in_window_now": True}
    # a closure ending at 03:00 Tuesday cuts the window there; one ending before 22:00 Monday has none
    cut = window_occurrences(windows=windows, timezone="America/Los_Angeles", after=at,
                             within=(at, datetime(2026, 12, 1, 3, 0, tzinfo=PORTLAND)))
    assert cut == [(datetime(2026, 12, 1, 6, 0, tzinfo=UTC), datetime(2026, 12, 1, 11, 0, tzinfo=UTC))]
    assert window_occurrences(windows=windows, timezone="America/Los_Angeles", after=at,
                              within=(at, datetime(2026, 11, 30, 21, 0, tzinfo=PORTLAND))) == []


def test_windows_need_a_timezone_when_the_region_names_none():
    closure = RoadClosureIn.model_validate({**body("T1", geometry=LINE),
                                            "windows": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                                                         "start": "00:00", "end": "23:59"}]})
    with pytest.raises(ValidationFailed) as exc:
        understand_windows(closure=closure, region=None, now=datetime.now(UTC))
    assert exc.value.field == "timezone"
    given = closure.model_copy(update={"timezone": "Europe/Berlin"})
    zone, first = understand_windows(closure=given, region=None, now=datetime.now(UTC))
    assert zone == "Europe/Berlin" and first is not None


async def test_windows_and_lanes_are_echoed_shown_on_the_map_and_in_a_valid_wzdx_feed(system):
    agency = system.auth("agency")
    # a window starting two hours from now (Portland time), one hour long, past midnight if it wraps
    soon = (datetime.now(UTC) + timedelta(hours=2)).astimezone(PORTLAND).replace(second=0, microsecond=0)
    later = soon + timedelta(hours=1)
    window = {"days": [("mon", "tue", "wed", "thu", "fri", "sat", "sun")[soon.weekday()]],
              "start": soon.strftime("%H:%M"), "end": later.strftime("%H:%M")}
    r = await system.http.post(URL, json=body("R1", geometry=LINE, windows=[window], lanes=["open", "closed", "closed"]),
                               headers=agency)
    assert r.status_code == 202, r.text
    echo = r.json()
    assert echo["windows"] == [window] and echo["timezone"] == "America/Los_Angeles"  # the region's
    assert echo["next_window"] == {"start": soon.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                   "end": later.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert echo["lanes"] == ["open", "closed", "closed"]
    # always closed: 00:00-12:00 and 12:00 to midnight (a window past midnight ending at 00:00)
    always = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "00:00", "end": "12:00"},
              {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "12:00", "end": "00:00"}]
    r2 = await system.http.post(URL, json=body("R2", geometry=LINE, windows=always, timezone="UTC"), headers=agency)
    assert r2.status_code == 202 and r2.json()["timezone"] == "UTC", r2.text
    shown = await closures(system)
    p1, p2 = shown[echo["id"]]["properties"], shown[r2.json()["id"]]["properties"]
    assert p1["windows"] == [window] and p1["timezone"] == "America/Los_Angeles"
    assert p1["next_window"] == echo["next_window"] and p1["in_window_now"] is False
    assert p1["lanes"] == ["open", "closed", "closed"] and p1["lanes_affected"] == 2
    assert p2["in_window_now"] is True
    feed = (await system.http.get(WZDX_URL)).json()
    validator().validate(feed)
    by_id = {f["id"]: f["properties"] for f in feed["features"]}
    z1, z2 = by_id[echo["id"]], by_id[r2.json()["id"]]
    assert z1["work_zone_type"] == "static" and z1["event_status"] == "planned"
    assert z2["work_zone_type"] == "static" and z2["event_status"] == "active"
    assert f"{window['start']}-{window['end']} (America/Los_Angeles); next {echo['next_window']['start']}" \
        in z1["core_details"]["description"]
    assert z1["lanes"] == [{"order": 1, "type": "general", "status": "open"},
                           {"order": 2, "type": "general", "status": "closed"},
                           {"order": 3, "type": "general", "status": "closed"}]
    assert z1["vehicle_impact"] == "some-lanes-closed" and "lanes" not in z2


async def test_bad_windows_and_lanes_are_refused_naming_the_field(system):
    ok = {"days": ["mon"], "start": "08:00", "end": "17:00"}
    start = datetime.now(UTC) + timedelta(days=2)
    short = {**body("B1", geometry=LINE), "start": start.isoformat(), "end": (start + timedelta(minutes=30)).isoformat()}
    cases = [
        (body("B1", geometry=LINE, windows=[ok, {**ok, "start": "8am"}]), "windows[1].start: "),
        (body("B1", geometry=LINE, windows=[ok, {**ok, "end": "24:00"}]), "windows[1].end: "),
        (body("B1", geometry=LINE, windows=[{**ok, "days": []}]), "windows[0].days: "),
        (body("B1", geometry=LINE, windows=[{**ok, "days": ["monday"]}]), "windows[0].days: "),
        (body("B1", geometry=LINE, windows=[{**ok, "end": "08:00"}]), "windows[0].end: must differ from start"),
        (body("B1", geometry=LINE, windows=[ok] * 15), "windows: at most 14"),
        (body("B1", geometry=LINE, windows=[ok], timezone="Mars/Olympus"), "timezone: "),
        ({**short, "windows": [{"days": [("mon", "tue", "wed", "thu", "fri", "sat", "sun")[
            (start + timedelta(days=3)).weekday()]], "start": "08:00", "end": "17:00"}]}, "windows: no window falls"),
        (body("B1", geometry=LINE, lanes=["open", "open"]), "lanes: at least one lane"),
        (body("B1", geometry=LINE, lanes=["open", "closed"], lanes_affected="all"), "lanes_affected: "),
        (body("B1", geometry=LINE, lanes=["shut"]), "lanes.0"),
    ]
    for payload, reason in cases:
        r = await system.http.post(URL, json=payload, headers=system.auth("agency"))
        assert r.status_code == 422 and reason in r.json()["detail"], (reason, r.text)
