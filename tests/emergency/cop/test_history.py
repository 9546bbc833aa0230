"""The picture at a past time (``GET /api/v1/cop?at=``), rebuilt from the journal without touching the live one."""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import h3

from emergency.cop import checkpoints
from emergency.cop.checkpoints import CHECKPOINTS, decode, drop_checkpoints, encode, fingerprint
from emergency.cop.history import (
    Picture,
    ReplayState,
    advance,
    checkpoint_head,
    finish,
    picture_answer,
    picture_at,
    replay,
)
from emergency.cop.incidents.correlate import EDGE_M, Correlator, _cells
from emergency.cop.incidents.models import DEFAULT_RADIUS_M, RADIUS_M, Status, incident_id_for
from emergency.events import Envelope, GeoPrecision, Kind, Source
from emergency.store.base import OutboxRow
from emergency.store.factory import open_store
from emergency.stream.topics import COP_ACTIONS, RAW_AGENCY, RAW_CITIZEN, RAW_FEEDS
from tests.conftest import report_body, running_system
from tests.emergency.assembly.test_durability import closure_body, run_cli
from tests.emergency.cop.test_incidents import HAWTHORNE, act, incident_of, post_report, settled


async def cop_at(system, at: datetime) -> dict:
    r = await system.http.get("/api/v1/cop", params={"at": at.isoformat()})
    assert r.status_code == 200, r.text
    return r.json()


def ids(answer: dict, layer: str) -> list[str]:
    return [f["id"] for f in answer["layers"][layer]["features"]]


async def test_picture_at_a_time_is_rebuilt_from_the_journal(system):
    a = await post_report(system, category="smoke", text="Smoke over Hawthorne", contact="jane@example.org",
                          **HAWTHORNE)
    await settled(system)
    fire = await incident_of(system, a)
    await asyncio.sleep(0.05)
    first = datetime.now(UTC)
    await asyncio.sleep(0.05)
    b = await post_report(system, category="spot_fire", text="Flames behind the school", lat=45.5130, lon=-122.6500)
    closure = await system.http.post("/api/v1/agency/road-closures", json=closure_body("R-HIST"),
                                     headers=system.auth("agency"))
    assert closure.status_code == 202, closure.text
    await settled(system)
    assert await incident_of(system, b) == fire
    r = await act(system, fire, "verify", reason="seen from the tower")
    assert r.status_code == 202, r.text
    await settled(system)
    live_before = (await system.http.get("/api/v1/incidents")).json()["features"]

    then = await cop_at(system, first)
    assert then["rebuilt_from_journal"] is True and then["at"] == first.isoformat()
    assert then["journal_rows_read"] == 1
    assert ids(then, "reports") == [a] and ids(then, "incidents") == [fire] and ids(then, "road_closures") == []
    [inc] = then["layers"]["incidents"]["features"]
    assert inc["properties"]["status"] == "unverified" and inc["properties"]["report_ids"] == [a]
    assert then["layers"]["reports"]["features"][0]["properties"]["incident_id"] == fire
    assert "jane@" not in str(then) and "private" not in str(then)

    now = await cop_at(system, datetime.now(UTC))
    assert now["journal_rows_read"] == 4 and sorted(ids(now, "reports")) == sorted([a, b])
    assert len(ids(now, "incidents")) == 2  # the fire and the closure's own incident
    [inc] = [f for f in now["layers"]["incidents"]["features"] if f["id"] == fire]
    assert inc["properties"]["status"] == "verified" and inc["properties"]["report_count"] == 2
    assert len(ids(now, "road_closures")) == 1
    live = {f["id"]: f["properties"] for f in live_before}
    assert {k: v for k, v in inc["properties"].items() if k != "seq"} == \
        {k: v for k, v in live[fire].items() if k != "seq"}  # the same logic as the stream

    later = await cop_at(system, datetime.now(UTC) + timedelta(hours=5))  # the closure has ended by then
    assert ids(later, "road_closures") == [] and fire in ids(later, "incidents")
    assert (await system.http.get("/api/v1/incidents")).json()["features"] == live_before  # live untouched


