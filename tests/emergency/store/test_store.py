"""The repository contract, run against both backends (SQLite file and PostGIS)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from emergency.events import Envelope, GeoPrecision, Kind, Source
from emergency.store import EventQuery, open_store
from emergency.store.base import JournalFailure

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def ev(eid: str, *, lon: float = -122.66, lat: float = 45.51, minutes: int = 0, category: str = "smoke",
       kind: Kind = Kind.citizen_report, received: datetime | None = None, geometry=None, text: str = "t",
       attributes: dict | None = None) -> Envelope:
    at = T0 + timedelta(minutes=minutes)
    return Envelope(id=eid, kind=kind, source=Source(type="test"), observed_at=at, received_at=received or at,
                    category=category, text=text, geometry=geometry or {"type": "Point", "coordinates": [lon, lat]},
                    geo_precision=GeoPrecision.exact, attributes=attributes or {})


@pytest.fixture
async def store(store_url):
    s = await open_store(store_url)
    yield s
    await s.close()


async def test_upsert_is_idempotent_by_id(store):
    e = ev("a")
    assert await store.upsert_events([e]) == 1
    await store.upsert_events([e])
    await store.upsert_events([e, e])
    assert await store.count_events() == 1
    assert await store.get_event("a") == e


async def test_newer_version_replaces_older_but_not_the_reverse(store):
    old = ev("a", text="old")
    new = ev("a", text="new", received=T0 + timedelta(minutes=5))
    await store.upsert_events([new])
    await store.upsert_events([old])
    assert (await store.get_event("a")).text == "new"
    await store.upsert_events([ev("b", text="first"), ev("b", text="second", received=T0 + timedelta(seconds=1))])
    assert (await store.get_event("b")).text == "second"


async def test_bbox_query_uses_geometry(store):
    inside = ev("in", lon=-122.66, lat=45.51)
    outside = ev("out", lon=-122.30, lat=45.51)
    # a diagonal line whose bounding box overlaps the query box but whose line does not
    diagonal = ev("diag", geometry={"type": "LineString", "coordinates": [[-122.70, 45.60], [-122.60, 45.70]]},
                  kind=Kind.agency_report, category="road_closure")
    crossing = ev("cross", geometry={"type": "LineString", "coordinates": [[-122.70, 45.50], [-122.60, 45.52]]},
                  kind=Kind.agency_report, category="road_closure")
    await store.upsert_events([inside, outside, diagonal, crossing])
    got = await store.query_events(EventQuery(bbox=(-122.68, 45.50, -122.64, 45.53)))
    assert {e.id for e in got} == {"in", "cross"}
    corner = await store.query_events(EventQuery(bbox=(-122.695, 45.55, -122.60, 45.60)))
    assert "diag" not in {e.id for e in corner}


async def test_time_category_kind_and_layer_filters(store):
    await store.upsert_events([
        ev("r1", minutes=0, category="smoke"),
        ev("r2", minutes=30, category="flooding"),
        ev("r3", minutes=60, category="smoke", kind=Kind.social_post),
        ev("c1", minutes=10, kind=Kind.agency_report, category="road_closure",
           geometry={"type": "LineString", "coordinates": [[-122.66, 45.51], [-122.65, 45.51]]}),
    ])
    since = await store.query_events(EventQuery(since=T0 + timedelta(minutes=20)))
    assert [e.id for e in since] == ["r2", "r3"]
    window = await store.query_events(EventQuery(since=T0 + timedelta(minutes=5), until=T0 + timedelta(minutes=40)))
    assert [e.id for e in window] == ["c1", "r2"]
    assert {e.id for e in await store.query_events(EventQuery(categories=("smoke",)))} == {"r1", "r3"}
    assert {e.id for e in await store.query_events(EventQuery(kinds=("social_post",)))} == {"r3"}
    assert {e.id for e in await store.query_events(EventQuery(layers=("road_closures",)))} == {"c1"}
    assert {e.id for e in await store.query_events(EventQuery(layers=("reports",)))} == {"r1", "r2", "r3"}


async def test_active_filter_uses_end_or_expiry(store):
    line = {"type": "LineString", "coordinates": [[-122.66, 45.51], [-122.65, 45.51]]}
    await store.upsert_events([
        ev("ended", kind=Kind.agency_report, category="road_closure", geometry=line,
           attributes={"end": (T0 + timedelta(hours=1)).isoformat()}),
        ev("open", kind=Kind.agency_report, category="road_closure", geometry=line, attributes={"end": None}),
        ev("later", kind=Kind.agency_report, category="road_closure", geometry=line,
           attributes={"end": (T0 + timedelta(hours=5)).isoformat()}),
    ])
    active = await store.query_events(EventQuery(active_at=T0 + timedelta(hours=2)))
    assert {e.id for e in active} == {"open", "later"}


async def test_journal_accept_publish_apply_cycle(store):
    e = ev("j1")
    first = await store.accept(e, "raw.citizen", "j1")
    again = await store.accept(e, "raw.citizen", "j1")
    assert first.created and not again.created
    due = await store.due_for_publication(10, republish_before=LONG_AGO)
    assert [r.event_id for r in due] == ["j1"] and due[0].topic == "raw.citizen"
    assert Envelope.from_json(due[0].payload) == e
    await store.mark_published([due[0].seq], datetime.now(UTC))
    assert await store.due_for_publication(10, republish_before=LONG_AGO) == []
    # published long ago and still not applied -> due again
    assert len(await store.due_for_publication(10, republish_before=datetime.now(UTC) + timedelta(hours=1))) == 1
    assert await store.reset_unapplied() == 1
    assert len(await store.due_for_publication(10, republish_before=LONG_AGO)) == 1
    await store.upsert_events([e])
    counts = await store.journal_counts()
    assert (counts.total, counts.applied) == (1, 1)
    assert await store.due_for_publication(10, republish_before=datetime.now(UTC) + timedelta(hours=1)) == []


async def test_append_keeps_every_version_and_applies_up_to_the_one_stored(store):
    v1 = ev("closure", received=T0)
    v2 = ev("closure", received=T0 + timedelta(minutes=1), text="updated")
    assert (await store.accept(v1, "raw.agency", "closure", "append")).created
    assert (await store.accept(v2, "raw.agency", "closure", "append")).created
    await store.upsert_events([v1])
    counts = await store.journal_counts()
    assert (counts.total, counts.applied) == (2, 1)
    await store.upsert_events([v2])
    assert (await store.journal_counts()).applied == 2


async def test_clear_projection_keeps_the_journal(store):
    e = ev("k")
    await store.accept(e, "raw.citizen", "k")
    await store.upsert_events([e])
    await store.clear_projection()
    assert await store.count_events() == 0
    assert await store.query_events(EventQuery(bbox=(-180, -90, 180, 90))) == []
    counts = await store.journal_counts()
    assert (counts.total, counts.published, counts.applied) == (1, 0, 0)


async def test_concurrent_accepts_journal_each_input_once(store):
    import asyncio

    events = [ev(f"c{i % 50}", minutes=i % 50) for i in range(200)]  # each id submitted four times at once
    results = await asyncio.gather(*(store.accept(e, "raw.citizen", e.id) for e in events))
    assert sum(r.created for r in results) == 50
    assert (await store.journal_counts()).total == 50
    assert len(await store.due_for_publication(1000, republish_before=LONG_AGO)) == 50


async def test_relays_of_two_processes_share_the_due_rows_instead_of_each_publishing_all(store, store_url):
    """Two stores on one database (two processes' relays): concurrent claims return disjoint rows covering every
    due row, and a claimed row is due again only after ``republish_before`` passes its claim (scale-out, issue 16)."""
    import asyncio

    for i in range(120):
        await store.accept(ev(f"r{i}"), "raw.citizen", f"r{i}")
    other = await open_store(store_url)
    try:
        claims = await asyncio.gather(*(s.due_for_publication(20, republish_before=LONG_AGO)
                                        for s in (store, other) * 4))
        seqs = [r.seq for rows in claims for r in rows]
        assert len(seqs) == len(set(seqs)) == 120  # each row to exactly one relay
        assert all(rows == sorted(rows, key=lambda r: r.seq) for rows in claims)
        assert await other.due_for_publication(1000, republish_before=LONG_AGO) == []
        again = await other.due_for_publication(1000, republish_before=datetime.now(UTC) + timedelta(hours=1))
        assert len(again) == 120  # a claim that never became "applied" is retried, never forgotten
    finally:
        await other.close()


# -- the change sequence (issue 9, A.1-A.3) -----------------------------------------------------------

LINE = {"type": "LineString", "coordinates": [[-122.66, 45.51], [-122.65, 45.51]]}


def closure(eid: str, end: datetime | None, **kw) -> Envelope:
    return ev(eid, kind=Kind.agency_report, category="road_closure", geometry=LINE,
              attributes={"end": end.isoformat() if end else None}, **kw)


async def test_each_change_takes_the_next_seq_and_changes_after_resumes(store):
    assert await store.head_seq() == 0
    await store.upsert_events([ev("a"), ev("b", minutes=1)])
    head = await store.head_seq()
    assert head >= 2
    first = await store.changes_after(0, 100)
    assert [c.event.id for c in first] == ["a", "b"] and [c.seq for c in first] == sorted({c.seq for c in first})
    assert await store.upsert_events([ev("a")]) == 0  # the same version again: no change, no seq
    assert await store.upsert_events([ev("a", text="older", received=T0 - timedelta(minutes=1))]) == 0
    assert await store.head_seq() == head
    await store.upsert_events([ev("a", text="newer", received=T0 + timedelta(minutes=1))])
    later = await store.changes_after(head, 100)
    assert [(c.event.id, c.event.text) for c in later] == [("a", "newer")] and later[0].seq > head
    # each id once, in its latest state
    assert [c.event.id for c in await store.changes_after(0, 100)] == ["b", "a"]
    assert [c.event.id for c in await store.changes_after(0, 100, upto=head)] == ["b"]
    assert len(await store.changes_after(0, 1)) == 1


async def test_read_events_is_newest_first_with_a_total_and_keyset_pages(store):
    await store.upsert_events([ev(f"r{i}", minutes=i % 5) for i in range(12)])  # ties on observed_at
    await store.upsert_events([ev("diag", kind=Kind.agency_report, category="road_closure",
                                  geometry={"type": "LineString", "coordinates": [[-122.70, 45.60], [-122.60, 45.70]]})])
    seen: list[str] = []
    query = EventQuery(layers=("reports",), limit=5)
    while True:
        page = await store.read_events(query)
        assert page.total == 12 and page.head == await store.head_seq()
        seen += [i.event.id for i in page.items]
        if not page.more:
            break
        query = EventQuery(layers=("reports",), limit=5, before=page.items[-1].cursor)
    assert len(seen) == len(set(seen)) == 12
    everything = (await store.read_events(EventQuery(layers=("reports",)))).items
    assert [i.event.id for i in everything] == seen
    keys = [(i.event.observed_at, i.seq) for i in everything]
    assert keys == sorted(keys, reverse=True)
    # the exact geometry test counts too: the diagonal's box overlaps this box, the line does not
    corner = await store.read_events(EventQuery(bbox=(-122.695, 45.55, -122.60, 45.60), limit=1))
    assert corner.total == 0 and corner.items == []


async def test_end_expired_records_the_end_with_a_new_seq_and_keeps_the_row(store):
    now = datetime.now(UTC)
    await store.upsert_events([closure("soon", now + timedelta(seconds=30)), closure("open", None),
                               closure("later", now + timedelta(hours=5))])
    head = await store.head_seq()
    assert await store.end_expired(now) == 0
    assert await store.end_expired(now + timedelta(minutes=1)) == 1
    assert await store.end_expired(now + timedelta(minutes=1)) == 0
    [ended] = await store.changes_after(head, 10)
    assert ended.event.id == "soon" and ended.seq == await store.head_seq() and ended.ended_at is not None
    assert await store.get_event("soon") is not None  # kept for history
    active = await store.read_events(EventQuery(active_at=now + timedelta(minutes=1)))
    assert {i.event.id for i in active.items} == {"open", "later"}
    # an item that arrives already past its end is written as ended
    await store.upsert_events([closure("past", now - timedelta(hours=1))])
    [late] = await store.changes_after(ended.seq, 10)
    assert late.event.id == "past" and late.ended_at is not None
    # a new version with a later end is current again
    await store.upsert_events([closure("soon", now + timedelta(hours=1), received=T0 + timedelta(hours=1))])
    [back] = await store.changes_after(late.seq, 10)
    assert back.event.id == "soon" and back.ended_at is None


async def test_seq_order_is_commit_order_with_concurrent_writers(store_url):
    """Two writers (as two projector processes) and a reader resuming by seq: nothing is skipped."""
    import asyncio

    writers = [await open_store(store_url), await open_store(store_url)]
    reader = await open_store(store_url)
    try:
        ids = [f"w{i}" for i in range(120)]

        async def write(w, part: list[str]) -> None:
            for i in range(0, len(part), 3):
                await w.upsert_events([ev(eid) for eid in part[i:i + 3]])

        seen: list = []

        async def read() -> None:
            after = 0
            while len(seen) < len(ids):
                batch = await reader.changes_after(after, 7)
                seen.extend(batch)
                after = batch[-1].seq if batch else after
                await asyncio.sleep(0)

        task = asyncio.create_task(read())
        await asyncio.gather(write(writers[0], ids[0::2]), write(writers[1], ids[1::2]))
        await asyncio.wait_for(task, 30)  # a seq committed after a higher one would be skipped: this times out
        assert sorted(c.event.id for c in seen) == sorted(ids)
        assert [c.seq for c in seen] == sorted({c.seq for c in seen})
    finally:
        for s in (*writers, reader):
            await s.close()


async def test_clear_projection_empties_the_head_but_seqs_keep_rising(store):
    await store.upsert_events([ev("a"), ev("b")])
    old = await store.head_seq()
    await store.clear_projection()
    assert await store.head_seq() == 0  # a client holding ``old`` is told to start again
    await store.upsert_events([ev("a")])
    assert (await store.changes_after(0, 10))[0].seq > old


async def test_a_sqlite_file_from_before_the_change_sequence_is_numbered_on_open(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE events (rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, category TEXT,
            layer TEXT NOT NULL, observed_at TEXT NOT NULL, received_at TEXT NOT NULL, expires_at TEXT,
            envelope TEXT NOT NULL);
    """)
    for i, e in enumerate([ev("old1"), ev("old2", minutes=1)]):
        conn.execute("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?)",
                     (i + 1, e.id, e.kind.value, e.category, "reports", e.observed_at.isoformat(),
                      e.received_at.isoformat(), None, e.model_dump_json(by_alias=True)))
    conn.commit()
    conn.close()
    store = await open_store(f"sqlite:///{path}")
    try:
        assert [(c.event.id, c.seq) for c in await store.changes_after(0, 10)] == [("old1", 1), ("old2", 2)]
        await store.upsert_events([ev("new")])
        assert (await store.changes_after(2, 10))[0].seq == 3
    finally:
        await store.close()


