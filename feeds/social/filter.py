"""A simple keyword filter and category guess for social posts (the real classifier comes later).

Matching is on whole words, case-insensitive. Each keyword maps to a report category.
"""

from __future__ import annotations

import re

KEYWORDS: dict[str, str] = {
    "fire": "spot_fire", "fires": "spot_fire", "flames": "spot_fire", "burning": "spot_fire", "wildfire": "spot_fire",
    "smoke": "smoke", "smoky": "smoke",
    "flood": "flooding", "flooding": "flooding", "flooded": "flooding", "underwater": "flooding",
    "closed": "blocked_road", "blocked": "blocked_road", "road closed": "blocked_road", "tree down": "blocked_road",
    "downed": "blocked_road", "power lines": "damage", "power line": "damage", "collapsed": "damage",
    "damage": "damage", "damaged": "damage", "destroyed": "damage",
    "help": "needs_help", "trapped": "needs_help", "rescue": "needs_help", "stranded": "needs_help",
    "evacuate": "needs_help", "evacuation": "needs_help", "injured": "needs_help",
    "emergency": "other", "storm": "other", "windstorm": "other", "outage": "other",
}
# longest first, so "road closed" wins over "closed"
_PATTERN = re.compile(
    r"\b(" + "|".join(re.escape(k) for k in sorted(KEYWORDS, key=len, reverse=True)) + r")\b", re.IGNORECASE
)
PRIORITY = ["needs_help", "spot_fire", "flooding", "blocked_road", "damage", "smoke", "other"]


def matched_keywords(text: str) -> list[str]:
    """Keywords found in ``text``, lower-case, in order of appearance."""
    return [m.group(1).lower() for m in _PATTERN.finditer(text or "")]


def categorise(keywords: list[str]) -> str:
    """The most urgent category among the matched keywords ('other' if none)."""
    cats = {KEYWORDS[k] for k in keywords}
    return next((c for c in PRIORITY if c in cats), "other")