async def test_at_is_required_and_checked(system):
    for params in ({}, {"at": "yesterday"}, {"at": "2026-01-01T00:00:00"}):
        r = await system.http.get("/api/v1/cop", params=params)
        assert r.status_code == 422 and r.json()["detail"].startswith("at:"), (params, r.text)
    assert report_body()  # the shared body helper is importable here (used by the bench)


async def test_every_layer_exports_as_files_with_its_public_fields(system):
    await post_report(system, category="flooding", text="Water over the road", contact="jane@example.org",
                      **HAWTHORNE)
    await post_report(system, category="damage", text="Fence down", lat=45.53, lon=-122.65)
    closure = await system.http.post("/api/v1/agency/road-closures", json=closure_body("R-EXPORT"),
                                     headers=system.auth("agency"))
    assert closure.status_code == 202, closure.text
    await settled(system)
    csv = await system.http.get("/api/v1/reports.csv", params={"limit": 1})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.headers["x-total-count"] == "2" and csv.headers["x-truncated"] == "true"
    lines = csv.text.strip().splitlines()
    assert lines[0].startswith("WKT,") and len(lines) == 2 and "Fence down" in csv.text  # newest first
    geo = await system.http.get("/api/v1/road-closures.geojson")
    assert geo.status_code == 200 and geo.headers["x-truncated"] == "false" and geo.headers["x-total-count"] == "1"
    [feature] = geo.json()["features"]
    assert feature["geometry"]["type"] == "LineString" and feature["properties"]["road_name"] == "SE Hawthorne Blvd"
    kml = await system.http.get("/api/v1/reports.kml")
    assert kml.status_code == 200 and "<kml" in kml.text and kml.headers["x-total-count"] == "2"
    empty = await system.http.get("/api/v1/shelters.csv")
    assert empty.status_code == 200 and empty.headers["x-total-count"] == "0"
    for body in (csv.text, geo.text, kml.text):
        assert "jane@" not in body and "private" not in body
    assert (await system.http.get("/api/v1/alerts.atom")).status_code == 200  # not shadowed by the alert files
    bad = await system.http.get("/api/v1/reports.kml", params={"bbox": "1,2,3"})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("bbox:")


class ScanCorrelator(Correlator):
    """The candidate lookup as it was before the reference-point index: every incident with a cell in the report's
    ``grid_disk`` at the index resolution, whatever its category (the reference the fast lookup must equal)."""

    def near(self, member, family):
        k = math.ceil(RADIUS_M.get(family, DEFAULT_RADIUS_M) / EDGE_M) + 1
        found: set[str] = set()
        for cell in _cells(member.geometry):
            for c in h3.grid_disk(cell, k):
                found.update(self._index.get(c, ()))
        return found


