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
