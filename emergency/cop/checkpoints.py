"""Checkpoints of the history replay (``GET /api/v1/cop?at=``): the replay state after a whole journal prefix.

A checkpoint is the ``ReplayState`` (correlator, projection so far, reports, pending actions, and each incident's
finished envelope, reused for the incidents a later replay does not change) after replaying *every* journal row
with ``seq <= seq`` in seq order, stored as zlib-compressed JSON with:

- ``rows``: how many journal rows had ``seq <= seq`` when it was made. It is used only while the journal still has
  exactly that many (a PostgreSQL transaction that took a lower seq but committed later, or a removed row, makes
  it stale: it is deleted, never used);
- ``max_received_at``: the latest ``received_at`` of those rows. The picture at ``T`` replays the rows received at
  or before ``T`` in seq order, so a checkpoint serves ``T`` only when all its rows are in that set
  (``max_received_at <= T``); rows journaled later with an older ``received_at`` (late arrivals) have a higher seq
  and are replayed from the tail, in the same order as a full replay;
- ``fingerprint``: the format version, the source of every module whose rules shape the replay, the versions of
  the libraries they score with, and the geocoder. A checkpoint with another fingerprint is never used (and is
  deleted when a new one is written); ``emergency rebuild`` drops them all.

``store.repository(CHECKPOINTS)`` gives the implementation for the store's dialect; the table is
``history_checkpoints``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import sqlite3
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from emergency.cop.incidents.correlate import Correlator, incident_envelope
from emergency.cop.incidents.models import Incident, Member, Status, Summary
from emergency.events import Envelope, utcnow
from emergency.geocoding import Geocoder
from emergency.store.base import Store, parse_ts, ts
from emergency.store.repository import PostGISRepository, RepositorySpec, SQLiteRepository
from emergency.store.sqlite import _transaction

if TYPE_CHECKING:
    from emergency.cop.history import ReplayState

FORMAT_VERSION = 3  # bump when the encoding below changes
RULE_MODULES = (  # whatever decides what a replayed row becomes
    "emergency.cop.history", "emergency.cop.checkpoints", "emergency.cop.normalise", "emergency.cop.incidents.correlate",
    "emergency.cop.incidents.models", "emergency.events", "emergency.layers", "emergency.categories",
    "emergency.geometry", "emergency.timebounds",
)
RULE_LIBRARIES = ("h3", "rapidfuzz", "shapely", "numpy", "pydantic")


def _code_fingerprint() -> str:
    h = hashlib.sha256(f"format {FORMAT_VERSION}".encode())
    for name in RULE_MODULES:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        with open(spec.origin, "rb") as f:
            h.update(name.encode() + b"\0" + f.read())
    for lib in RULE_LIBRARIES:
        h.update(f"{lib}=={importlib.metadata.version(lib)}".encode())
    return h.hexdigest()


CODE_FINGERPRINT = _code_fingerprint()


def fingerprint(geocoder: Geocoder | None) -> str:
    """What a checkpoint must have been made with to be used: this code's rules and the same geocoder."""
    where = "none" if geocoder is None else f"{geocoder.name}|{geocoder.coverage}"
    return hashlib.sha256(f"{CODE_FINGERPRINT}|{where}".encode()).hexdigest()[:32]


# ------------------------------------------------------------------ the state as bytes


def _dt(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _undt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _member_row(m: Member) -> list[Any]:
    return [m.id, m.kind, m.source_type, m.authoritative, m.reporter, m.category, m.geometry, m.road, m.text,
            m.observed_at.isoformat(), m.received_at.isoformat()]


def _member(r: list[Any]) -> Member:
    return Member(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], datetime.fromisoformat(r[9]),
                  datetime.fromisoformat(r[10]))