async def test_mark_applied_finishes_journal_rows_up_to_the_version_seen(store):
    first = ev("subscription:s1", kind=Kind.subscription, geometry=None)
    second = ev("subscription:s1", kind=Kind.subscription, received=T0 + timedelta(seconds=1))
    await store.accept(first, "alerts.subscriptions", first.id, "append")
    await store.accept(second, "alerts.subscriptions", second.id, "append")
    await store.accept(ev("other"), "raw.citizen", "other")
    assert await store.mark_applied([], T0) == 0
    assert await store.mark_applied([(first.id, first.received_at)], T0) == 1  # the newer version waits for its message
    counts = await store.journal_counts()
    assert (counts.total, counts.applied) == (3, 1)
    assert await store.mark_applied([(first.id, second.received_at), ("nothing", T0)], T0) == 1
    assert await store.mark_applied([(first.id, second.received_at)], T0) == 0
    assert (await store.journal_counts()).applied == 2
    due = await store.due_for_publication(10, T0 + timedelta(days=1))
    assert [r.event_id for r in due] == ["other"]


async def test_journal_until_gives_the_rows_received_by_then_in_journal_order(store):
    early, late = ev("citizen:h1", minutes=0), ev("citizen:h2", minutes=10)
    await store.accept(late, "raw.citizen", None)
    await store.accept(early, "raw.citizen", "cell")
    await store.accept(ev("citizen:h1", minutes=5), "raw.citizen", None, on_conflict="append")
    cut = early.received_at + timedelta(minutes=6)
    rows = await store.journal_until(cut)
    assert [(r.event_id, r.topic, r.key) for r in rows] == [("citizen:h1", "raw.citizen", "cell"),
                                                             ("citizen:h1", "raw.citizen", None)]
    assert rows[0].seq < rows[1].seq and Envelope.from_json(rows[0].payload) == early
    assert [r.event_id for r in await store.journal_until(cut + timedelta(hours=1))] == \
        ["citizen:h2", "citizen:h1", "citizen:h1"]
    assert await store.journal_until(early.received_at - timedelta(seconds=1)) == []
    assert await store.journal_until(cut, after=rows[0].seq) == rows[1:]  # the tail after a history checkpoint
    assert await store.journal_until(cut, after=rows[1].seq) == []


async def test_latest_accepted_is_the_last_version_journaled_on_the_topic_not_dead_lettered(store):
    """What a change to an item builds on before the map has it: the newest accepted version (issue 14)."""
    assert await store.latest_accepted("req", "raw.agency") is None
    v1 = ev("req", received=T0, text="first")
    v2 = ev("req", received=T0 + timedelta(minutes=1), text="second")
    await store.accept(v1, "raw.agency", "req", "append")
    await store.accept(v2, "raw.agency", "req", "append")
    await store.accept(ev("req", received=T0 + timedelta(minutes=2), text="elsewhere"), "raw.citizen", "req", "append")
    assert (await store.latest_accepted("req", "raw.agency")).text == "second"  # not on the map: still found
    assert await store.count_events() == 0
    await store.upsert_events([v2])  # on the map now (its journal rows applied)
    await store.accept(ev("req", received=T0 + timedelta(minutes=3), text="refused"), "raw.agency", "req", "append")
    assert await store.mark_failed([JournalFailure("req", T0 + timedelta(minutes=3), "bad geometry")], T0) >= 1
    latest = await store.latest_accepted("req", "raw.agency")
    assert latest.text == "second" and latest.received_at == v2.received_at  # a dead-lettered version is skipped
