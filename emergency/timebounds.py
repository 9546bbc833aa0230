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

from datetime import UTC, datetime, timedelta
from typing import Annotated

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
