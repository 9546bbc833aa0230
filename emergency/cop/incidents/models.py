"""Incident rules (the documented constants), states, actions and the in-memory incident state.

Distances are metres on the ground (WGS 84 coordinates projected to a local equirectangular plane
around the report, good to well under 1 % at these radii); times are timezone-aware UTC.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from emergency.events import Kind

# ------------------------------------------------------------------ correlation rules (docs/architecture.md "Incidents")

FAMILY: dict[str, str] = {  # report or agency category -> incident category; the same family is compatible
    "spot_fire": "fire", "smoke": "fire",
    "blocked_road": "blocked_road", "road_closure": "blocked_road",
    "flooding": "flooding",
    "damage": "damage", "damage_report": "damage",
    "needs_help": "needs_help", "resource_need": "needs_help",
    "other": "other",
}
RADIUS_M: dict[str, float] = {  # how far apart two reports of one incident may be (from any of its reports)
    "fire": 3000.0, "blocked_road": 300.0, "flooding": 1000.0, "damage": 50.0, "needs_help": 100.0, "other": 100.0,
}
DEFAULT_RADIUS_M = 100.0     # a family not listed (a feed's own category): this close, same category
WINDOW = timedelta(hours=6)  # a report joins an incident observed within this time of its first/last report
ROAD_NAME_MATCH = 90         # rapidfuzz partial_ratio (0-100) at which two known road names are the same road
TEXT_WEIGHT = 0.25           # tie-breaker: score = distance/radius - TEXT_WEIGHT * similarity (0-1); lowest wins
LOCK_TTL = timedelta(minutes=15)  # a coordinator's claim lapses this long after it was taken
AUTHORITATIVE_KINDS = frozenset({Kind.agency_report, Kind.feed_item})  # each item is its own incident anchor
CORRELATED_KINDS = frozenset({Kind.citizen_report, Kind.social_post, Kind.feed_item, Kind.agency_report})
AGENCY_CORRELATED = frozenset({"road_closure", "damage_report", "resource_need"})  # other agency inputs are no incident
WEIGHT_AUTHORITATIVE = 0.9   # confidence: 1 - prod(1 - w) over distinct reporters
WEIGHT_CROWD = 0.35
CELL_RESOLUTION = 5          # H3 resolution of the cop.reports partition key (~250 km² cells, ~8.5 km edge)
INDEX_RESOLUTION = 7         # H3 resolution of the correlator's in-memory index (~5 km² cells, ~1.4 km edge)
TITLE_MAX = 120


class Status(str, Enum):
    unverified = "unverified"
    corroborated = "corroborated"
    verified = "verified"
    dismissed = "dismissed"
    duplicate = "duplicate"
    resolved = "resolved"


AUTOMATIC = frozenset({Status.unverified, Status.corroborated})  # set by the correlator; the others by coordinators
CLOSED = frozenset({Status.resolved, Status.duplicate})          # no new report joins these (duplicates forward)


class ActionName(str, Enum):
    verify = "verify"
    dismiss = "dismiss"
    resolve = "resolve"
    reopen = "reopen"
    merge = "merge"
    split = "split"
    note = "note"
    claim = "claim"
    release = "release"
    reply = "reply"  # a public reply to the reporters (their tracking page), unlike a note


REPLY_MAX = 1000  # characters of a public reply


class ActionIn(BaseModel):
    """The body of ``POST /api/v1/incidents/{id}/{action}``; which fields an action needs is checked by the service."""

    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(None, max_length=2000, description="why (required to dismiss); internal")
    public_reason: str | None = Field(None, max_length=500,
                                      description="dismiss: what the reporters are told (their status page)")
    target: str | None = Field(None, max_length=256, description="merge: the incident this one is merged into")
    reports: list[str] | None = Field(None, max_length=1000, description="split: report ids moved to a new incident")
    text: str | None = Field(None, max_length=5000, description="note: the note (internal); reply: the public reply "
                             f"shown to the reporters on their tracking page (at most {REPLY_MAX} characters)")


def incident_id_for(first_report_id: str) -> str:
    """The deterministic id of the incident a report opens (a replay gives the same id)."""
    return "incident:" + hashlib.sha256(first_report_id.encode()).hexdigest()[:20]


def split_id_for(incident_id: str, action_id: str) -> str:
    """The deterministic id of the incident a split creates."""
    return "incident:" + hashlib.sha256(f"split|{incident_id}|{action_id}".encode()).hexdigest()[:20]


def family_of(kind: Kind, category: str | None) -> str | None:
    """The incident category of a report, or None when this input never forms an incident."""
    if kind not in CORRELATED_KINDS or not category:
        return None
    if kind is Kind.agency_report and category not in AGENCY_CORRELATED:
        return None
    return FAMILY.get(category, category)


@dataclass
class Member:
    """What the correlator keeps of one report of an incident (``geometry`` GeoJSON, WGS 84)."""

    id: str
    kind: str
    source_type: str
    authoritative: bool
    reporter: str          # a hash standing for who reported it (never shown): distinct reporters are counted
    category: str | None
    geometry: dict[str, Any]
    road: str | None
    text: str
    observed_at: datetime
    received_at: datetime

    def to_doc(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "source_type": self.source_type, "authoritative": self.authoritative,
                "reporter": self.reporter, "category": self.category, "geometry": self.geometry, "road": self.road,
                "text": self.text, "observed_at": self.observed_at.isoformat(),
                "received_at": self.received_at.isoformat()}

    @classmethod
    def from_doc(cls, d: dict[str, Any]) -> Member:
        return cls(**{**d, "observed_at": datetime.fromisoformat(d["observed_at"]),
                      "received_at": datetime.fromisoformat(d["received_at"])})


@dataclass
class Summary:
    """What matching a report against an incident needs, without walking its reports (times UTC, degrees WGS 84)."""

    first_seen: datetime
    last_seen: datetime
    anchor: Member | None                   # its first authoritative item
    roads: set[str]                         # known road names of its reports
    sum_lon: float                          # sums of its reports' representative points, for the mean point
    sum_lat: float
    count: int
    reporters: set[str]
    texts: list[str]                        # the first few texts (tie-breaker)


@dataclass
class Incident:
    """The correlator's state of one incident; ``received_at`` only grows (the store keeps the newest)."""

    id: str
    category: str
    received_at: datetime
    members: dict[str, Member] = field(default_factory=dict)
    status: Status = Status.unverified
    reasons: dict[str, str] = field(default_factory=dict)   # "reason" / "public_reason" of the last coordinator state
    merged_into: str | None = None
    claimed_by: str | None = None
    claim_until: datetime | None = None
    audit: list[dict[str, Any]] = field(default_factory=list)
    summary: Summary | None = None  # what matching needs, kept up to date by the correlator (a duplicate keeps its last)

    def claim_holder(self, at: datetime) -> str | None:
        """Who holds the review lock at ``at`` (None: nobody, or it lapsed)."""
        if self.claimed_by is not None and self.claim_until is not None and at < self.claim_until:
            return self.claimed_by
        return None
