"""SMS encoding and segmentation (3GPP TS 23.038 / 23.040).

A text goes as GSM-7 when every character is in the GSM 7-bit default alphabet or its extension table (the
extension characters ``^{}\\[~]|€`` and form feed take two septets: escape + character); otherwise as UCS-2
(UTF-16 code units: a character outside the Basic Multilingual Plane, such as an emoji, takes two).
One message holds 160 septets or 70 units; a concatenated message's parts hold 153 septets or 67 units (the
rest is the concatenation header). A two-unit character is never split across parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE = {"gsm7": 160, "ucs2": 70}
PART = {"gsm7": 153, "ucs2": 67}


@dataclass(frozen=True)
class Segmentation:
    """How a text travels: ``encoding``, its length in septets (GSM-7) or UTF-16 units (UCS-2), the parts."""

    encoding: Literal["gsm7", "ucs2"]
    units: int
    segments: int


def is_gsm7(text: str) -> bool:
    """True when every character of ``text`` has a GSM-7 encoding (basic alphabet or extension table)."""
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def _cost(c: str, encoding: str) -> int:
    if encoding == "gsm7":
        return 2 if c in GSM7_EXTENSION else 1
    return 2 if ord(c) > 0xFFFF else 1


def segmentation(text: str) -> Segmentation:
    """The encoding, length and number of parts of ``text`` (see the module docstring)."""
    encoding: Literal["gsm7", "ucs2"] = "gsm7" if is_gsm7(text) else "ucs2"
    costs = [_cost(c, encoding) for c in text]
    units = sum(costs)
    if units <= SINGLE[encoding]:
        return Segmentation(encoding, units, 1 if units else 0)
    parts, room = 1, PART[encoding]
    for cost in costs:
        if cost > room:
            parts, room = parts + 1, PART[encoding]
        room -= cost
    return Segmentation(encoding, units, parts)
