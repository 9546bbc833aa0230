"""Checks on WGS 84 coordinates given by users (degrees)."""

from __future__ import annotations

import math


def check_lat_lon(lat: float, lon: float) -> tuple[float, float]:
    """``(lat, lon)`` as floats; raises ``ValueError`` naming the field when not finite or out of range."""
    for name, value, limit in (("lat", lat, 90.0), ("lon", lon, 180.0)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"{name}: must be a finite number, got {value!r}")
        if not -limit <= value <= limit:
            raise ValueError(f"{name}: must be between -{limit:g} and {limit:g}, got {value:g}")
    return float(lat), float(lon)
