"""Sane bounds for every time the system accepts, declared once.

A time outside these bounds is refused at the edge (422 naming the field) instead of being
journaled, because one unrepresentable time (``9999-12-31T23:59:59-12:00`` is year 10000 in
UTC) used to make the projector raise on every retry and halt the whole picture.

The bounds (all compared in UTC, "now" is the server's clock when the input is validated):

- every accepted time must be representable in UTC (years 1 to 9999 after conversion);
- **observed / created times** (a report's ``observed_at``, a social post's ``created_at``):
  not before ``EARLIEST`` (1970-01-01T00:00:00Z) and at most ``OBSERVED_AHEAD`` (1 day) ahead,
  which covers any clock skew between honest senders;
- **closure ``start`` and ``end``**: not before 1970 and at most ``CLOSURE_HORIZON`` (365 days)
  ahead: agencies announce planned works months ahead, rarely a year; a longer closure is
  extended by resubmitting the same reference;
- **alert ``expires``**: at most ``ALERT_HORIZON`` (30 days) ahead. CAP requires an expiry and
  IPAWS practice keeps it short (WEA messages are hours, NWS watches and warnings hours to days,
  the longest-lived river-flood warnings a few weeks); a longer-lived warning is re-issued as
  an Update;
- **query windows** (``since``, ``until``): not before 1970, at most ``CLOSURE_HORIZON`` ahead.

Kernel envelopes (``emergency.events.Envelope``) are only held to the UTC range, not to "now",
so a journal replayed years later still decodes.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, AwareDatetime
from pydantic_core import PydanticCustomError

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
OBSERVED_AHEAD = timedelta(days=1)
CLOSURE_HORIZON = timedelta(days=365)
ALERT_HORIZON = timedelta(days=30)


def _shown(value: datetime) -> str:
    """The value as ISO 8601 text (at most 32 characters: never a large echo of the input)."""
    return value.isoformat()[:40]


def _ahead(delta: timedelta) -> str:
    days = delta / timedelta(days=1)
    return f"{days:g} day{'s' if days != 1 else ''}"


def to_utc(value: datetime) -> datetime:
    """``value`` (timezone-aware) in UTC; ValueError when that leaves years 1 to 9999."""
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError(f"must lie between years 1 and 9999 in UTC, got {_shown(value)}") from None


def check_time(value: datetime, *, earliest: datetime | None = EARLIEST, ahead: timedelta | None = None,
               future_word: str = "", now: datetime | None = None) -> datetime:
    """``value`` if it is representable in UTC, not before ``earliest`` and at most ``ahead`` after ``now``;
    ValueError saying which bound it breaks (the field name is added by the caller)."""
    try:
        utc = to_utc(value)
    except ValueError:
        if ahead is not None and value.year == 9999:  # beyond year 9999 in UTC: certainly too far ahead
            raise ValueError(f"{future_word}must be at most {_ahead(ahead)} ahead, got {_shown(value)}") from None
        raise
    if earliest is not None and utc < earliest:
        raise ValueError(f"must not be before {earliest.date().isoformat()}, got {_shown(value)}")
    if ahead is not None:
        now = now or datetime.now(UTC)
        if utc > now + ahead:
            raise ValueError(f"{future_word}must be at most {_ahead(ahead)} ahead, got {_shown(value)}")
    return value


def _bounded(**bounds) -> AfterValidator:
    """An ``AfterValidator`` applying ``check_time(**bounds)``, its message without pydantic's prefix."""

    def run(value: datetime) -> datetime:
        try:
            return check_time(value, **bounds)
        except ValueError as exc:
            raise PydanticCustomError("time_bounds", str(exc)) from None

    return AfterValidator(run)


ObservedTime = Annotated[AwareDatetime, _bounded(ahead=OBSERVED_AHEAD, future_word="is in the future: ")]
"""When something was seen or posted: from 1970 to 1 day ahead."""

ClosureTime = Annotated[AwareDatetime, _bounded(ahead=CLOSURE_HORIZON)]
"""A closure's start or end: from 1970 to 365 days ahead."""

AlertExpiry = Annotated[AwareDatetime, _bounded(ahead=ALERT_HORIZON)]
"""An alert's expiry: at most 30 days ahead (that it is in the future is the alert service's check)."""

QueryTime = Annotated[AwareDatetime, _bounded(ahead=CLOSURE_HORIZON)]
"""A query window bound (``since``, ``until``): from 1970 to 365 days ahead."""

__all__ = ["ALERT_HORIZON", "CLOSURE_HORIZON", "EARLIEST", "OBSERVED_AHEAD", "AlertExpiry", "ClosureTime",
           "ObservedTime", "QueryTime", "check_time", "to_utc"]


# Recurring windows (a road closure closed only at set hours): ISO weekday names, "HH:MM" local times
# in an IANA timezone; a window whose end is not after its start runs past midnight (22:00-05:00).
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def window_occurrences(*, windows: list[dict[str, Any]], timezone: str, after: datetime,
                       within: tuple[datetime, datetime | None] | None = None,
                       ) -> list[tuple[datetime, datetime]]:
    """The windows' occurrences (UTC) that end after ``after``, over the following 8 days, soonest first;
    each clipped to ``within`` (start, end or None) and dropped when none of it lies there."""
    zone = ZoneInfo(timezone)
    first = after.astimezone(zone).date() - timedelta(days=1)
    out = []
    for n in range(9):
        day = first + timedelta(days=n)
        for w in windows:
            if WEEKDAYS[day.weekday()] not in w["days"]:
                continue
            start = datetime.combine(day, time.fromisoformat(w["start"]), tzinfo=zone).astimezone(UTC)
            end_day = day if w["end"] > w["start"] else day + timedelta(days=1)
            end = datetime.combine(end_day, time.fromisoformat(w["end"]), tzinfo=zone).astimezone(UTC)
            if within is not None:
                start = max(start, within[0])
                end = min(end, within[1]) if within[1] is not None else end
            if end > start and end > after:
                out.append((start, end))
    return sorted(set(out))


def next_window(*, windows: list[dict[str, Any]], timezone: str, at: datetime,
                within: tuple[datetime, datetime | None] | None = None) -> tuple[datetime, datetime] | None:
    """The window (UTC start, end) in progress ``at``, else the next one; None when none is left."""
    found = window_occurrences(windows=windows, timezone=timezone, after=at, within=within)
    return found[0] if found else None


def utc_text(value: datetime) -> str:
    """RFC 3339 UTC text to the second (``2026-12-01T14:00:00Z``) of a zoned time."""
    return to_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def window_state(*, attributes: dict[str, Any], now: datetime) -> dict[str, Any]:
    """For attributes with recurring ``windows`` (and ``timezone``, ``start``, ``end`` ISO texts): the
    ``next_window`` ({start, end} UTC text, or None once none is left) and ``in_window_now``; else {}."""
    windows, zone = attributes.get("windows"), attributes.get("timezone")
    if not windows or not zone:
        return {}
    start = datetime.fromisoformat(attributes["start"])
    end = datetime.fromisoformat(attributes["end"]) if attributes.get("end") else None
    found = next_window(windows=windows, timezone=zone, at=now, within=(start, end))
    return {"next_window": {"start": utc_text(found[0]), "end": utc_text(found[1])} if found else None,
            "in_window_now": found is not None and found[0] <= now < found[1]}
