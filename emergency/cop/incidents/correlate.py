"""The correlation rules and the coordinators' actions as a deterministic state machine (no I/O).

``Correlator`` holds the incidents one correlator owns, with an in-memory spatial index (H3 cells
at ``INDEX_RESOLUTION`` -> incident ids). ``add_report`` attaches a report to the best matching
open incident or opens one; ``apply_action`` applies a journaled coordinator action. Both return
the ids of the incidents that changed. Given the same inputs in the same order the result is the
same (ids are hashes of report or action ids, times come from the inputs, never from the clock).
Geometries are GeoJSON, WGS 84; distances metres.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections import Counter
from datetime import datetime
from typing import Any

import h3
import numpy as np
import shapely
from rapidfuzz import fuzz

from emergency.cop.incidents.models import (
    AUTHORITATIVE_KINDS,
    AUTOMATIC,
    CLOSED,
    DEFAULT_RADIUS_M,
    INDEX_RESOLUTION,
    LOCK_TTL,
    RADIUS_M,
    ROAD_NAME_MATCH,
    TEXT_WEIGHT,
    TITLE_MAX,
    WEIGHT_AUTHORITATIVE,
    WEIGHT_CROWD,
    WINDOW,
    ActionName,
    Incident,
    Member,
    Status,
    Summary,
    family_of,
    incident_id_for,
    split_id_for,
)
from emergency.events import Envelope, GeoPrecision, Kind, Source
from emergency.geometry import as_geojson, representative_point, to_shape

M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON = 111_320.0  # at the equator; times cos(latitude)
EDGE_M = h3.average_hexagon_edge_length(INDEX_RESOLUTION, unit="m")
SAMPLE_M = 500.0  # lines and areas are indexed by points at most this far apart


def _reference_resolution(radius_m: float) -> int:
    """The finest H3 resolution whose average hexagon edge is at least half ``radius_m`` (metres)."""
    return next((r for r in range(15, -1, -1) if h3.average_hexagon_edge_length(r, unit="m") >= radius_m / 2), 0)


REFERENCE_RESOLUTION: dict[str, int] = {f: _reference_resolution(r) for f, r in RADIUS_M.items()}
DEFAULT_REFERENCE_RESOLUTION = _reference_resolution(DEFAULT_RADIUS_M)
REFERENCE_EDGE_M = [h3.average_hexagon_edge_length(r, unit="m") for r in range(16)]


def _discard(index: dict[str, dict[str, set[str]]], category: str, cell: str, iid: str) -> None:
    by_cell = index[category]
    ids = by_cell[cell]
    ids.discard(iid)
    if not ids:
        del by_cell[cell]


def _local(geom: Any, lon0: float, lat0: float):
    """``geom`` (shapely, degrees) in metres on a plane tangent at (lon0, lat0)."""
    k = math.cos(math.radians(lat0)) * M_PER_DEG_LON

    def to_m(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(((xy[:, 0] - lon0) * k, (xy[:, 1] - lat0) * M_PER_DEG_LAT))

    return shapely.transform(geom, to_m)


def distance_m(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Ground distance in metres between two GeoJSON geometries (WGS 84), 0 when they touch."""
    if a["type"] == "Point" and b["type"] == "Point":  # the common case, without building shapes
        (x1, y1), (x2, y2) = a["coordinates"][:2], b["coordinates"][:2]
        dx = (x2 - x1) * math.cos(math.radians((y1 + y2) / 2)) * M_PER_DEG_LON
        return math.hypot(dx, (y2 - y1) * M_PER_DEG_LAT)
    lon0, lat0 = representative_point(a)
    return float(_local(to_shape(a), lon0, lat0).distance(_local(to_shape(b), lon0, lat0)))


def _box_distance_m(point: list[float], box: tuple[float, float, float, float]) -> float:
    """Metres from ``point`` (lon, lat) to the bounds ``box`` (min lon, min lat, max lon, max lat) on the plane
    ``distance_m`` measures a point's distance to a line or area in: at most that distance."""
    lon0, lat0 = point
    dx = max(box[0] - lon0, 0.0, lon0 - box[2]) * math.cos(math.radians(lat0)) * M_PER_DEG_LON
    return math.hypot(dx, max(box[1] - lat0, 0.0, lat0 - box[3]) * M_PER_DEG_LAT)


