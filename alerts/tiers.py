"""Alert tiers in the US CMAS/WEA style, who may issue each, and their CAP defaults.

Order matters: a lower ``rank`` is delivered first on every channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Tier(str, Enum):
    presidential = "presidential"
    imminent_threat_extreme = "imminent_threat_extreme"
    imminent_threat_severe = "imminent_threat_severe"
    child_abduction = "child_abduction"
    public_safety = "public_safety"
    test = "test"


@dataclass(frozen=True)
class TierPolicy:
    rank: int
    issuer_roles: frozenset[str]  # any one of these roles may issue
    extra_role: str | None  # and, if set, this one too
    subscriber_may_opt_out: bool
    opt_in_only: bool
    default_event: str
    severity: str
    urgency: str
    certainty: str
    status: str = "Actual"


ORIGINATORS = frozenset({"alert_originator", "national_authority"})

POLICY: dict[Tier, TierPolicy] = {
    Tier.presidential: TierPolicy(0, frozenset({"national_authority"}), None, False, False,
                                  "Presidential Alert", "Extreme", "Immediate", "Observed"),
    Tier.imminent_threat_extreme: TierPolicy(1, ORIGINATORS, None, True, False,
                                             "Imminent Threat Alert", "Extreme", "Immediate", "Observed"),
    Tier.imminent_threat_severe: TierPolicy(2, ORIGINATORS, None, True, False,
                                            "Imminent Threat Alert", "Severe", "Expected", "Likely"),
    Tier.child_abduction: TierPolicy(3, ORIGINATORS, "amber", True, False,
                                     "Child Abduction Emergency", "Severe", "Immediate", "Likely"),
    Tier.public_safety: TierPolicy(4, ORIGINATORS, None, True, False,
                                   "Public Safety Message", "Moderate", "Expected", "Likely"),
    Tier.test: TierPolicy(5, ORIGINATORS, None, True, True,
                          "Required Monthly Test", "Minor", "Future", "Unlikely", status="Test"),
}


def may_issue(tier: Tier, roles: set[str]) -> bool:
    """True when a token with ``roles`` may issue an alert of ``tier``."""
    p = POLICY[tier]
    return bool(p.issuer_roles & roles) and (p.extra_role is None or p.extra_role in roles)


def rank(tier: str) -> int:
    """Delivery priority of a tier name (0 first); unknown tiers last."""
    try:
        return POLICY[Tier(tier)].rank
    except ValueError:
        return len(POLICY)


# --- CAP / IPAWS codes per tier ------------------------------------------------------------------

# SAME event code and the IPAWS ``WEAHandling`` parameter each tier is issued with.
SAME_CODE: dict[Tier, str] = {
    Tier.presidential: "EAN",
    Tier.imminent_threat_extreme: "CEM",
    Tier.imminent_threat_severe: "CEM",
    Tier.child_abduction: "CAE",
    Tier.public_safety: "LAE",
    Tier.test: "RMT",
}
WEA_HANDLING: dict[Tier, str] = {
    Tier.presidential: "Presidential",
    Tier.imminent_threat_extreme: "Imminent Threat",
    Tier.imminent_threat_severe: "Imminent Threat",
    Tier.child_abduction: "Child Abduction",
    Tier.public_safety: "Public Safety",
    Tier.test: "Imminent Threat",
}
_HANDLING_TIER = {"presidential": Tier.presidential, "child abduction": Tier.child_abduction,
                  "public safety": Tier.public_safety}


def classify(status: str, same_codes: list[str], wea_handling: str | None,
             urgency: str, severity: str, certainty: str) -> Tier:
    """The tier of an incoming CAP info block: test status or test codes first, then the presidential
    and AMBER codes, then WEAHandling, then the CMAS imminent-threat criteria on urgency, severity
    and certainty; anything else is a public safety message."""
    codes = set(same_codes)
    if status in ("Test", "Exercise") or codes & {"RMT", "RWT", "DMO", "NPT"}:
        return Tier.test
    if "EAN" in codes:
        return Tier.presidential
    if "CAE" in codes:
        return Tier.child_abduction
    handling = (wea_handling or "").strip().lower()
    if handling in _HANDLING_TIER:
        return _HANDLING_TIER[handling]
    if urgency in ("Immediate", "Expected") and certainty in ("Observed", "Likely"):
        if severity == "Extreme" and urgency == "Immediate":
            return Tier.imminent_threat_extreme
        if severity in ("Extreme", "Severe"):
            return Tier.imminent_threat_severe
    return Tier.public_safety
