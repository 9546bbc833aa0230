"""Alert tiers in the US CMAS/WEA style, who may issue each, and their CAP defaults.

Order matters: a lower ``rank`` is delivered first on every channel.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from emergency.errors import ValidationFailed


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


# --- delivery policy (every channel asks this one function) ----------------------------------------

# What a subscriber gets without choosing: every tier except the opt-in-only ones (test).
DEFAULT_TIERS: frozenset[Tier] = frozenset(t for t, p in POLICY.items() if not p.opt_in_only)


def delivers(tier: Tier | str, chosen: Iterable[Tier]) -> bool:
    """True when an alert of ``tier`` goes to a subscriber who chose the tiers ``chosen``: a tier that may
    not be opted out of (presidential) always, any other only when chosen (test is never in the default).
    A tier name this system does not know is delivered: a warning is never held back for being unclassified."""
    try:
        tier = Tier(tier)
    except ValueError:
        return True
    return not POLICY[tier].subscriber_may_opt_out or tier in set(chosen)


def parse_tiers(text: str | None) -> frozenset[Tier]:
    """The tiers a subscriber chose from a comma-separated list of tier names (``None`` = ``DEFAULT_TIERS``);
    ``ValidationFailed`` naming ``tiers`` (with the candidates) for an unknown or empty list."""
    if text is None:
        return DEFAULT_TIERS
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ValidationFailed("tiers", "give at least one tier name", [t.value for t in Tier])
    unknown = [n for n in names if n not in Tier.__members__]
    if unknown:
        raise ValidationFailed("tiers", f"unknown tier {unknown[0]!r}", [t.value for t in Tier])
    return frozenset(Tier(n) for n in names)


def rank(tier: str) -> int:
    """Delivery priority of a tier name (0 first); unknown tiers last."""
    try:
        return POLICY[Tier(tier)].rank
    except ValueError:
        return len(POLICY)


# --- CAP / IPAWS codes per tier ------------------------------------------------------------------

# The SAME event code of an alert follows its event (what is happening); the tier decides only the IPAWS
# ``WEAHandling`` parameter. SAME_CODE is the code of each tier's default event (the one used when the
# originator names no event), and of alerts stored before the code was chosen per event.
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


# --- SAME / EAS event codes ----------------------------------------------------------------------

# The EAS event codes (47 CFR 11.31(e), as the IPAWS SAME eventCode carries them): code -> event name.
EAS_EVENT_CODES: dict[str, str] = {
    "EAN": "Emergency Action Notification", "NIC": "National Information Center",
    "NPT": "National Periodic Test", "RMT": "Required Monthly Test", "RWT": "Required Weekly Test",
    "DMO": "Practice/Demo Warning", "ADR": "Administrative Message",
    "AVA": "Avalanche Watch", "AVW": "Avalanche Warning", "BLU": "Blue Alert", "BZW": "Blizzard Warning",
    "CAE": "Child Abduction Emergency", "CDW": "Civil Danger Warning", "CEM": "Civil Emergency Message",
    "CFA": "Coastal Flood Watch", "CFW": "Coastal Flood Warning", "DSW": "Dust Storm Warning",
    "EQW": "Earthquake Warning", "EVI": "Evacuation Immediate", "EWW": "Extreme Wind Warning",
    "FFA": "Flash Flood Watch", "FFS": "Flash Flood Statement", "FFW": "Flash Flood Warning",
    "FLA": "Flood Watch", "FLS": "Flood Statement", "FLW": "Flood Warning", "FRW": "Fire Warning",
    "HLS": "Hurricane Statement", "HMW": "Hazardous Materials Warning", "HUA": "Hurricane Watch",
    "HUW": "Hurricane Warning", "HWA": "High Wind Watch", "HWW": "High Wind Warning",
    "LAE": "Local Area Emergency", "LEW": "Law Enforcement Warning", "NMN": "Network Message Notification",
    "NUW": "Nuclear Power Plant Warning", "RHW": "Radiological Hazard Warning",
    "SMW": "Special Marine Warning", "SPS": "Special Weather Statement", "SPW": "Shelter in Place Warning",
    "SSA": "Storm Surge Watch", "SSW": "Storm Surge Warning", "SVA": "Severe Thunderstorm Watch",
    "SVR": "Severe Thunderstorm Warning", "SVS": "Severe Weather Statement", "TOA": "Tornado Watch",
    "TOE": "911 Telephone Outage Emergency", "TOR": "Tornado Warning", "TRA": "Tropical Storm Watch",
    "TRW": "Tropical Storm Warning", "TSA": "Tsunami Watch", "TSW": "Tsunami Warning",
    "VOW": "Volcano Warning", "WSA": "Winter Storm Watch", "WSW": "Winter Storm Warning",
}

# Codes that make receivers treat a message as a particular tier (alerts.tiers.classify): only that tier
# may carry them, or a real alert would be taken for a test, or a test for a presidential alert.
TIER_RESERVED_CODES: dict[str, Tier] = {"EAN": Tier.presidential, "CAE": Tier.child_abduction,
                                        "RMT": Tier.test, "RWT": Tier.test, "DMO": Tier.test, "NPT": Tier.test}

# Event text -> SAME code, first match wins: protective actions first (what people must do), then the
# hazard, watches before warnings of the same hazard. Patterns match whole words, case-insensitively.
_EVENT_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"shelter[ -]in[ -]place", "SPW"),
    (r"evacuat\w*", "EVI"),
    (r"child abduction|amber alert", "CAE"),
    (r"presidential( alert)?|emergency action notification", "EAN"),
    (r"required monthly test", "RMT"), (r"required weekly test", "RWT"),
    (r"national periodic test", "NPT"), (r"practice|demo warning|drill", "DMO"),
    (r"hazardous materials?|hazmat|chemical (spill|leak|release)|toxic (gas|plume|release)|gas leak", "HMW"),
    (r"radiolog\w*|radiation", "RHW"), (r"nuclear( power plant)?", "NUW"),
    (r"coastal flood watch", "CFA"), (r"coastal flood\w*", "CFW"),
    (r"flash flood watch", "FFA"), (r"flash flood statement", "FFS"), (r"flash flood\w*", "FFW"),
    (r"flood watch", "FLA"), (r"flood statement|flood advisory", "FLS"), (r"flood\w*", "FLW"),
    (r"storm surge watch", "SSA"), (r"storm surge", "SSW"),
    (r"tornado watch", "TOA"), (r"tornado\w*", "TOR"),
    (r"severe thunderstorm watch", "SVA"), (r"severe weather statement", "SVS"),
    (r"(severe )?thunderstorms?", "SVR"),
    (r"tsunami watch", "TSA"), (r"tsunami", "TSW"),
    (r"hurricane watch", "HUA"), (r"hurricane statement", "HLS"), (r"hurricane", "HUW"),
    (r"tropical storm watch", "TRA"), (r"tropical storm", "TRW"),
    (r"winter storm watch", "WSA"), (r"winter storm|ice storm", "WSW"), (r"blizzard", "BZW"),
    (r"extreme wind", "EWW"), (r"high wind watch", "HWA"), (r"high winds?|wind storm|windstorm", "HWW"),
    (r"avalanche watch", "AVA"), (r"avalanche", "AVW"), (r"dust storm", "DSW"),
    (r"earthquake", "EQW"), (r"volcan\w*|lahar|ash ?fall", "VOW"),
    (r"wild ?fires?|bush ?fires?|forest fires?|grass fires?|brush fires?|fires?", "FRW"),
    (r"blue alert", "BLU"), (r"active shooter|law enforcement|police", "LEW"),
    (r"911 (telephone )?outage|telephone outage", "TOE"), (r"civil danger", "CDW"),
    (r"local area emergency|public safety message", "LAE"), (r"civil emergency|imminent threat alert", "CEM"),
    (r"special marine", "SMW"), (r"special weather statement", "SPS"), (r"administrative message", "ADR"),
)
_EVENT_RES = tuple((re.compile(rf"\b(?:{p})\b", re.IGNORECASE), code) for p, code in _EVENT_PATTERNS)


def same_code_of_event(event: str) -> str | None:
    """The SAME/EAS event code for an event name (``"Hazardous materials spill"`` -> ``HMW``); an exact
    EAS event name or code counts; None when nothing matches (never a guessed code)."""
    text = event.strip()
    if text.upper() in EAS_EVENT_CODES:
        return text.upper()
    for code, name in EAS_EVENT_CODES.items():
        if name.lower() == text.lower():
            return code
    return next((code for pattern, code in _EVENT_RES if pattern.search(text)), None)


def event_candidates(event: str, *, limit: int = 5) -> list[str]:
    """The EAS event names closest to ``event`` (``"Name (CODE)"``), best first, for a refusal's candidates."""
    from rapidfuzz import fuzz, process

    names = {f"{name} ({code})": name for code, name in EAS_EVENT_CODES.items()}
    found = process.extract(event, names, scorer=fuzz.WRatio, limit=limit)
    return [key for _, _, key in found]


