"""One small intake module per agency input kind (shelters, damage reports, resource requests,
evacuation zones, hazard perimeters): its pydantic model and how its event is built. The common
path (id, ownership, jurisdiction, journal, end) is ``feeds.agency.flows``; ``KINDS`` lists them."""

from __future__ import annotations

from feeds.agency.inputs.base import InputKind
from feeds.agency.inputs.damage import DAMAGE_REPORTS
from feeds.agency.inputs.evacuation import EVACUATION_ZONES
from feeds.agency.inputs.perimeters import HAZARD_PERIMETERS
from feeds.agency.inputs.resources import RESOURCE_REQUESTS
from feeds.agency.inputs.shelters import SHELTERS

KINDS: dict[str, InputKind] = {k.path: k for k in (DAMAGE_REPORTS, RESOURCE_REQUESTS, SHELTERS, EVACUATION_ZONES,
                                                    HAZARD_PERIMETERS)}
"""Every input kind by its path segment (``/api/v1/agency/<path>``)."""

__all__ = ["KINDS", "InputKind"]
