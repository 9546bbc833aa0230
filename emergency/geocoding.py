"""The kernel's view of a geocoder: text in, a located geometry out (or nothing).

The kernel (the normaliser) only knows this interface; the assembly hands it the offline
region geocoder from ``mapping`` (``mapping.geocode.RegionGeocoder``), as httpx hands a client
its transport. Geometries are GeoJSON, WGS 84 (EPSG:4326), RFC 7946 order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from emergency.events import GeoPrecision


@dataclass(frozen=True)
class Located:
    """Where a text places an event: GeoJSON geometry (WGS 84), its precision, confidence 0..1, a label."""

    geometry: dict[str, Any]
    geo_precision: GeoPrecision
    confidence: float
    label: str


class Geocoder(Protocol):
    """Places an event from its ``location_text`` (the whole string) or else the best mention in ``text``."""

    name: str      # which geocoder, for messages ("region portland")
    coverage: str  # what it can place, for messages ("central Portland: named streets from ...")

    def locate(self, *, location_text: str | None, text: str | None) -> Located | None: ...

    def suggest(self, *, query: str, limit: int) -> list[Located]:
        """Up to ``limit`` places a typed ``query`` may mean, best first (the report page's suggestions)."""
        ...


def no_match(geocoder: Geocoder) -> str:
    """Why a place text could not be placed, naming what the geocoder covers (for 422s and CLI answers)."""
    return f"no match in {geocoder.name}, which covers {geocoder.coverage}"
