"""What an agency submits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, model_validator

from emergency.geometry import LineGeometry
from emergency.timebounds import WEEKDAYS, ClosureTime
from feeds.intake import AcceptedOut

MAX_WINDOWS = 14
HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class WindowIn(BaseModel):
    """A recurring window: the road is closed on ``days`` from ``start`` to ``end`` (local "HH:MM" in the
    closure's ``timezone``); an end before the start runs past midnight (22:00-05:00 ends the next day)."""

    model_config = ConfigDict(extra="forbid")
    days: list[str] = Field(description="ISO weekday names: mon tue wed thu fri sat sun (at least one)")
    start: str = Field(description='local start, "HH:MM" (24 h)')
    end: str = Field(description='local end, "HH:MM" (24 h); not equal to start')


class NextWindow(BaseModel):
    """A window's occurrence in UTC."""

    start: str
    end: str


def check_windows(windows: list[WindowIn]) -> None:
    """ValueError naming ``windows[i].<field>`` for a bad day, time or an empty window."""
    if len(windows) > MAX_WINDOWS:
        raise ValueError(f"windows: at most {MAX_WINDOWS} windows, got {len(windows)}")
    for i, w in enumerate(windows):
        if not w.days:
            raise ValueError(f"windows[{i}].days: give at least one of {', '.join(WEEKDAYS)}")
        bad = [d for d in w.days if d not in WEEKDAYS]
        if bad:
            raise ValueError(f"windows[{i}].days: {bad[0][:10]!r} is not one of {', '.join(WEEKDAYS)}")
        for name in ("start", "end"):
            if not re.fullmatch(HHMM, getattr(w, name)):
                raise ValueError(f"windows[{i}].{name}: give a local time as HH:MM (00:00 to 23:59)")
        if w.start == w.end:
            raise ValueError(f"windows[{i}].end: must differ from start (a window past midnight ends "
                             "before it starts, e.g. 22:00-05:00)")


def valid_timezone(name: str) -> bool:
    """True when ``name`` is an IANA timezone this system knows."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


class RoadClosureIn(BaseModel):
    """A road closure: the closed stretch, why, and when.

    The stretch is either a GeoJSON LineString (WGS 84; ``"snap": true`` moves a rough line onto
    the named roads it follows) or a road and two cross streets
    (``{"road": "SE Hawthorne Blvd", "from": "SE 12th Ave", "to": "SE 20th Ave"}``), which the API
    snaps to the region's road network. Exactly one of the two.

    ``road``, ``from`` and ``to`` must each be a road's own name in the region; only case,
    punctuation and standard abbreviations ("Southeast" = "SE", "Avenue" = "Ave") may differ.
    Anything else (a typo, a missing direction, a bare "12th", a street the region lacks) is
    refused with 422 naming the field and listing ``candidates``; resubmitting with a candidate's
    exact name accepts it.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    reference: str | None = Field(None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:\-]+$",
                                  description="the agency's own id; resubmitting it updates the closure")
    reason: str = Field(min_length=1, max_length=500)
    geometry: LineGeometry | None = None
    road: str | None = Field(None, min_length=1, max_length=200, description=(
        "closed road, instead of geometry: the road's exact name in the region (case, punctuation and "
        "abbreviations such as SE/Southeast, Ave/Avenue aside); otherwise 422 with candidates"))
    from_: str | None = Field(None, alias="from", min_length=1, max_length=200,
                              description="first cross street, its exact name (as for road)")
    to: str | None = Field(None, min_length=1, max_length=200,
                           description="second cross street, its exact name (as for road)")
    snap: bool = Field(False, description="snap a hand-drawn geometry onto the named roads it follows")
    start: ClosureTime  # emergency.timebounds: 1970 to 365 days ahead
    end: ClosureTime | None = None
    road_name: str | None = Field(None, max_length=200)
    status: Literal["planned", "active", "reopened"] | None = Field(None, description=(
        "planned, active or reopened (reopened ends the closure: it leaves the map); default: planned "
        "when start is ahead, else active"))
    lanes_affected: int | Literal["all"] = Field("all", description='"all", or how many lanes are closed')
    detour: LineGeometry | None = Field(None, description="the signed detour, a GeoJSON LineString (WGS 84)")
    detour_snap: bool = Field(False, description="snap a hand-drawn detour onto the named roads it follows")
    lanes: list[Literal["open", "closed"]] | None = Field(None, min_length=1, max_length=20, description=(
        "lane detail: each lane's status, left-most lane first (WZDx order 1); lanes_affected, when given, "
        "must match the closed lanes, else it is taken from them"))
    windows: list[WindowIn] | None = Field(None, description=(
        f"recurring windows (at most {MAX_WINDOWS}): the road is closed only then, between start and end"))
    timezone: str | None = Field(None, max_length=64, description=(
        "IANA timezone of the windows' times; default: the region's"))

    @model_validator(mode="after")
    def _times(self) -> RoadClosureIn:
        if self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        if (self.geometry is None) == (self.road is None):
            raise ValueError("geometry: give exactly one of geometry or road (with from and to)")
        if self.road is not None and (self.from_ is None or self.to is None):
            raise ValueError(f"{'from' if self.from_ is None else 'to'}: is required with road")
        if self.road is None and (self.from_ is not None or self.to is not None):
            raise ValueError("road: from and to need a road")
        if isinstance(self.lanes_affected, int) and not 1 <= self.lanes_affected <= 20:
            raise ValueError("lanes_affected: give \"all\" or a number of lanes from 1 to 20")
        if self.detour_snap and self.detour is None:
            raise ValueError("detour_snap: needs a detour")
        if self.lanes is not None:
            closed = self.lanes.count("closed")
            if not closed:
                raise ValueError("lanes: at least one lane must be closed")
            implied: int | Literal["all"] = "all" if closed == len(self.lanes) else closed
            if "lanes_affected" in self.model_fields_set and self.lanes_affected != implied:
                raise ValueError(f"lanes_affected: {self.lanes_affected} does not match lanes ({implied} closed)")
            self.lanes_affected = implied
        if self.timezone is not None and not valid_timezone(self.timezone):
            raise ValueError(f"timezone: {self.timezone[:64]!r} is not an IANA timezone (e.g. America/Los_Angeles)")
        if self.windows is not None:
            check_windows(self.windows)
        if self.snap and self.geometry is None:
            raise ValueError("snap: applies to a geometry only (a road with from/to is always snapped)")
        return self


