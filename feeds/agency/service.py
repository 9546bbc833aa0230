"""Agency decisions: who is submitting, whether it lies in their jurisdiction, the event id, whether
a resubmission is theirs, what a closure was understood to close, and the raw.agency event. Pure
functions; errors are domain errors.

Closure ids are ``agency:<agency_id>:<reference>``, ``agency_id`` being the agency's stable identity
stored with its tokens (``emergency.auth.agencies``). Agencies whose first token predates agency ids
were given the slug of their name, so their older ids (``agency:<slug>:<reference>``) stay theirs and
resubmitting a reference still updates the same closure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shapely.geometry import shape
from shapely.prepared import prep

from emergency.auth.agencies import agency_slug
from emergency.auth.models import TokenRecord
from emergency.errors import Forbidden, ValidationFailed
from emergency.events import Envelope, GeoPrecision, Kind, Source, new_id
from emergency.geometry import to_shape
from emergency.store.base import OnConflict
from emergency.timebounds import next_window
from feeds.agency.inputs.base import AgencyInputIn, Built, InputKind
from feeds.agency.models import RoadClosureIn, UnderstoodClosure
from mapping.regions import Region
from mapping.snap import SnapError, snap_between, snap_line


def agency_of(*, principal: TokenRecord) -> str:
    """The agency a token acts for: its agency, else its holder's name."""
    return principal.agency or principal.name


def within_jurisdiction(*, geometry: dict[str, Any], jurisdiction: dict[str, Any] | None) -> bool:
    """True when the geometry lies inside the jurisdiction polygon (both GeoJSON, WGS 84)."""
    return jurisdiction is not None and _area(jurisdiction).covers(to_shape(geometry))


_AREAS: dict[int, tuple[dict[str, Any], Any]] = {}


def _area(jurisdiction: dict[str, Any]) -> Any:
    """The jurisdiction (GeoJSON, WGS 84) as a prepared shape, built once per jurisdiction object (a bulk
    upload checks thousands of rows against one token's)."""
    hit = _AREAS.get(id(jurisdiction))
    if hit is None or hit[0] is not jurisdiction:
        if len(_AREAS) >= 64:
            _AREAS.clear()
        hit = _AREAS[id(jurisdiction)] = (jurisdiction, prep(to_shape(jurisdiction)))
    return hit[1]


def check_jurisdiction(*, geometry: dict[str, Any], principal: TokenRecord, field: str = "geometry") -> None:
    """Forbidden (naming ``field``) unless the geometry (GeoJSON, WGS 84) lies inside the token's
    jurisdiction polygon."""
    if not within_jurisdiction(geometry=geometry, jurisdiction=principal.jurisdiction):
        raise Forbidden(field, f"lies outside the jurisdiction of {agency_of(principal=principal)}")


def agency_id_of(*, principal: TokenRecord) -> str:
    """The stable identity of the token's agency: its stored ``agency_id`` (a record built without one,
    as tokens stored before agency ids were, acts under the slug of its agency, as they were given)."""
    return principal.agency_id or agency_slug(agency_of(principal=principal))


def closure_id(*, agency_id: str, reference: str | None) -> str:
    """``agency:<agency_id>:<reference>`` for a closure with the agency's own reference, else a new id."""
    return f"agency:{agency_id}:{reference}" if reference else new_id("agency")


def input_id(*, agency_id: str, slug: str, reference: str) -> str:
    """``agency:<agency_id>:<slug>:<reference>``: the id of an agency input other than a closure."""
    return f"agency:{agency_id}:{slug}:{reference}"


def check_owner(*, existing: Envelope | None, principal: TokenRecord, reference: str | None,
                what: str = "closure") -> None:
    """Forbidden (naming ``reference``) when the closure already under this id was submitted by another
    agency: another ``agency_id``, or (closures from before agency ids, and older look-alike agencies
    sharing one slug) another exact agency name."""
    if existing is None:
        return
    attrs = existing.attributes
    owner_id, owner = attrs.get("agency_id"), attrs.get("agency")
    if (owner_id is not None and owner_id != agency_id_of(principal=principal)) \
            or owner != agency_of(principal=principal):
        raise Forbidden("reference", f"{reference} is a {what} of another agency ({owner}); "
                        "only the agency that submitted it may update it")


def input_event(*, kind: InputKind, item: AgencyInputIn, built: Built, event_id: str, agency: str, agency_id: str,
                now: datetime) -> Envelope:
    """The raw.agency envelope of an agency input: the built geometry (GeoJSON, WGS 84), text and
    attributes, with the submitting agency (its owner) and the reference."""
    return Envelope(
        id=event_id, kind=Kind.agency_report, source=Source(type="agency_api", ref=item.reference),
        observed_at=min(built.observed_at, now), received_at=now, category=kind.category, text=built.text,
        geometry=built.geometry, location_text=built.location_text, geo_precision=GeoPrecision.exact,
        confidence=1.0,
        attributes={"ended": None, **built.attributes, "agency": agency, "agency_id": agency_id,
                    "reference": item.reference},
    )


