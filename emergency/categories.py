"""The fixed vocabularies: citizen report categories and agency input categories."""

from __future__ import annotations

from enum import Enum


class ReportCategory(str, Enum):
    """What a citizen can report (also the categories social posts are mapped to)."""

    blocked_road = "blocked_road"
    spot_fire = "spot_fire"
    smoke = "smoke"
    flooding = "flooding"
    damage = "damage"
    needs_help = "needs_help"
    other = "other"


class AgencyCategory(str, Enum):
    """What an agency can submit."""

    road_closure = "road_closure"
    damage_report = "damage_report"
    resource_need = "resource_need"
    evacuation_zone = "evacuation_zone"
    shelter = "shelter"
    hazard_perimeter = "hazard_perimeter"


REPORT_CATEGORIES = frozenset(c.value for c in ReportCategory)
AGENCY_CATEGORIES = frozenset(c.value for c in AgencyCategory)