def dense_journal(n: int, seed: int) -> list[OutboxRow]:
    """``n`` raw inputs over 4 km x 3 km of Portland, a few seconds apart: citizen reports of every family (some
    with road names), agency road closures (lines) and feed items (areas and points), and coordinators' merges,
    splits and verifications."""
    rng = random.Random(seed)
    t0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    rows: list[OutboxRow] = []
    roads = ("SE Hawthorne Blvd", "SE Division St", "SE Belmont St", None)
    made: list[tuple[str, str]] = []  # (first report id, its incident id if it opened one)
    for i in range(n):
        at = t0 + timedelta(seconds=7 * i)
        lon, lat = rng.uniform(-122.68, -122.63), rng.uniform(45.50, 45.527)
        point = {"type": "Point", "coordinates": [round(lon, 5), round(lat, 5)]}
        roll = rng.random()
        if roll < 0.04:
            rid, topic = f"agency:closure-{i}", RAW_AGENCY
            line = {"type": "LineString", "coordinates": [[lon - 0.004, lat], [lon, lat + 0.001], [lon + 0.004, lat]]}
            event = Envelope(id=rid, kind=Kind.agency_report, category="road_closure", text="Road closed",
                             geometry=line, geo_precision=GeoPrecision.exact, observed_at=at, received_at=at,
                             source=Source(type="agency_api", ref=rid),
                             attributes={"road_name": rng.choice(roads[:3]), "agency_id": "pbot"})
        elif roll < 0.07:
            rid, topic = f"feed:item-{i}", RAW_FEEDS
            geom = point if rng.random() < 0.5 else {"type": "Polygon", "coordinates": [[
                [lon, lat], [lon + 0.004, lat], [lon + 0.004, lat + 0.003], [lon, lat + 0.003], [lon, lat]]]}
            event = Envelope(id=rid, kind=Kind.feed_item, category=rng.choice(("flooding", "fire", "damage")),
                             text="Reported by the county", geometry=geom, geo_precision=GeoPrecision.exact,
                             observed_at=at, received_at=at, source=Source(type="feed", ref=rid))
        elif roll < 0.10 and made:
            first, _ = rng.choice(made)
            action = rng.choice(("verify", "merge", "split"))
            other, _ = rng.choice(made)
            attrs = {"action": action, "action_id": f"action-{i}", "by": "ECC", "by_roles": ["coordinator"]}
            if action == "merge":
                attrs["target"] = incident_id_for(other)
            if action == "split":
                attrs["reports"] = [other]
            event = Envelope(id=incident_id_for(first), kind=Kind.incident, source=Source(type="coordinator"),
                             observed_at=at, received_at=at, attributes=attrs)
            rows.append(OutboxRow(len(rows) + 1, event.id, COP_ACTIONS, event.id, event.to_json()))
            continue
        else:
            rid, topic = f"citizen:dense-{i}", RAW_CITIZEN
            cat = rng.choice(("smoke", "spot_fire", "flooding", "damage", "blocked_road", "needs_help", "other"))
            event = Envelope(id=rid, kind=Kind.citizen_report, category=cat, geometry=point,
                             text=f"{cat.replace('_', ' ')} near block {rng.randint(1, 40)}",
                             location_text=rng.choice(roads) if cat == "blocked_road" else None,
                             geo_precision=GeoPrecision.exact, confidence=0.8, observed_at=at, received_at=at,
                             source=Source(type="citizen_web"),
                             attributes={"private": {"contact": f"p{rng.randint(1, 30)}@example.org"}})
        made.append((rid, incident_id_for(rid)))
        rows.append(OutboxRow(len(rows) + 1, event.id, topic, event.id, event.to_json()))
    return rows


def picture_of(rows: list[OutboxRow], at: datetime, correlator: Correlator) -> dict:
    upto = [r for r in rows if Envelope.from_json(r.payload).received_at <= at]
    return picture_answer(replay(rows=upto, at=at, correlator=correlator))


def test_the_indexed_lookup_gives_the_same_picture_as_a_scan_of_every_nearby_incident():
    rows = dense_journal(800, seed=7)
    times = [Envelope.from_json(r.payload).received_at for r in rows]
    probes = [times[0] - timedelta(seconds=1), times[0], times[300] + timedelta(seconds=3),
              times[-1], times[-1] + timedelta(hours=1)]
    seen = set()
    for at in probes:
        fast, scan = picture_of(rows, at, Correlator()), picture_of(rows, at, ScanCorrelator())
        assert fast == scan, at
        seen.add(fast["layers"]["incidents"]["returned"])
    assert 0 in seen and max(seen) > 200  # before the first row, and a dense picture at the end
    last = picture_of(rows, probes[-1], Correlator())["layers"]["incidents"]["features"]
    statuses = {f["properties"]["status"] for f in last}
    assert {"duplicate", "verified", "corroborated"} <= statuses  # the actions took effect
    assert any(f["properties"]["report_count"] > 5 for f in last)  # reports did join incidents