def choose_same_code(tier: Tier, event: str, explicit: str | None = None) -> str:
    """The SAME code an alert of ``tier`` about ``event`` is issued with: ``explicit`` when the sender gave one
    (an EAS event code), else the one the event names. ``ValidationFailed`` naming ``same_code`` (or
    ``event``) for an unknown code, an event that names no EAS event (with the closest EAS events as
    candidates: name one, or give ``same_code``; never a guessed code), or a code reserved to another tier
    (EAN, CAE, the test codes)."""
    if explicit is not None:
        code = explicit.strip().upper()
        if code not in EAS_EVENT_CODES:
            raise ValidationFailed("same_code", f"{explicit!r} is not an EAS event code", sorted(EAS_EVENT_CODES))
        field = "same_code"
    else:
        found, field = same_code_of_event(event), "event"
        if found is None:
            raise ValidationFailed("event", f"{event!r} names no EAS event, so no SAME code can be chosen: name "
                                   "the event as the EAS table does (see candidates), or give same_code "
                                   "(e.g. CEM for a civil emergency)", event_candidates(event))
        code = found
    reserved = TIER_RESERVED_CODES.get(code)
    if reserved is not None and reserved is not tier:
        shown = explicit if explicit is not None else event
        raise ValidationFailed(field, f"{shown!r} is a {reserved.value} event (SAME {code}); issue it with tier "
                               f"{reserved.value}, or name another event")
    return code
