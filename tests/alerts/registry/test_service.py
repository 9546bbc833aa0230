"""The registry's decisions without I/O: the documented need priority, who an area covers (and how far from its
centre), the tasking order, the signed check-in tokens, and the public report that names nobody."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.registry.models import NEED_PRIORITY, Caregiver, Need, Outreach, Registrant
from alerts.registry.service import (
    caregiver_confirm_key,
    caregiver_confirm_registrant,
    carried_caregiver,
    checkin_token,
    covered,
    needs_help_report,
    parse_needs,
    read_token,
    tasking,
)
from emergency.errors import ValidationFailed
from emergency.events import GeoPrecision, utcnow
from mapping.targeting import Circle


def reg(rid: str, needs: list[Need], lat: float = 45.5, lon: float = -122.6) -> Registrant:
    now = utcnow()
    return Registrant(id=rid, name=f"Name {rid}", lat=lat, lon=lon, location_label="x", geo_precision=GeoPrecision.exact,
                      needs=needs, channels=[], consent_at=now, created_at=now, created_by="0" * 16)


def out(rid: str, distance: float) -> Outreach:
    now = utcnow()
    return Outreach(id=f"chk-{rid}", alert_id="alert:a", alert_version="alert:a", registrant_id=rid, headline="h",
                    distance_m=distance, created_at=now, due_at=now + timedelta(hours=1))


def test_needs_are_validated_and_kept_in_priority_order():
    assert parse_needs(["language", "oxygen", "mobility", "oxygen"]) == [Need.oxygen, Need.mobility, Need.language]
    with pytest.raises(ValidationFailed) as refused:
        parse_needs(["oxygen", "wheelchair"])
    assert refused.value.field == "needs[1]" and "service_animal" in refused.value.candidates
    assert NEED_PRIORITY[:3] == (Need.oxygen, Need.dialysis, Need.mobility)


def test_tasking_puts_the_most_urgent_need_first_then_the_nearest():
    rows = [(out("a", 50.0), reg("a", [Need.language])), (out("b", 900.0), reg("b", [Need.hearing, Need.oxygen])),
            (out("c", 10.0), reg("c", [Need.mobility])), (out("d", 5.0), reg("d", [Need.oxygen]))]
    assert [i.registrant_id for i in tasking(rows=rows)] == ["d", "b", "c", "a"]
    assert [i.rank for i in tasking(rows=rows)] == [1, 2, 3, 4]


def test_covered_is_inside_the_area_with_the_distance_from_its_centre():
    area = Circle(45.5, -122.6, 500.0)
    got = dict(covered(area=area, locations=[("in", 45.5018, -122.6), ("out", 45.51, -122.6)]))
    assert set(got) == {"in"} and 195 < got["in"] < 205  # 0.0018° of latitude ≈ 200 m


def test_checkin_tokens_are_signed_per_answer():
    key = b"k" * 32
    token = checkin_token(key=key, outreach="chk-1", answer="help")
    assert read_token(key=key, token=token) == ("chk-1", "need_help", "registrant")
    forged = token.replace(".help.", ".safe.")
    with pytest.raises(PermissionError):
        read_token(key=key, token=forged)
    with pytest.raises(PermissionError):
        read_token(key=b"x" * 32, token=token)
    with pytest.raises(ValidationFailed):
        read_token(key=key, token="chk-1.maybe.00")


def test_the_public_report_carries_the_category_and_a_rounded_point_only():
    r = reg("a", [Need.oxygen], lat=45.512345, lon=-122.654321)
    report = needs_help_report(reg=r, outreach=out("a", 1.0), silent=True)
    assert (report.category.value, report.lat, report.lon) == ("needs_help", 45.512, -122.654)
    assert "Name" not in report.text and "oxygen" not in report.text and report.contact is None


def test_a_changed_caregiver_keeps_its_confirmation_only_with_the_same_phone():
    at = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    old = Caregiver(name="Sam", phone="+15035550142", relation="son", confirmed_at=at, stopped=True)
    same, ask = carried_caregiver(old=old, new=Caregiver(name="Sam Carer", phone="+15035550142", relation="grandson"))
    assert (same.name, same.relation, same.confirmed_at, same.stopped, ask) == ("Sam Carer", "grandson", at, True,
                                                                               False)
    moved, ask = carried_caregiver(old=old, new=Caregiver(name="Sam", phone="+15035550143"))
    assert (moved.confirmed_at, moved.stopped, ask) == (None, False, True)  # a new phone confirms itself
    assert carried_caregiver(old=None, new=Caregiver(name="Al", phone=None)) == (Caregiver(name="Al"), False)
    assert carried_caregiver(old=old, new=None) == (None, False)
    assert caregiver_confirm_key(registrant_id="reg-a", version=3) == "cgconfirm:reg-a:3"
    assert caregiver_confirm_registrant("cgconfirm:reg-a:3") == caregiver_confirm_registrant("cgconfirm:reg-a") == \
        "reg-a"