# ------------------------------------------------------------------ checkpoints of the replay

VOLATILE = ("journal_rows_replayed", "from_checkpoint")  # how the answer was made, not what it says


@asynccontextmanager
async def opened(store_url: str):
    """The store at ``store_url``, closed on leaving."""
    store = await open_store(store_url)
    try:
        yield store
    finally:
        await store.close()


def same_picture(answer: dict) -> dict:
    """What ``answer`` says, as a client reads it (JSON: a tuple and a list are both an array)."""
    return json.loads(json.dumps({k: v for k, v in answer.items() if k not in VOLATILE}))


async def journal_into(store, rows: list[OutboxRow], **received: datetime) -> list[datetime]:
    """Journal ``rows`` in order (``received``: row index -> another ``received_at``); their ``received_at``."""
    out = []
    for i, row in enumerate(rows):
        event = Envelope.from_json(row.payload)
        if str(i) in received:
            event = event.model_copy(update={"received_at": received[str(i)]})
        await store.accept(event, row.topic, row.key, "append")
        out.append(event.received_at)
    return out


async def full_replay(store, at: datetime) -> dict:
    """The picture at ``at`` by replaying the whole journal, as before checkpoints (the reference)."""
    return same_picture(picture_answer(replay(rows=await store.journal_until(at), at=at)))


def late_row(rows: list[OutboxRow], like: int) -> OutboxRow:
    """A citizen report received (``received_at``) with row ``like`` but journaled after everything."""
    event = Envelope.from_json(rows[like].payload)
    event = event.model_copy(update={"id": "citizen:late", "kind": Kind.citizen_report, "category": "smoke",
                                     "source": Source(type="citizen_web")})
    return OutboxRow(0, event.id, RAW_CITIZEN, event.id, event.to_json())


def early_action(rows: list[OutboxRow], *, at: int, opens: range) -> OutboxRow:
    """A coordinator's verification journaled at row ``at``, of the incident a later report (one of rows ``opens``)
    opens: a replay holds it pending until that report comes."""
    state = ReplayState()
    advance(state, rows=rows)
    opener = next(e for e in (Envelope.from_json(rows[k].payload) for k in opens)
                  if e.kind is Kind.citizen_report and incident_id_for(e.id) in state.correlator.incidents)
    when = Envelope.from_json(rows[at].payload).received_at
    event = Envelope(id=incident_id_for(opener.id), kind=Kind.incident, source=Source(type="coordinator"),
                     observed_at=when, received_at=when,
                     attributes={"action": "verify", "action_id": "action-early", "by": "ECC", "by_roles": ["coordinator"]})
    return OutboxRow(0, event.id, COP_ACTIONS, event.id, event.to_json())


