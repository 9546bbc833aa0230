"""The correlation rules (emergency/cop/incidents/correlate.py) on real envelopes, without the stream."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from emergency.cop.incidents.correlate import Correlator, distance_m, incident_envelope
from emergency.cop.incidents.models import Status, incident_id_for
from emergency.events import Envelope, GeoPrecision, Kind, Source

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
LAT, LON = 45.5122, -122.6400
M_LAT = 1 / 110_574  # degrees of latitude per metre


def report(rid: str, category: str, *, north_m: float = 0.0, east_m: float = 0.0, minutes: int = 0,
           text: str = "", road: str | None = None, kind: Kind = Kind.citizen_report, contact: str | None = None,
           source: str = "citizen_web", ref: str | None = None, geometry: dict | None = None) -> Envelope:
    lat = LAT + north_m * M_LAT
    lon = LON + east_m * M_LAT / 0.7010  # cos(45.51°)
    at = T0 + timedelta(minutes=minutes)
    attrs: dict = {"private": {"contact": contact}} if contact else {}
    if road and kind is Kind.agency_report:
        attrs["road_name"] = road
    return Envelope(id=rid, kind=kind, source=Source(type=source, ref=ref), observed_at=at, received_at=at,
                    category=category, text=text, geometry=geometry or {"type": "Point", "coordinates": [lon, lat]},
                    location_text=road if kind is not Kind.agency_report else road,
                    geo_precision=GeoPrecision.exact, attributes=attrs)


def closure(rid: str, *, north_m: float, road: str, minutes: int = 0, text: str = "Closed") -> Envelope:
    lat = LAT + north_m * M_LAT
    line = {"type": "LineString", "coordinates": [[LON - 0.003, lat], [LON + 0.003, lat]]}
    return report(rid, "road_closure", kind=Kind.agency_report, source="agency_api", ref=rid, road=road,
                  geometry=line, minutes=minutes, text=text)


def test_distance_is_metres_on_the_ground():
    a = report("a", "smoke").geometry
    b = report("b", "smoke", north_m=1000, east_m=1000).geometry
    assert abs(distance_m(a, b) - 1414.2) < 15


def test_blocked_road_same_road_joins_but_a_parallel_road_does_not():
    c = Correlator()
    first = c.add_report(report("r1", "blocked_road", road="SE Hawthorne Blvd", text="tree across the road"))
    same = c.add_report(report("r2", "blocked_road", east_m=200, road="SE Hawthorne Blvd & SE 20th Ave",
                               text="fallen tree"))
    parallel = c.add_report(report("r3", "blocked_road", north_m=150, road="SE Madison St", text="fallen tree"))
    assert first == same == {incident_id_for("r1")}
    assert parallel == {incident_id_for("r3")}
    far = c.add_report(report("r4", "blocked_road", east_m=600, road="SE Hawthorne Blvd"))
    assert far == {incident_id_for("r4")}  # same road, beyond 300 m


def test_smoke_seen_2_km_away_joins_the_fire_but_damage_is_one_address():
    c = Correlator()
    fire = c.add_report(report("f1", "spot_fire", text="flames in the brush"))
    smoke = c.add_report(report("s1", "smoke", north_m=2000, minutes=20, text="smoke to the south"))
    assert smoke == fire
    assert c.add_report(report("s2", "smoke", north_m=5000, minutes=20)) != fire  # beyond 3 km
    assert c.add_report(report("s3", "smoke", north_m=100, minutes=60 * 7)) != fire  # beyond the time window
    d1 = c.add_report(report("d1", "damage", east_m=1000))
    assert c.add_report(report("d2", "damage", east_m=1030)) == d1
    assert c.add_report(report("d3", "damage", east_m=1200)) != d1
    assert c.add_report(report("fl", "flooding", north_m=10)) != fire  # another family


def test_two_agency_closures_50_m_apart_stay_two_and_crowd_reports_attach_to_them():
    c = Correlator()
    a = c.add_report(closure("agency:pbot:1", north_m=0, road="SE Hawthorne Blvd"))
    b = c.add_report(closure("agency:pbot:2", north_m=50, road="SE Hawthorne Blvd"))
    assert a != b
    crowd = c.add_report(report("c1", "blocked_road", north_m=10, east_m=100, road="SE Hawthorne Blvd"))
    assert crowd == a
    inc = c.incidents[next(iter(a))]
    assert inc.status is Status.corroborated  # one authoritative source
    again = c.add_report(closure("agency:pbot:1", north_m=0, road="SE Hawthorne Blvd", minutes=5,
                                 text="Reopened one lane"))  # an update of the source item
    assert again == a
    assert incident_envelope(inc).text == "Reopened one lane"
    assert set(inc.members) == {"agency:pbot:1", "c1"}


def test_text_similarity_breaks_a_tie_and_status_rises_with_independent_reporters():
    c = Correlator()
    tree = c.add_report(report("t1", "blocked_road", text="big oak tree down across lanes"))
    wreck = c.add_report(report("w1", "blocked_road", east_m=500, text="car crash blocking traffic"))
    assert tree != wreck
    mid = c.add_report(report("m1", "blocked_road", east_m=250, text="oak tree down", contact="a@example.org"))
    assert mid == tree
    inc = c.incidents[next(iter(tree))]
    assert inc.status is Status.corroborated  # t1 and m1: two distinct reporters
    env = incident_envelope(inc)
    assert env.attributes["reporters"] == 2 and env.attributes["report_count"] == 2
    assert env.attributes["sources"] == {"citizen_web": 2}
    assert env.confidence > 0.5 and env.attributes["hull"]["type"] == "LineString"
    assert "a@example.org" not in env.model_dump_json(exclude={"attributes": {"private"}})


def test_the_same_inputs_give_the_same_incidents():
    inputs = [report(f"r{i}", "smoke", north_m=300 * i, minutes=i) for i in range(8)]

    def run() -> list[str]:
        c = Correlator()
        for e in inputs:
            c.add_report(e)
        return [incident_envelope(i).model_dump_json() for i in sorted(c.incidents.values(), key=lambda i: i.id)]

    assert run() == run()


def action(incident_id: str, name: str, *, minutes: int, by: str = "ECC", **extra) -> Envelope:
    at = T0 + timedelta(minutes=minutes)
    return Envelope(id=incident_id, kind=Kind.incident, source=Source(type="coordinator"), observed_at=at,
                    received_at=at, attributes={"action": name, "action_id": f"action:{name}:{minutes}", "by": by,
                                                "by_roles": ["coordinator"], **extra})


def test_the_other_text_wins_the_same_tie():
    c = Correlator()
    c.add_report(report("t1", "blocked_road", text="big oak tree down across lanes"))
    wreck = c.add_report(report("w1", "blocked_road", east_m=500, text="car crash blocking traffic"))
    assert c.add_report(report("m1", "blocked_road", east_m=250, text="crash, two cars blocking")) == wreck


def test_a_report_where_a_merged_incident_was_joins_the_incident_it_went_into():
    c = Correlator()
    [a] = c.add_report(report("a1", "flooding", text="water over the road"))
    [b] = c.add_report(report("b1", "flooding", east_m=1500, text="flooded underpass"))
    assert a != b
    assert c.apply_action(action(b, "merge", minutes=5, target=a)) == {a, b}
    assert c.incidents[b].status is Status.duplicate and set(c.incidents[a].members) == {"a1", "b1"}
    assert c.add_report(report("b2", "flooding", east_m=1600, minutes=10)) == {a}
    assert c.apply_action(action(b, "merge", minutes=5, target=a)) == {b}  # redelivered: state again, no change
    assert [e["action"] for e in c.incidents[a].audit] == ["merged_in"]


def test_an_action_before_its_incident_waits_and_a_lock_refuses_others():
    c = Correlator()
    iid = incident_id_for("x1")
    assert c.apply_action(action(iid, "claim", minutes=1)) is None  # its report has not arrived yet
    c.add_report(report("x1", "needs_help"))
    assert c.apply_action(action(iid, "claim", minutes=1)) == {iid}
    c.apply_action(action(iid, "verify", minutes=2, by="Night desk"))
    inc = c.incidents[iid]
    assert inc.status is Status.unverified and inc.audit[-1]["refused"].startswith("locked: claimed by ECC")
    c.apply_action(action(iid, "verify", minutes=20, by="Night desk"))  # the lock lapsed after 15 min
    assert inc.status is Status.verified and "refused" not in inc.audit[-1]
