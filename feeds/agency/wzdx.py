"""The road closures as a WZDx v4.2 WorkZoneFeed (US DOT Work Zone Data Exchange; GeoJSON, WGS 84).

Each active or planned closure is one ``work-zone`` road event; its detour, when it has one, a
``detour`` road event related to it both ways. WZDx geometries are LineStrings (or MultiPoints),
so a MultiLineString closure becomes one road event per part (``<id>#<n>``, ``next-in-sequence``).
WZDx requires an end: an open-ended closure gets the horizon the API accepts (``CLOSURE_HORIZON``
after its start) with ``is_end_date_verified: false``. Only the closures' public fields appear.

Lane detail (``lanes``, left-most first) becomes the ``lanes`` array (``order`` from 1, type
``general``). WZDx v4.2 has no recurrence field: a closure with recurring ``windows`` is a ``static``
work zone whose ``start_date``/``end_date`` span the whole closure, whose ``event_status`` is
``active`` inside a window and ``planned`` between windows (computed when the feed is read), and whose
``core_details.description`` states the windows, their timezone and the next window in UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from emergency.events import Envelope
from emergency.timebounds import CLOSURE_HORIZON, utc_text, window_state

WZDX_VERSION = "4.2"
CC0 = "https://creativecommons.org/publicdomain/zero/1.0/"
PUBLISHER = "Emergency common operating picture"


def _utc(value: str | datetime) -> str:
    """RFC 3339 UTC text (``2026-12-01T14:00:00Z``) of a zoned time or its ISO text."""
    at = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    return utc_text(at)


def schedule_text(*, windows: list[dict[str, Any]], timezone: str, next_window: dict[str, str] | None) -> str:
    """The recurring windows in words: ``closed mon tue 22:00-05:00 (America/Los_Angeles); next ...``."""
    spans = "; ".join(f"{' '.join(w['days'])} {w['start']}-{w['end']}" for w in windows)
    upcoming = f"next {next_window['start']} to {next_window['end']}" if next_window else "no window left"
    return f"closed {spans} ({timezone}); {upcoming}"


def _lines(geometry: dict[str, Any]) -> list[list[list[float]]]:
    """The LineString coordinate lists of a line geometry (GeoJSON, WGS 84)."""
    if geometry["type"] == "LineString":
        return [geometry["coordinates"]]
    if geometry["type"] == "MultiLineString":
        return [part for part in geometry["coordinates"] if len(part) >= 2]
    return []


def closure_events(event: Envelope, *, now: datetime) -> list[dict[str, Any]]:
    """The WZDx road event features of one closure, read ``now``: its work zone part(s) and its detour."""
    a = event.attributes
    start = _utc(a["start"])
    end_known = bool(a.get("end"))
    end = _utc(a["end"]) if end_known else _utc(datetime.fromisoformat(a["start"]) + CLOSURE_HORIZON)
    road = a.get("road") or a.get("road_name") or "unnamed road"
    lanes = a.get("lanes_affected", "all")
    core = {"data_source_id": a.get("agency_id") or "agency", "event_type": "work-zone", "road_names": [road],
            "direction": "unknown", "name": f"{road} closed" + (f" ({a['reference']})" if a.get("reference") else ""),
            "description": (event.text or a.get("reason") or "road closure")[:1000],
            "update_date": _utc(event.received_at)}
    recurring = window_state(attributes=a, now=now)
    if recurring:
        schedule = schedule_text(windows=a["windows"], timezone=a["timezone"], next_window=recurring["next_window"])
        core["description"] = f"{core['description'][:1000 - len(schedule) - 3]} ({schedule})"
    parts = _lines(event.geometry or {})
    ids = [event.id if len(parts) == 1 else f"{event.id}#{n}" for n in range(1, len(parts) + 1)]
    detour_id = f"{event.id}#detour" if a.get("detour") else None
    out = []
    for n, (fid, coords) in enumerate(zip(ids, parts, strict=True)):
        related = [{"type": "related-detour", "id": detour_id}] if detour_id else []
        if n + 1 < len(ids):
            related.append({"type": "next-in-sequence", "id": ids[n + 1]})
        props: dict[str, Any] = {
            "core_details": {**core, **({"related_road_events": related} if related else {})},
            "start_date": start, "end_date": end, "is_start_date_verified": False,
            "is_end_date_verified": end_known, "is_start_position_verified": False,
            "is_end_position_verified": False, "vehicle_impact": "all-lanes-closed" if lanes == "all"
            else "some-lanes-closed", "location_method": "junction-method" if a.get("from") else "other"}
        if a.get("lanes"):
            props["lanes"] = [{"order": n, "type": "general", "status": status}
                              for n, status in enumerate(a["lanes"], start=1)]
        if recurring:
            props["work_zone_type"] = "static"
            props["event_status"] = "active" if recurring["in_window_now"] else "planned"
        if a.get("from") and a.get("to"):
            props["beginning_cross_street"], props["ending_cross_street"] = a["from"], a["to"]
        out.append({"id": fid, "type": "Feature", "properties": props,
                    "geometry": {"type": "LineString", "coordinates": coords}})
    if detour_id and out:
        for n, coords in enumerate(_lines(a["detour"])):
            out.append({"id": detour_id if n == 0 else f"{detour_id}{n + 1}", "type": "Feature", "properties": {
                "core_details": {**core, "event_type": "detour", "name": f"Detour for {core['name']}",
                                 "related_road_events": [{"type": "related-work-zone", "id": ids[0]}]},
                "start_date": start, "end_date": end, "is_start_date_verified": False,
                "is_end_date_verified": end_known},
                "geometry": {"type": "LineString", "coordinates": coords}})
    return out


def work_zone_feed(*, closures: list[Envelope], now: datetime, update_frequency_s: int = 60) -> dict[str, Any]:
    """A WZDx v4.2 WorkZoneFeed of ``closures`` (the active and planned ones), generated ``now``: one data
    source per agency (its id and name; no contacts)."""
    sources = {c.attributes.get("agency_id") or "agency": c.attributes.get("agency") or "agency" for c in closures}
    return {
        "type": "FeatureCollection",
        "feed_info": {"publisher": PUBLISHER, "version": WZDX_VERSION, "license": CC0, "update_date": _utc(now),
                      "update_frequency": update_frequency_s,
                      "data_sources": [{"data_source_id": sid, "organization_name": name}
                                       for sid, name in sorted(sources.items())] or
                      [{"data_source_id": "none", "organization_name": PUBLISHER}]},
        "features": [f for c in closures for f in closure_events(c, now=now)],
    }