@dataclass(frozen=True)
class UnderstoodClosure:
    """What a closure was understood to close: ``geometry`` GeoJSON (WGS 84), road names as the
    region writes them (short form), ``length_m`` in metres measured in the region's projected CRS
    (None only for a drawn line when the region cannot be loaded)."""

    geometry: dict[str, Any]
    road: str | None
    from_: str | None
    to: str | None
    length_m: float | None


class ClosureAccepted(AcceptedOut):
    """An accepted road closure, with what was understood: check it is the stretch you meant."""

    model_config = ConfigDict(populate_by_name=True)
    road: str | None = Field(description="the closed road as named in the region (road_name for a drawn line)")
    from_: str | None = Field(alias="from", description="first cross street as named in the region; null for a line")
    to: str | None = Field(description="second cross street as named in the region; null for a line")
    length_m: float | None = Field(description="length of the closed stretch in metres (region's projected CRS)")
    closure_status: str | None = Field(None, description="planned, active or reopened, as recorded")
    windows: list[WindowIn] | None = Field(None, description="the recurring windows, as recorded")
    timezone: str | None = Field(None, description="the windows' timezone, as understood (the region's by default)")
    next_window: NextWindow | None = Field(None, description="the window in progress or the next one (UTC), as "
                                                             "understood; null without windows")
    lanes: list[str] | None = Field(None, description="the lanes' statuses, left-most first, as recorded")