def _summary_doc(s: Summary | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {"first_seen": _dt(s.first_seen), "last_seen": _dt(s.last_seen),
            "anchor": _member_row(s.anchor) if s.anchor is not None else None, "roads": sorted(s.roads),
            "sum_lon": s.sum_lon, "sum_lat": s.sum_lat, "count": s.count, "reporters": sorted(s.reporters),
            "texts": s.texts}


def _summary(d: dict[str, Any] | None) -> Summary | None:
    if d is None:
        return None
    return Summary(first_seen=_undt(d["first_seen"]), last_seen=_undt(d["last_seen"]),  # type: ignore[arg-type]
                   anchor=_member(d["anchor"]) if d["anchor"] is not None else None, roads=set(d["roads"]),
                   sum_lon=d["sum_lon"], sum_lat=d["sum_lat"], count=d["count"], reporters=set(d["reporters"]),
                   texts=list(d["texts"]))


def _envelopes(events: list[Envelope]) -> list[str]:
    return [e.to_json().decode() for e in events]  # each as its own JSON text: pydantic parses it in one step


def _unenvelopes(texts: list[str]) -> list[Envelope]:
    return [Envelope.model_validate_json(t) for t in texts]


def encode(state: ReplayState) -> bytes:
    """``state`` as compressed JSON (everything a replay continuing from it needs, the index cells included, and
    each incident's finished envelope)."""
    corr = state.correlator
    incidents = [{"id": inc.id, "category": inc.category, "received_at": _dt(inc.received_at),
                  "members": [_member_row(m) for m in inc.members.values()], "status": inc.status.value,
                  "reasons": inc.reasons, "merged_into": inc.merged_into, "claimed_by": inc.claimed_by,
                  "claim_until": _dt(inc.claim_until), "audit": inc.audit, "summary": _summary_doc(inc.summary),
                  "cells": sorted(corr._cells.get(inc.id, ()))}
                 for inc in corr.incidents.values()]
    finished = {inc.id: state.finished[inc.id] if inc.id in state.finished and inc.id not in state.touched
                else incident_envelope(inc).to_json().decode() for inc in corr.incidents.values()}
    doc = {"format": FORMAT_VERSION, "rows": state.rows, "seq": state.seq, "incidents": incidents,
           "finished": finished,
           "owner": corr.owner, "latest": _envelopes(list(state.latest.values())),
           "reports": _envelopes(list(state.reports.values())), "pending": _envelopes(state.pending)}
    return zlib.compress(json.dumps(doc, separators=(",", ":")).encode(), 1)


def decode(blob: bytes) -> ReplayState:
    """The ``ReplayState`` ``encode`` wrote (raises ValueError on another format)."""
    from emergency.cop.history import ReplayState

    doc = json.loads(zlib.decompress(blob))
    if doc.get("format") != FORMAT_VERSION:
        raise ValueError(f"checkpoint format {doc.get('format')!r}, this build reads {FORMAT_VERSION}")
    corr = Correlator()
    for d in doc["incidents"]:
        inc = Incident(id=d["id"], category=d["category"], received_at=_undt(d["received_at"]),  # type: ignore[arg-type]
                       members={r[0]: _member(r) for r in d["members"]}, status=Status(d["status"]),
                       reasons=d["reasons"], merged_into=d["merged_into"], claimed_by=d["claimed_by"],
                       claim_until=_undt(d["claim_until"]), audit=d["audit"], summary=_summary(d["summary"]))
        corr.incidents[inc.id] = inc
        cells = set(d["cells"])
        if cells:
            corr._cells[inc.id] = cells
            for cell in cells:
                corr._index.setdefault(cell, set()).add(inc.id)
        corr._place(inc)  # the candidate lookup is a function of the summary and the cells
    corr.owner = dict(doc["owner"])
    return ReplayState(correlator=corr, latest={e.id: e for e in _unenvelopes(doc["latest"])},
                       reports={e.id: e for e in _unenvelopes(doc["reports"])}, pending=_unenvelopes(doc["pending"]),
                       rows=doc["rows"], seq=doc["seq"], finished=doc["finished"])


# ------------------------------------------------------------------ storage


@dataclass(frozen=True)
class Checkpoint:
    """The replay state after every journal row with ``seq`` or less (``rows`` of them, the latest received at
    ``max_received_at``), made by rules ``fingerprint``; ``state`` is ``encode``'s bytes."""

    seq: int
    rows: int
    max_received_at: datetime
    fingerprint: str
    state: bytes


@dataclass(frozen=True)
class CheckpointInfo:
    """A stored checkpoint without its state: where it stands and its size in bytes."""

    seq: int
    rows: int
    max_received_at: datetime
    fingerprint: str
    size: int


class CheckpointRepository(Protocol):
    """Checkpoints of the history replay, keyed by journal seq."""

    async def newest_usable(self, *, fingerprint: str, upto: datetime, below: int | None = None) -> Checkpoint | None:
        """The newest checkpoint made with ``fingerprint`` all of whose rows were received at or before ``upto``
        and whose journal prefix still has its row count (one that lost it is deleted); with ``below``, only those
        with a smaller seq."""
        ...

    async def first_received_after(self, *, after: int, upto: datetime) -> int | None:
        """The first journal seq after ``after`` whose row was received after ``upto`` (None: there is none)."""
        ...

    async def put(self, *, seq: int, rows: int, fingerprint: str, state: bytes, keep: int) -> bool:
        """Store a checkpoint if the journal still has ``rows`` rows up to ``seq``; delete those of other
        fingerprints and all but the ``keep`` newest; whether it was stored."""
        ...

    async def listed(self) -> list[CheckpointInfo]:
        """Every stored checkpoint, newest first."""
        ...

    async def drop_all(self) -> int:
        """Delete every checkpoint (a rebuild); how many."""
        ...


class SQLiteCheckpoints(SQLiteRepository):
    schema = """
CREATE TABLE IF NOT EXISTS history_checkpoints (
    seq INTEGER PRIMARY KEY,
    rows INTEGER NOT NULL,
    max_received_at TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state BLOB NOT NULL,
    created_at TEXT NOT NULL
);
"""

    async def newest_usable(self, *, fingerprint: str, upto: datetime, below: int | None = None) -> Checkpoint | None:
        def _find(c: sqlite3.Connection) -> Checkpoint | None:
            found = c.execute("SELECT seq, rows FROM history_checkpoints WHERE fingerprint = ? AND max_received_at <= ?"
                              " AND seq < ? ORDER BY seq DESC", (fingerprint, ts(upto), below or 2**63 - 1)).fetchall()
            for seq, rows in found:
                if c.execute("SELECT count(*) FROM outbox WHERE seq <= ?", (seq,)).fetchone()[0] != rows:
                    c.execute("DELETE FROM history_checkpoints WHERE seq = ?", (seq,))
                    continue
                r = c.execute("SELECT seq, rows, max_received_at, fingerprint, state FROM history_checkpoints "
                              "WHERE seq = ?", (seq,)).fetchone()
                return Checkpoint(r[0], r[1], parse_ts(r[2]), r[3], bytes(r[4]))  # type: ignore[arg-type]
            return None

        return await self.run(_find)

    async def first_received_after(self, *, after: int, upto: datetime) -> int | None:
        return await self.run(lambda c: c.execute("SELECT min(seq) FROM outbox WHERE seq > ? AND received_at > ?",
                                                  (after, ts(upto))).fetchone()[0])

    async def put(self, *, seq: int, rows: int, fingerprint: str, state: bytes, keep: int) -> bool:
        def _put(c: sqlite3.Connection) -> bool:
            with _transaction(c):
                n, latest = c.execute("SELECT count(*), max(received_at) FROM outbox WHERE seq <= ?", (seq,)).fetchone()
                if n != rows or latest is None:
                    return False
                c.execute("DELETE FROM history_checkpoints WHERE fingerprint != ?", (fingerprint,))
                c.execute("INSERT OR REPLACE INTO history_checkpoints VALUES (?, ?, ?, ?, ?, ?)",
                          (seq, rows, latest, fingerprint, state, ts(utcnow())))
                c.execute("DELETE FROM history_checkpoints WHERE seq NOT IN "
                          "(SELECT seq FROM history_checkpoints ORDER BY seq DESC LIMIT ?)", (keep,))
            return True

        return await self.run(_put)

    async def listed(self) -> list[CheckpointInfo]:
        rows = await self.run(lambda c: c.execute(
            "SELECT seq, rows, max_received_at, fingerprint, length(state) FROM history_checkpoints "
            "ORDER BY seq DESC").fetchall())
        return [CheckpointInfo(r[0], r[1], parse_ts(r[2]), r[3], r[4]) for r in rows]  # type: ignore[arg-type]

    async def drop_all(self) -> int:
        return await self.run(lambda c: c.execute("DELETE FROM history_checkpoints").rowcount)


class PostGISCheckpoints(PostGISRepository):
    schema = """
CREATE TABLE IF NOT EXISTS history_checkpoints (
    seq BIGINT PRIMARY KEY,
    rows BIGINT NOT NULL,
    max_received_at TIMESTAMPTZ NOT NULL,
    fingerprint TEXT NOT NULL,
    state BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
"""

    async def newest_usable(self, *, fingerprint: str, upto: datetime, below: int | None = None) -> Checkpoint | None:
        pool = await self.pool()
        found = await pool.fetch("SELECT seq, rows FROM history_checkpoints WHERE fingerprint = $1 AND "
                                 "max_received_at <= $2 AND seq < $3 ORDER BY seq DESC",
                                 fingerprint, upto, below or 2**63 - 1)
        for seq, rows in found:
            if await pool.fetchval("SELECT count(*) FROM outbox WHERE seq <= $1", seq) != rows:
                await pool.execute("DELETE FROM history_checkpoints WHERE seq = $1", seq)
                continue
            r = await pool.fetchrow("SELECT seq, rows, max_received_at, fingerprint, state FROM history_checkpoints "
                                    "WHERE seq = $1", seq)
            if r is not None:
                return Checkpoint(r[0], r[1], r[2], r[3], bytes(r[4]))
        return None

    async def first_received_after(self, *, after: int, upto: datetime) -> int | None:
        return await (await self.pool()).fetchval("SELECT min(seq) FROM outbox WHERE seq > $1 AND received_at > $2",
                                                  after, upto)

    async def put(self, *, seq: int, rows: int, fingerprint: str, state: bytes, keep: int) -> bool:
        pool = await self.pool()
        async with pool.acquire() as conn, conn.transaction():
            r = await conn.fetchrow("SELECT count(*), max(received_at) FROM outbox WHERE seq <= $1", seq)
            if r[0] != rows or r[1] is None:
                return False
            await conn.execute("DELETE FROM history_checkpoints WHERE fingerprint != $1", fingerprint)
            await conn.execute(
                "INSERT INTO history_checkpoints VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (seq) DO UPDATE SET "
                "rows = EXCLUDED.rows, max_received_at = EXCLUDED.max_received_at, fingerprint = EXCLUDED.fingerprint,"
                " state = EXCLUDED.state, created_at = EXCLUDED.created_at", seq, rows, r[1], fingerprint, state, utcnow())
            await conn.execute("DELETE FROM history_checkpoints WHERE seq NOT IN "
                               "(SELECT seq FROM history_checkpoints ORDER BY seq DESC LIMIT $1)", keep)
        return True

    async def listed(self) -> list[CheckpointInfo]:
        rows = await (await self.pool()).fetch(
            "SELECT seq, rows, max_received_at, fingerprint, length(state) FROM history_checkpoints ORDER BY seq DESC")
        return [CheckpointInfo(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    async def drop_all(self) -> int:
        status = await (await self.pool()).execute("DELETE FROM history_checkpoints")
        return int(status.split()[-1])


CHECKPOINTS = RepositorySpec[CheckpointRepository]("history_checkpoints", sqlite=SQLiteCheckpoints,
                                                   postgis=PostGISCheckpoints)


async def drop_checkpoints(store: Store) -> int:
    """Delete every history checkpoint of ``store`` (with a rebuild of the projection); how many."""
    return await store.repository(CHECKPOINTS).drop_all()