def sample_points(geom: dict[str, Any]) -> list[tuple[float, float]]:
    """(lon, lat) points standing for ``geom`` in the index: a point, or vertices and points along lines
    and area boundaries at most ``SAMPLE_M`` apart."""
    if geom["type"] == "Point":
        return [(geom["coordinates"][0], geom["coordinates"][1])]
    shp = to_shape(geom)
    if shp.geom_type == "Point":
        return [(shp.x, shp.y)]
    lines = shp.boundary if shp.geom_type in ("Polygon", "MultiPolygon") else shp
    parts = getattr(lines, "geoms", [lines])
    out: list[tuple[float, float]] = []
    for line in parts:
        coords = list(line.coords)
        out += coords
        for (x1, y1), (x2, y2) in zip(coords, coords[1:], strict=False):
            n = int(distance_m({"type": "Point", "coordinates": [x1, y1]},
                               {"type": "Point", "coordinates": [x2, y2]}) // SAMPLE_M)
            out += [(x1 + (x2 - x1) * i / (n + 1), y1 + (y2 - y1) * i / (n + 1)) for i in range(1, n + 1)]
    return out


@functools.lru_cache(maxsize=1 << 16)
def _disk(cell: str, k: int) -> frozenset[str]:
    """The H3 cells within ``k`` rings of ``cell`` (cached: reports of one area ask for the same disks)."""
    return frozenset(h3.grid_disk(cell, k))


def _cells(geom: dict[str, Any]) -> set[str]:
    return {h3.latlng_to_cell(lat, lon, INDEX_RESOLUTION) for lon, lat in sample_points(geom)}


def reporter_key(event: Envelope) -> str:
    """A hash standing for who reported ``event`` (its contact, author, agency or, failing those, itself)."""
    private = event.attributes.get("private") or {}
    who = (private.get("reporter") or private.get("contact") or private.get("author") or event.attributes.get("agency_id")
           or (event.source.ref if event.kind in AUTHORITATIVE_KINDS else None) or event.id)
    return hashlib.sha256(f"{event.source.type}|{who}".encode()).hexdigest()[:16]


def road_of(event: Envelope) -> str | None:
    """The road a road report is about, when known (agency road name, else the report's location text)."""
    a = event.attributes
    name = a.get("road_name") or a.get("road") or event.location_text
    return str(name).strip().lower() or None if name else None


def member_of(event: Envelope) -> Member:
    """What the correlator keeps of a report (``event.geometry`` must be set)."""
    assert event.geometry is not None
    family = family_of(event.kind, event.category)
    return Member(id=event.id, kind=event.kind.value, source_type=event.source.type,
                  authoritative=event.kind in AUTHORITATIVE_KINDS, reporter=reporter_key(event),
                  category=event.category, geometry=event.geometry,
                  road=road_of(event) if family == "blocked_road" else None, text=(event.text or "")[:500],
                  observed_at=event.observed_at, received_at=event.received_at)


class Correlator:
    """The incidents of one correlator, their spatial index and which incident holds each report."""

    def __init__(self) -> None:
        self.incidents: dict[str, Incident] = {}
        self.owner: dict[str, str] = {}              # report id -> incident id
        self._index: dict[str, set[str]] = {}        # H3 cell -> incident ids
        self._cells: dict[str, set[str]] = {}        # incident id -> its cells
        # The candidate lookup (``candidates``), by category and by where distances to an incident are measured
        # from: a mean point (or an authoritative point) under its H3 cell at the family's reference resolution
        # (``REFERENCE_RESOLUTION``), an authoritative line or area under the incident's index cells.
        self._points: dict[str, dict[str, set[str]]] = {}  # category -> H3 cell of its reference point -> ids
        self._point_of: dict[str, tuple[str, str]] = {}     # incident id -> (category, cell) in _points
        self._wide: dict[str, dict[str, set[str]]] = {}    # category -> index cell -> ids measured from a line/area
        self._wide_of: dict[str, tuple[str, set[str]]] = {}  # incident id -> (category, cells) in _wide
        self._box: dict[str, tuple[float, float, float, float]] = {}  # those: bounds of the line or area (degrees)

    # ------------------------------------------------------------------ reports

    def add_report(self, event: Envelope) -> set[str]:
        """Attach ``event`` (with a geometry and a correlated category) to its incident; the changed incident ids.

        A report seen before (same id) updates its member in place when newer, in the incident it is in.
        """
        member = member_of(event)
        held = self.owner.get(event.id)
        if held is not None:
            inc = self.incidents[held]
            if member.received_at < inc.members[event.id].received_at:
                return set()
            inc.members[event.id] = member
            inc.summary = summarise(inc)
            self._touch(inc, member.received_at, [member])
            return {inc.id}
        family = family_of(event.kind, event.category)
        assert family is not None
        inc = self.hinted(member, family, event.attributes.get("incident_hint")) or self._best(member, family)
        if inc is None:
            new_id = incident_id_for(event.id)
            while new_id in self.incidents:  # only when a split emptied the incident this id first named
                new_id = incident_id_for(new_id)
            inc = Incident(id=new_id, category=family, received_at=member.received_at)
            self.incidents[new_id] = inc
        inc.members[event.id] = member
        self.owner[event.id] = inc.id
        absorb(inc, member)
        self._touch(inc, member.received_at, [member])
        return {inc.id}

    def candidates(self, member: Member, family: str) -> list[tuple[float, str, Incident]]:
        """Open incidents ``member`` may join, with their score (lower is better), best first."""
        return self.scored(member, family, self.near(member, family))

    def near(self, member: Member, family: str) -> set[str]:
        """The ids of the incidents ``member`` is compared with.

        Searched: incidents of the family with one of their cells in ``grid_disk(cell, ceil(radius/edge)+1)`` of the
        report's cells (the index, resolution ``INDEX_RESOLUTION``). Only those that can be within the radius are
        looked at: those measured from a line or area, and those whose reference point lies within
        ``ceil(reach/edge) + 2`` rings of the report at the family's reference resolution (reach = the radius, plus
        half the sampling step for a line or area report). Two points ``reach`` apart lie in cells whose centres are
        at most ``reach + 2 edge`` apart, hence at most ``reach/(1.5 edge) + 4/3`` rings: this holds with hexagons
        up to 1.5 times smaller than the average edge.
        """
        radius = RADIUS_M.get(family, DEFAULT_RADIUS_M)
        geom = member.geometry
        res = REFERENCE_RESOLUTION.get(family, DEFAULT_REFERENCE_RESOLUTION)
        reach = radius + (0.0 if geom["type"] == "Point" else SAMPLE_M / 2)
        kr = math.ceil(reach / REFERENCE_EDGE_M[res]) + 2
        near: set[str] = set()
        points = self._points.get(family)
        if points:
            for lon, lat in sample_points(geom):
                for c in points.keys() & _disk(h3.latlng_to_cell(lat, lon, res), kr):
                    near |= points[c]
        wide = self._wide.get(family)
        if not near and not wide:
            return near
        k = math.ceil(radius / EDGE_M) + 1
        disk: set[str] = set()
        for cell in _cells(geom):
            disk |= _disk(cell, k)
        if wide:
            for c in wide.keys() & disk:
                near |= wide[c]
        cells = self._cells
        return {iid for iid in near if not cells[iid].isdisjoint(disk)}  # what the H3 index finds, as before

    def scored(self, member: Member, family: str, near: set[str]) -> list[tuple[float, str, Incident]]:
        """The incidents of ``near`` that ``member`` may join, with their score (lower is better), best first."""
        radius = RADIUS_M.get(family, DEFAULT_RADIUS_M)
        point = member.geometry["coordinates"][:2] if member.geometry["type"] == "Point" else None
        best: dict[str, tuple[float, str, Incident]] = {}
        for iid in near:  # the result is sorted, so the order here does not matter
            inc = self.incidents[iid]
            summary = inc.summary
            if inc.category != family or summary is None or summary.count == 0:
                continue
            target = self.open_target(inc)  # a duplicate still matches where it was, for the incident it went into
            if target is None or target.summary is None:
                continue
            if not summary.first_seen - WINDOW <= member.observed_at <= summary.last_seen + WINDOW:
                continue
            anchor = target.summary.anchor
            if member.authoritative and anchor is not None and anchor.id != member.id:
                continue  # two authoritative items with distinct references are never one incident
            roads = summary.roads
            if member.road and roads and max(fuzz.partial_ratio(member.road, r) for r in roads) < ROAD_NAME_MATCH:
                continue  # a blocked road is the same road
            box = self._box.get(iid) if point is not None else None
            if box is not None and _box_distance_m(point, box) > radius + 1.0:
                continue  # the line or area is farther than its bounds (1 m for rounding): skip the exact distance
            d = distance_m(member.geometry, reference_geometry(summary))
            if d > radius:
                continue
            texts = [t for t in summary.texts if t]
            sim = max((fuzz.token_set_ratio(member.text, t) for t in texts), default=0) / 100 if member.text else 0
            score = (d / radius - TEXT_WEIGHT * sim, target.id, target)
            if target.id not in best or score[0] < best[target.id][0]:
                best[target.id] = score
        return sorted(best.values(), key=lambda f: (f[0], f[1]))

    def hinted(self, member: Member, family: str, hint: object) -> Incident | None:
        """The incident a citizen asked to add ``member`` to (``incident_hint``), when it may: it exists, is open
        (a duplicate leads to the incident it went into), has ``family``, and is within its radius (metres) and
        ``WINDOW``; None otherwise (the report is then correlated as usual)."""
        if not isinstance(hint, str) or hint not in self.incidents:
            return None
        target = self.open_target(self.incidents[hint])
        if target is None or target.category != family or target.summary is None or target.summary.count == 0:
            return None
        s = target.summary
        if not s.first_seen - WINDOW <= member.observed_at <= s.last_seen + WINDOW:
            return None
        if distance_m(member.geometry, reference_geometry(s)) > RADIUS_M.get(family, DEFAULT_RADIUS_M):
            return None
        return target

    def open_target(self, inc: Incident) -> Incident | None:
        """``inc``, or for a duplicate the incident it was (in the end) merged into; None when that is closed."""
        seen: set[str] = set()
        while inc.status is Status.duplicate and inc.merged_into and inc.id not in seen:
            seen.add(inc.id)
            inc = self.incidents.get(inc.merged_into, inc)
        return None if inc.status in CLOSED else inc

    def _best(self, member: Member, family: str) -> Incident | None:
        found = self.candidates(member, family)
        return found[0][2] if found else None

    def _touch(self, inc: Incident, received_at: datetime, added: list[Member] | None = None) -> None:
        """After ``inc``'s members changed: newer ``received_at``, automatic status, index (only the cells of
        ``added`` when given, else all again)."""
        inc.received_at = max(inc.received_at, received_at)
        if inc.status in AUTOMATIC:
            inc.status = automatic_status(inc)
        if added is None:
            self._reindex(inc)
        else:
            cells = self._cells.setdefault(inc.id, set())
            for m in added:
                for cell in _cells(m.geometry) - cells:
                    cells.add(cell)
                    self._index.setdefault(cell, set()).add(inc.id)
        self._place(inc)

    def _place(self, inc: Incident) -> None:
        """File ``inc`` for the candidate lookup by where distances to it are measured from (after its summary or
        cells changed): its reference point's cell, or for a line or area its member cells."""
        placed = self._point_of.pop(inc.id, None)
        if placed is not None:
            _discard(self._points, *placed, inc.id)
        wide = self._wide_of.pop(inc.id, None)
        if wide is not None:
            for c in wide[1]:
                _discard(self._wide, wide[0], c, inc.id)
        self._box.pop(inc.id, None)
        s = inc.summary
        if s is None or s.count == 0:
            return
        ref = reference_geometry(s)
        if ref["type"] == "Point":
            lon, lat = ref["coordinates"][:2]
            cell = h3.latlng_to_cell(lat, lon, REFERENCE_RESOLUTION.get(inc.category, DEFAULT_REFERENCE_RESOLUTION))
            self._points.setdefault(inc.category, {}).setdefault(cell, set()).add(inc.id)
            self._point_of[inc.id] = (inc.category, cell)
            return
        cells = set(self._cells.get(inc.id, ()))
        by_cell = self._wide.setdefault(inc.category, {})
        for c in cells:
            by_cell.setdefault(c, set()).add(inc.id)
        self._wide_of[inc.id] = (inc.category, cells)
        xy = np.asarray(sample_points(ref))
        self._box[inc.id] = (float(xy[:, 0].min()), float(xy[:, 1].min()), float(xy[:, 0].max()), float(xy[:, 1].max()))

    def _reindex(self, inc: Incident) -> None:
        for cell in self._cells.pop(inc.id, set()):
            ids = self._index.get(cell)
            if ids is not None:
                ids.discard(inc.id)
                if not ids:
                    del self._index[cell]
        cells: set[str] = set()
        for m in inc.members.values():
            cells |= _cells(m.geometry)
        self._cells[inc.id] = cells
        for cell in cells:
            self._index.setdefault(cell, set()).add(inc.id)

    def load(self, inc: Incident) -> None:
        """Hold ``inc`` (read back from the store at start)."""
        self.incidents[inc.id] = inc
        for rid in inc.members:
            self.owner[rid] = inc.id
        if inc.members:
            inc.summary = summarise(inc)
        self._reindex(inc)
        self._place(inc)

    # ------------------------------------------------------------------ actions

    def apply_action(self, action: Envelope) -> set[str] | None:
        """Apply a coordinator's action (``action.id`` is the incident's id); the changed incident ids, or None
        when what it names has not arrived yet (a replay may bring an action before its reports: try again later).

        An action the state no longer allows (someone else's lock, a target merged meanwhile) is recorded in the
        audit trail as refused and changes nothing else.
        """
        a = action.attributes
        inc = self.incidents.get(action.id)
        if inc is None:
            return None
        if any(e.get("action_id") == a["action_id"] for e in inc.audit):
            return {inc.id}  # redelivered: its state again, so its journal row counts as applied
        at = action.received_at
        name = ActionName(a["action"])
        entry = {"action_id": a["action_id"], "action": name.value, "by": a["by"], "by_roles": a.get("by_roles", []),
                 "at": at.isoformat(), **{k: a[k] for k in ("reason", "public_reason", "target", "reports", "text")
                                           if a.get(k) is not None}}
        target = self.incidents.get(a.get("target") or "") if name is ActionName.merge else None
        if name is ActionName.merge and target is None:
            return None
        if name is ActionName.split and any(r not in self.owner for r in a.get("reports") or []):
            return None
        refusal = self.refusal(inc, name, by=a["by"], at=at, target=target, reports=a.get("reports") or [])
        changed = {inc.id}
        if refusal is not None:
            entry["refused"] = refusal
        elif name is ActionName.merge:
            assert target is not None
            self._merge(inc, target, entry, at)
            changed.add(target.id)
        elif name is ActionName.split:
            changed.add(self._split(inc, list(a["reports"]), entry, at))
        else:
            self._set_state(inc, name, entry, at)
        inc.audit.append(entry)
        inc.received_at = max(inc.received_at, at)
        return changed

    def refusal(self, inc: Incident, name: ActionName, *, by: str, at: datetime, target: Incident | None = None,
                reports: list[str] = ()) -> str | None:
        """Why ``by`` may not take action ``name`` on ``inc`` at ``at`` given the state (None: it may).

        The API asks the same question of the projected state before journaling, and answers with the status
        returned by ``refusal_status``.
        """
        return refusal(inc, name, by=by, at=at, target=target, reports=reports, owner=self.owner)

    def _set_state(self, inc: Incident, name: ActionName, entry: dict[str, Any], at: datetime) -> None:
        if name is ActionName.verify:
            inc.status, inc.reasons = Status.verified, {}
        elif name is ActionName.dismiss:
            inc.status = Status.dismissed
            inc.reasons = {k: entry[k] for k in ("reason", "public_reason") if k in entry}
        elif name is ActionName.resolve:
            inc.status, inc.reasons = Status.resolved, {}
        elif name is ActionName.reopen:
            inc.status, inc.reasons = automatic_status(inc), {}
        elif name is ActionName.claim:
            inc.claimed_by, inc.claim_until = entry["by"], at + LOCK_TTL
        elif name is ActionName.release:
            inc.claimed_by, inc.claim_until = None, None

    def _merge(self, inc: Incident, target: Incident, entry: dict[str, Any], at: datetime) -> None:
        for rid, m in inc.members.items():
            target.members[rid] = m
            self.owner[rid] = target.id
        moved = list(inc.members.values())
        inc.members = {}  # its summary and index cells stay: a later report there joins the target
        inc.status, inc.merged_into = Status.duplicate, target.id
        inc.claimed_by = inc.claim_until = None
        target.audit.append({**entry, "action": "merged_in", "from": inc.id})
        target.summary = summarise(target)
        self._touch(target, at, moved)

    def _split(self, inc: Incident, reports: list[str], entry: dict[str, Any], at: datetime) -> str:
        new = Incident(id=split_id_for(inc.id, entry["action_id"]), category=inc.category, received_at=at)
        for rid in sorted(reports):
            new.members[rid] = inc.members.pop(rid)
            self.owner[rid] = new.id
        new.audit.append({**entry, "action": "split_from", "from": inc.id})
        entry["into"] = new.id
        self.incidents[new.id] = new
        new.summary, inc.summary = summarise(new), summarise(inc)
        self._touch(new, at)
        self._touch(inc, at)
        return new.id


TEXTS_KEPT = 10  # texts of an incident's first reports compared as the tie-breaker


def summarise(inc: Incident) -> Summary:
    """``inc``'s summary from all its reports (after a split, a merge or an update)."""
    members = sorted(inc.members.values(), key=lambda m: (m.observed_at, m.id))
    points = [representative_point(m.geometry) for m in members]
    return Summary(first_seen=members[0].observed_at, last_seen=max(m.observed_at for m in members),
                   anchor=next((m for m in members if m.authoritative), None),
                   roads={m.road for m in members if m.road}, sum_lon=sum(p[0] for p in points),
                   sum_lat=sum(p[1] for p in points), count=len(points), reporters={m.reporter for m in members},
                   texts=[m.text for m in members[:TEXTS_KEPT]])


def absorb(inc: Incident, m: Member) -> None:
    """Add a new report ``m`` (already in ``inc.members``) to ``inc``'s summary."""
    s = inc.summary
    if s is None:
        inc.summary = summarise(inc)
        return
    lon, lat = representative_point(m.geometry)
    s.first_seen, s.last_seen = min(s.first_seen, m.observed_at), max(s.last_seen, m.observed_at)
    if m.authoritative and (s.anchor is None or (m.observed_at, m.id) < (s.anchor.observed_at, s.anchor.id)):
        s.anchor = m
    if m.road:
        s.roads.add(m.road)
    s.sum_lon, s.sum_lat, s.count = s.sum_lon + lon, s.sum_lat + lat, s.count + 1
    s.reporters.add(m.reporter)
    if len(s.texts) < TEXTS_KEPT:
        s.texts.append(m.text)


def reference_geometry(s: Summary) -> dict[str, Any]:
    """Where distances to an incident are measured from (GeoJSON, WGS 84): its authoritative item's geometry (a
    closed road's line), else the mean point of its reports (so a chain of reports cannot creep away from it)."""
    if s.anchor is not None:
        return s.anchor.geometry
    return {"type": "Point", "coordinates": [s.sum_lon / s.count, s.sum_lat / s.count]}


def automatic_status(inc: Incident) -> Status:
    """``corroborated`` with an authoritative report or two distinct reporters, else ``unverified``."""
    s = inc.summary
    if s is None or not inc.members:
        return Status.unverified
    if s.anchor is not None or len(s.reporters) >= 2:
        return Status.corroborated
    return Status.unverified


REFUSAL_STATUS = {"locked": 409, "duplicate": 409, "itself": 422, "target": 422, "reports": 422}


def refusal(inc: Incident, name: ActionName, *, by: str, at: datetime, target: Incident | None,
            reports: list[str] | tuple[str, ...], owner: dict[str, str] | None = None) -> str | None:
    """Why ``by`` may not take action ``name`` on ``inc`` at ``at``: ``"<class>: <reason>"`` (classes in
    ``REFUSAL_STATUS``), or None. ``owner`` (report id -> incident id) is only used for messages."""
    holder = inc.claim_holder(at)
    if holder is not None and holder != by:
        until = inc.claim_until.isoformat() if inc.claim_until else "?"
        return f"locked: claimed by {holder} until {until}"
    if inc.status is Status.duplicate:
        return f"duplicate: merged into {inc.merged_into}; act on that incident"
    if name is ActionName.release and holder is None:
        return "locked: this incident is not claimed"
    if name is ActionName.merge:
        if target is None:
            return "target: no such incident"
        if target.id == inc.id:
            return "itself: cannot merge an incident into itself"
        if target.status is Status.duplicate:
            return f"target: {target.id} was merged into {target.merged_into}; merge into that one"
        t_holder = target.claim_holder(at)
        if t_holder is not None and t_holder != by:
            return f"locked: the target is claimed by {t_holder}"
    if name is ActionName.split:
        missing = sorted(r for r in reports if r not in inc.members)
        if not reports:
            return "reports: name at least one report to split out"
        if missing:
            return f"reports: not in this incident: {', '.join(missing[:5])}"
        if len(set(reports)) >= len(inc.members):
            return "reports: a split must leave at least one report in the incident"
    return None


# ------------------------------------------------------------------ the incident as an envelope


def incident_envelope(inc: Incident) -> Envelope:
    """The full state of ``inc`` as a ``Kind.incident`` envelope: a Point (WGS 84) where it is, the hull of its
    reports and the public state in the attributes, its members, audit trail and lock holder under ``private``."""
    members = sorted(inc.members.values(), key=lambda m: (m.observed_at, m.id))
    anchor = next((m for m in members if m.authoritative), members[0] if members else None)
    private: dict[str, Any] = {"members": [m.to_doc() for m in members], "audit": inc.audit,
                               "claimed_by": inc.claimed_by, "reason": inc.reasons.get("reason")}
    attrs: dict[str, Any] = {"status": inc.status.value, "merged_into": inc.merged_into,
                             "report_ids": [m.id for m in members], "report_count": len(members),
                             "claimed": inc.claimed_by is not None,
                             "claim_until": inc.claim_until.isoformat() if inc.claim_until else None,
                             "public_reason": inc.reasons.get("public_reason"), "private": private}
    if not members:  # a duplicate: all its reports moved to the incident it was merged into
        last = inc.audit[-1] if inc.audit else {}
        at = datetime.fromisoformat(last["at"]) if last else inc.received_at
        return Envelope(id=inc.id, kind=Kind.incident, source=Source(type="correlator"), observed_at=at,
                        received_at=inc.received_at, category=inc.category, text=f"merged into {inc.merged_into}",
                        confidence=0.0,
                        attributes={**attrs, "title": f"merged into {inc.merged_into}", "sources": {}, "reporters": 0,
                                    "first_seen": None, "last_seen": None, "hull": None})
    points = [representative_point(m.geometry) for m in members]
    if anchor is not None and anchor.authoritative:
        lon, lat = representative_point(anchor.geometry)
    else:
        lon, lat = sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)
    coords = [c for m in members for c in sample_points(m.geometry)]
    reporters = {m.reporter: m.authoritative for m in members}
    confidence = 1.0
    for authoritative in reporters.values():
        confidence *= 1 - (WEIGHT_AUTHORITATIVE if authoritative else WEIGHT_CROWD)
    title = ((anchor.text if anchor else "") or inc.category.replace("_", " "))[:TITLE_MAX]
    first, last_seen = members[0].observed_at, max(m.observed_at for m in members)
    attrs.update(title=title, first_seen=first.isoformat(), last_seen=last_seen.isoformat(),
                 sources=dict(sorted(Counter(m.source_type for m in members).items())), reporters=len(reporters),
                 hull=as_geojson(shapely.multipoints(np.asarray(coords, dtype=float)).convex_hull))
    return Envelope(id=inc.id, kind=Kind.incident, source=Source(type="correlator"), observed_at=last_seen,
                    received_at=inc.received_at, category=inc.category, text=title,
                    geometry={"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]},
                    geo_precision=GeoPrecision.exact, confidence=round(1 - confidence, 3), attributes=attrs)


def incident_from_envelope(event: Envelope) -> Incident:
    """The correlator state of a stored incident (inverse of ``incident_envelope``)."""
    a = event.attributes
    private = a.get("private") or {}
    members = [Member.from_doc(d) for d in private.get("members", [])]
    reasons = {k: v for k, v in (("reason", private.get("reason")), ("public_reason", a.get("public_reason"))) if v}
    until = a.get("claim_until")
    return Incident(id=event.id, category=event.category or "other", received_at=event.received_at,
                    members={m.id: m for m in members}, status=Status(a["status"]), reasons=reasons,
                    merged_into=a.get("merged_into"), claimed_by=private.get("claimed_by"),
                    claim_until=datetime.fromisoformat(until) if until else None, audit=list(private.get("audit", [])))


def annotated(report: Envelope, inc: Incident) -> Envelope:
    """``report`` carrying its incident's id and status (and, for a citizen report, ``verified``)."""
    attrs = {**report.attributes, "incident_id": inc.id, "incident_status": inc.status.value}
    if report.kind is Kind.citizen_report:
        attrs["verified"] = inc.status is Status.verified
    return report.model_copy(update={"attributes": attrs})