async def test_a_checkpoint_and_its_tail_give_the_picture_of_a_full_replay(store_url):
    async with opened(store_url) as store:
        rows = dense_journal(520, seed=3)
        rows.append(late_row(rows, 100))
        rows[200] = early_action(rows, at=200, opens=range(260, 340))  # waits, in the first checkpoint, for its report
        # row 350 was received as late as row 450 (its received_at): a picture before that skips it
        times = await journal_into(store, rows, **{"350": Envelope.from_json(rows[450].payload).received_at})
        repo = store.repository(CHECKPOINTS)
        assert await repo.listed() == []
        for upto in (times[250], times[420]):  # asked there first: each writes the state of a whole journal prefix
            first = await picture_at(store=store, at=upto, every=50, keep=10)
            assert same_picture(picture_answer(first)) == await full_replay(store, upto)
        old, new = sorted(await repo.listed(), key=lambda c: c.seq)
        assert "action-early" in [a.attributes["action_id"] for a in decode((await repo.newest_usable(
            fingerprint=old.fingerprint, upto=times[250])).state).pending]
        assert (old.seq, old.rows, old.max_received_at) == (251, 251, times[250])
        assert (new.seq, new.rows, new.max_received_at) == (350, 350, times[349])  # stops before the skipped row
        probes = {"before the first row": (times[0] - timedelta(seconds=1), None),
                  "exactly at a checkpoint": (times[250], old.seq),
                  "between checkpoints": (times[300], old.seq),
                  "at the next one": (times[349], new.seq),
                  "before the late-received row": (times[400], new.seq),
                  "after the last row": (times[-2] + timedelta(hours=1), new.seq)}
        for name, (at, expected) in probes.items():
            picture = await picture_at(store=store, at=at)  # every=0: reads checkpoints, writes none
            assert picture.checkpoint_seq == expected, name
            answer = picture_answer(picture)
            assert same_picture(answer) == await full_replay(store, at), name
            assert answer["from_checkpoint"] == expected
            assert answer["journal_rows_replayed"] == answer["journal_rows_read"] - (0 if expected is None else expected)
        assert len(await repo.listed()) == 2
        end = picture_answer(await picture_at(store=store, at=probes["after the last row"][0]))
        assert "citizen:late" in ids(end, "reports") and end["layers"]["incidents"]["returned"] > 100
        assert end["journal_rows_read"] == len(rows) and end["journal_rows_replayed"] == len(rows) - 350


async def test_checkpoints_of_other_rules_a_changed_journal_or_beyond_the_bound_are_not_used(store_url):
    async with opened(store_url) as store:
        rows = dense_journal(300, seed=5)
        times = await journal_into(store, rows)
        repo = store.repository(CHECKPOINTS)
        at, end = times[200], times[-1]
        await picture_at(store=store, at=at, every=10, keep=2)
        [made] = await repo.listed()
        assert made.fingerprint == fingerprint(None) and made.size > 0
        truth = await full_replay(store, end)

        # a checkpoint is really used: one saying every incident is verified shows in the answer
        found = await repo.newest_usable(fingerprint=made.fingerprint, upto=end)
        assert found is not None and found.seq == made.seq
        state = decode(found.state)
        for inc in state.correlator.incidents.values():
            inc.status = Status.verified
        forged = encode(state)
        assert await repo.put(seq=made.seq, rows=made.rows, fingerprint=made.fingerprint, state=forged, keep=2)
        used = picture_answer(await picture_at(store=store, at=end))
        assert used["from_checkpoint"] == made.seq and same_picture(used) != truth

        # ... but not when it was made by other rules (another code or format fingerprint, another geocoder)
        assert await repo.put(seq=made.seq, rows=made.rows, fingerprint="0" * 32, state=forged, keep=2)
        ignored = picture_answer(await picture_at(store=store, at=end))
        assert ignored["from_checkpoint"] is None and same_picture(ignored) == truth
        assert fingerprint(None) != fingerprint(type("G", (), {"name": "region x", "coverage": "x"})())
        assert checkpoints._code_fingerprint() == checkpoints.CODE_FINGERPRINT
        checkpoints.FORMAT_VERSION += 1
        try:
            assert checkpoints._code_fingerprint() != checkpoints.CODE_FINGERPRINT
        finally:
            checkpoints.FORMAT_VERSION -= 1
        await picture_at(store=store, at=at, every=10, keep=2)  # a checkpoint by these rules replaces the other's
        assert [c.fingerprint for c in await repo.listed()] == [fingerprint(None)]

        # ... nor once the journal prefix it stands for changed: a row below its seq committed after it was made
        gone = await raw(store, "SELECT seq, event_id, topic, key, payload, received_at, created_at FROM outbox "
                         "WHERE seq = 150", fetch=True)
        await raw(store, "DELETE FROM history_checkpoints")
        await raw(store, "DELETE FROM outbox WHERE seq = 150")
        await picture_at(store=store, at=at, every=10, keep=2)  # made without row 150
        [stale] = await repo.listed()
        await raw(store, "INSERT INTO outbox(seq, event_id, topic, key, payload, received_at, created_at) "
                  "VALUES ($1, $2, $3, $4, $5, $6, $7)", *gone[0])
        again = picture_answer(await picture_at(store=store, at=end))
        assert again["from_checkpoint"] is None and same_picture(again) == truth
        assert stale.seq not in [c.seq for c in await repo.listed()]  # deleted, never used again

        # bounded: the newest ``keep`` by seq stay
        for k in (50, 100, 150, 250):
            await picture_at(store=store, at=times[k], every=10, keep=2)
        kept = await repo.listed()
        assert [c.seq for c in kept] == [251, 151]
        assert await drop_checkpoints(store) == 2 and await repo.listed() == []