def ended_version(*, existing: Envelope, status: str, now: datetime) -> Envelope:
    """A new version of ``existing`` recorded as ended ``now`` with ``status`` (its layer's ``ended``
    expiry attribute: the projector records it as ended and open maps get a ``remove``)."""
    return existing.model_copy(update={"attributes": {**existing.attributes, "status": status,
                                                      "ended": now.isoformat()}, "received_at": now})


def closure_status(*, closure: RoadClosureIn, now: datetime) -> str:
    """The closure's status as given, else planned (start ahead) or active."""
    return closure.status or ("planned" if closure.start > now else "active")


def closure_on_conflict(*, reference: str | None) -> OnConflict:
    """A resubmitted reference updates the closure (a new version); without one a retry is kept once."""
    return "append" if reference else "keep"


def needs_roads(*, closure: RoadClosureIn) -> bool:
    """True when the closure is placed on the region's roads (road + cross streets, or ``snap``)."""
    return closure.road is not None or closure.snap


def understand_closure(*, closure: RoadClosureIn, region: Region | None) -> UnderstoodClosure:
    """The closed stretch on the region's roads, by exact names only; ValidationFailed naming the
    field and its candidates otherwise. ``region`` may be None only for a drawn line without snap."""
    try:
        if closure.road is not None:
            assert region is not None and closure.from_ is not None and closure.to is not None
            s = snap_between(region, closure.road, closure.from_, closure.to, exact=True)
            return UnderstoodClosure(s.geometry, s.names[0], s.names[1], s.names[2], s.length_m)
        assert closure.geometry is not None
        if closure.snap:
            assert region is not None
            s = snap_line(region, closure.geometry)
            return UnderstoodClosure(s.geometry, closure.road_name or " / ".join(s.names), None, None, s.length_m)
    except SnapError as exc:
        raise ValidationFailed(exc.field, exc.message, exc.suggestions) from None
    length = round(float(region.project(shape(closure.geometry)).length), 1) if region is not None else None
    return UnderstoodClosure(closure.geometry, closure.road_name, None, None, length)


def understand_detour(*, closure: RoadClosureIn, region: Region | None) -> dict[str, Any] | None:
    """The detour line (GeoJSON, WGS 84): as drawn, or snapped onto the roads it follows when
    ``detour_snap``; ValidationFailed naming ``detour`` when it follows no road."""
    if closure.detour is None or not closure.detour_snap:
        return closure.detour
    assert region is not None
    try:
        return snap_line(region, closure.detour).geometry
    except SnapError as exc:
        raise ValidationFailed("detour", exc.message, exc.suggestions) from None


def understand_windows(*, closure: RoadClosureIn, region: Region | None, now: datetime,
                       ) -> tuple[str | None, tuple[datetime, datetime] | None]:
    """The windows' timezone (as given, else the region's) and the window in progress or next (UTC) from
    ``now`` or the closure's start, whichever is later; ValidationFailed naming ``timezone`` when there is
    none, ``windows`` when no window falls between start and end. (None, None) without windows."""
    if not closure.windows:
        return None, None
    zone = closure.timezone or (region.meta.get("timezone") if region is not None else None)
    if not zone:
        raise ValidationFailed("timezone", "is required with windows (the region names no timezone): an IANA "
                                           "name such as America/Los_Angeles")
    first = next_window(windows=[w.model_dump() for w in closure.windows], timezone=zone,
                        at=max(now, closure.start), within=(closure.start, closure.end))
    if first is None:
        raise ValidationFailed("windows", "no window falls between start and end")
    return zone, first


def closure_event(*, closure: RoadClosureIn, understood: UnderstoodClosure, event_id: str, agency: str,
                  agency_id: str, now: datetime, detour: dict[str, Any] | None = None,
                  timezone: str | None = None) -> Envelope:
    """The envelope for a road closure, on the understood geometry, with road/from/to/length, status,
    lanes (and lane detail), recurring windows with their ``timezone``, and detour (GeoJSON, WGS 84) public and the submitting agency (``agency``, ``agency_id``: its
    owner) in the attributes. A ``reopened`` closure is recorded as ended now."""
    status = closure_status(closure=closure, now=now)
    return Envelope(
        id=event_id, kind=Kind.agency_report, source=Source(type="agency_api", ref=closure.reference),
        observed_at=closure.start if closure.start <= now else now, received_at=now, category="road_closure",
        text=closure.reason, geometry=understood.geometry, location_text=understood.road,
        geo_precision=GeoPrecision.exact, confidence=1.0,
        attributes={
            "agency": agency, "agency_id": agency_id, "reason": closure.reason, "road_name": understood.road,
            "road": understood.road, "from": understood.from_, "to": understood.to,
            "length_m": understood.length_m,
            "reference": closure.reference, "start": closure.start.isoformat(),
            "end": closure.end.isoformat() if closure.end else None,
            "status": status, "lanes_affected": closure.lanes_affected, "detour": detour,
            "ended": now.isoformat() if status == "reopened" else None,
            **({"lanes": list(closure.lanes)} if closure.lanes else {}),
            **({"windows": [w.model_dump() for w in closure.windows], "timezone": timezone}
               if closure.windows else {}),
        },
    )