async def raw(store, sql: str, *args, fetch: bool = False):
    """Run ``sql`` (PostgreSQL placeholders) on either backend, as another writer of the database would."""
    if store.dialect == "postgis":
        return [tuple(r) for r in await store.pool.fetch(sql, *args)] if fetch else await store.pool.execute(sql, *args)
    lite = re.sub(r"\$\d+", "?", sql)
    return await store.run(lambda c: [tuple(r) for r in c.execute(lite, args).fetchall()])


def test_a_checkpoint_holds_the_whole_replay_state():
    rows = dense_journal(800, seed=7)
    for upto in (10, 400, len(rows)):
        state = ReplayState()
        advance(state, rows=rows[:upto])
        back = decode(encode(state))
        a, b = state.correlator, back.correlator
        assert b.incidents == a.incidents and list(b.incidents) == list(a.incidents)  # summaries, members, audit
        for name in ("owner", "_index", "_cells", "_point_of", "_wide_of", "_box"):
            assert getattr(b, name) == getattr(a, name), name  # the index and the candidate lookup
        for name in ("_points", "_wide"):  # a category left with no cell is looked up as none at all
            assert {k: v for k, v in getattr(b, name).items() if v} == {k: v for k, v in getattr(a, name).items() if v}
        assert (back.latest, back.reports, back.pending, back.rows, back.seq) == \
            (state.latest, state.reports, state.pending, state.rows, state.seq)
        at = datetime(2027, 1, 1, tzinfo=UTC)
        assert same_picture(picture_answer(Picture(at, finish(back, at=at), 0))) == \
            same_picture(picture_answer(Picture(at, finish(state, at=at), 0)))
        if upto < len(rows):  # both go on: the incidents the tail changes are built anew, the others reused
            advance(state, rows=rows[upto:])
            advance(back, rows=rows[upto:])
            assert back.touched and set(back.correlator.incidents) - back.touched
            assert same_picture(picture_answer(Picture(at, finish(back, at=at), 0))) == \
                same_picture(picture_answer(Picture(at, finish(state, at=at), 0)))
    dupes = [i for i in a.incidents.values() if i.status is Status.duplicate]
    assert dupes and all(i.summary is not None and not i.members and a._cells[i.id] for i in dupes)
    assert state.pending  # actions naming what never came


async def test_the_api_writes_and_uses_checkpoints_and_a_rebuild_drops_them(broker, store_url, tmp_path):
    async with running_system(broker, store_url, tmp_path, history_checkpoint_every=2,
                              history_checkpoint_keep=3) as system:
        for i in range(3):
            await post_report(system, category="smoke", text=f"smoke {i}", lat=45.50 + i / 1000, lon=-122.65)
        await settled(system)
        now = datetime.now(UTC)
        first = await cop_at(system, now)
        assert first["from_checkpoint"] is None and first["journal_rows_replayed"] == 3
        second = await cop_at(system, now)
        assert second["from_checkpoint"] == 3 and second["journal_rows_replayed"] == 0
        assert same_picture(second) == same_picture(first) and len(ids(second, "reports")) == 3
        [made] = await system.runtime.store.repository(CHECKPOINTS).listed()
        assert made.seq == 3 and made.fingerprint == fingerprint(system.runtime.geocoder)
        prefix = system.runtime.settings.topic_prefix
    env = {"EMERGENCY_STORE_URL": store_url, "EMERGENCY_TOPIC_PREFIX": prefix,
           "EMERGENCY_DATA_DIR": str(tmp_path), "EMERGENCY_KAFKA_BOOTSTRAP": broker.bootstrap}
    done = run_cli("rebuild", env=env)
    assert done.returncode == 0, done.stderr
    assert "and 1 history checkpoints" in done.stderr
    async with opened(store_url) as store:
        assert await store.repository(CHECKPOINTS).listed() == []


async def test_the_workers_keep_a_checkpoint_near_the_journal_head(store_url):
    async with opened(store_url) as store:
        rows = dense_journal(160, seed=9)
        await journal_into(store, rows[:100])
        repo = store.repository(CHECKPOINTS)
        assert not await checkpoint_head(store=store, geocoder=None, every=0, keep=2)  # off
        assert not await checkpoint_head(store=store, geocoder=None, every=101, keep=2)  # not enough rows yet
        assert await checkpoint_head(store=store, geocoder=None, every=100, keep=2)
        assert [(c.seq, c.rows) for c in await repo.listed()] == [(100, 100)]
        await journal_into(store, rows[100:])
        assert not await checkpoint_head(store=store, geocoder=None, every=100, keep=2)  # 60 rows since
        assert await checkpoint_head(store=store, geocoder=None, every=50, keep=2)
        assert [c.seq for c in await repo.listed()] == [160, 100]
        at = datetime.now(UTC)
        picture = await picture_at(store=store, at=at)
        assert picture.checkpoint_seq == 160 and picture.rows_replayed == 0
        assert same_picture(picture_answer(picture)) == await full_replay(store, at)


def test_an_action_waiting_across_a_checkpoint_changes_the_incidents_it_names_after_it():
    t = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def report(rid: str, lon: float, minutes: int) -> OutboxRow:
        at = t + timedelta(minutes=minutes)
        e = Envelope(id=rid, kind=Kind.citizen_report, category="damage", text="fence down",
                     geometry={"type": "Point", "coordinates": [lon, 45.51]}, geo_precision=GeoPrecision.exact,
                     observed_at=at, received_at=at, source=Source(type="citizen_web"))
        return OutboxRow(0, rid, RAW_CITIZEN, rid, e.to_json())

    early, target = incident_id_for("citizen:x"), incident_id_for("citizen:z")
    merge = Envelope(id=early, kind=Kind.incident, source=Source(type="coordinator"), observed_at=t + timedelta(
        minutes=1), received_at=t + timedelta(minutes=1), attributes={
        "action": "merge", "action_id": "m1", "target": target, "by": "ECC", "by_roles": ["coordinator"]})
    rows = [report("citizen:x", -122.65, 0), OutboxRow(0, early, COP_ACTIONS, early, merge.to_json()),
            report("citizen:z", -122.60, 2)]  # 4 km apart: two incidents, the first waits to be merged
    state = ReplayState()
    advance(state, rows=rows[:2])
    assert state.pending and state.correlator.incidents[early].status is Status.unverified
    back = decode(encode(state))
    advance(back, rows=rows[2:])
    advance(state, rows=rows[2:])
    at = t + timedelta(hours=1)
    picture = same_picture(picture_answer(Picture(at, finish(back, at=at), 0)))
    assert picture == same_picture(picture_answer(Picture(at, finish(state, at=at), 0)))
    statuses = {f["id"]: f["properties"]["status"] for f in picture["layers"]["incidents"]["features"]}
    assert statuses == {early: "duplicate", target: "corroborated"} and not back.pending  # two reporters now
