"""Name normalisation for places and streets: case, accents, punctuation, street vocabulary.

``normalise("SE 82nd Avenue")`` and ``normalise("Southeast 82nd Ave.")`` both give
``"se 82nd ave"``: directionals become N/NE/.../SW, street types their USPS abbreviation,
bare numbers before a street type become ordinals ("82 Ave" -> "82nd ave").
``road_keys`` gives every way people shorten one road name, most specific first.
``numbers`` gives the numbers in a name: two names with different numbers are never the same
street ("SE 39th Ave" is not "SE 9th Ave"), however close their spelling.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

DIRECTIONS = {
    "n": "n", "north": "n", "s": "s", "south": "s", "e": "e", "east": "e", "w": "w", "west": "w",
    "ne": "ne", "northeast": "ne", "nw": "nw", "northwest": "nw",
    "se": "se", "southeast": "se", "sw": "sw", "southwest": "sw",
}
STREET_TYPES = {
    "street": "st", "st": "st", "str": "st", "avenue": "ave", "ave": "ave", "av": "ave",
    "boulevard": "blvd", "blvd": "blvd", "blv": "blvd", "road": "rd", "rd": "rd",
    "highway": "hwy", "hwy": "hwy", "drive": "dr", "dr": "dr", "place": "pl", "pl": "pl",
    "court": "ct", "ct": "ct", "terrace": "ter", "ter": "ter", "lane": "ln", "ln": "ln",
    "parkway": "pkwy", "pkwy": "pkwy", "way": "way", "circle": "cir", "cir": "cir",
    "freeway": "fwy", "fwy": "fwy", "expressway": "expy", "expy": "expy", "square": "sq", "sq": "sq",
    "trail": "trl", "trl": "trl", "pike": "pike", "alley": "aly", "crescent": "cres", "loop": "loop",
    "bridge": "bridge", "br": "bridge", "broadway": "broadway",
}
# words that are a street type only when they end a name (never dropped from "Broadway")
TYPE_ONLY = set(STREET_TYPES.values()) - {"broadway"}
ORDINAL_WORDS = {w: i + 1 for i, w in enumerate(
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth "
    "fifteenth sixteenth seventeenth eighteenth nineteenth twentieth".split())}
WORDS = {"jr": "junior", "mt": "mount", "ft": "fort", "mlk": "martin luther king junior", "hwy": "hwy"}
CONNECTORS = {"and", "at", "x", "near", "by", "off", "with", "to", "between", "from", "corner", "of", "crossing"}
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_DOTTED = re.compile(r"\b([a-z])\.\s?([a-z])\b\.?")  # "S.E." -> "se"
_ORDINAL = re.compile(r"^(\d{1,4})(st|nd|rd|th)?$")
_DIGITS = re.compile(r"\d+")


def fold(text: str) -> str:
    """Lower case, accents removed (NFKD), '&' read as 'and'; other punctuation kept for tokenising."""
    if text.isascii():  # nothing to decompose: the common case, 10x faster
        return text.lower().replace("&", " and ")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower().replace("&", " and ")


def ordinal(n: int) -> str:
    """``82 -> "82nd"``, ``11 -> "11th"``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def canonical_tokens(words: list[str]) -> list[str]:
    """Canonical form of already folded word tokens (see the module docstring)."""
    out: list[str] = []
    for i, w in enumerate(words):
        nxt = words[i + 1] if i + 1 < len(words) else None
        m = _ORDINAL.match(w)
        if m and (m.group(2) or (nxt is not None and nxt in STREET_TYPES)):
            out.append(ordinal(int(m.group(1))))
        elif w in ORDINAL_WORDS and (nxt is None or nxt in STREET_TYPES):
            out.append(ordinal(ORDINAL_WORDS[w]))  # "Fifth Avenue" = "5th Ave"
        elif w in DIRECTIONS:
            out.append(DIRECTIONS[w])
        elif w == "st" and i == 0 and nxt is not None and nxt not in STREET_TYPES:
            out.append("saint")  # "St Johns", not "Street Johns"
        elif w in STREET_TYPES:
            out.append(STREET_TYPES[w])
        elif w in ("jr", "junior") and out and out[-1] == "junior":
            continue  # "MLK Jr" is "Martin Luther King Junior" once
        elif w in WORDS:
            out.extend(WORDS[w].split())
        else:
            out.append(w)
    return out


@lru_cache(maxsize=65536)
def normalise(text: str) -> str:
    """Canonical comparison key of a name: ``"Southeast 82nd Avenue" -> "se 82nd ave"``."""
    return " ".join(canonical_tokens(_TOKEN.findall(_DOTTED.sub(r"\1\2", fold(text)))))


@lru_cache(maxsize=65536)
def numbers(key: str) -> tuple[int, ...]:
    """The numbers in a normalised name, in order: ``"se 39th ave" -> (39,)``, ``"i 84" -> (84,)``."""
    return tuple(int(d) for d in _DIGITS.findall(key))


def road_keys(name: str) -> list[str]:
    """Keys under which a road may be written, most specific first (all normalised).

    ``"Southeast Hawthorne Boulevard"`` -> ``["se hawthorne blvd", "hawthorne blvd", "se hawthorne",
    "hawthorne"]``; the last one is the *core* (no direction, no type).
    """
    tokens = normalise(name).split()
    if not tokens:
        return []
    head = tokens[0] in DIRECTIONS.values() and len(tokens) > 1
    tail = tokens[-1] in TYPE_ONLY and len(tokens) > 1 + head
    body = tokens[1 if head else 0: len(tokens) - 1 if tail else len(tokens)]
    if not body:
        return [" ".join(tokens)]
    keys = [" ".join(tokens)]
    if head:
        keys.append(" ".join(tokens[1:]))
    if tail:
        keys.append(" ".join(tokens[:-1]))
    keys.append(" ".join(body))
    return list(dict.fromkeys(keys))


def core(name: str) -> str:
    """The core of a road name: ``"SE Foster Rd" -> "foster"``."""
    keys = road_keys(name)
    return keys[-1] if keys else ""


def short_name(name: str) -> str:
    """The way a road is usually written: ``"Southeast Foster Road" -> "SE Foster Rd"``."""
    if ";" in name:
        return "; ".join(short_name(part) for part in name.split(";"))
    words = name.replace(",", "").split()
    out = []
    for i, w in enumerate(words):
        low = w.lower()
        if low in DIRECTIONS and len(low) > 2 and i == 0:
            out.append(DIRECTIONS[low].upper())
        elif i == len(words) - 1 and i > 0 and low in STREET_TYPES and STREET_TYPES[low] in TYPE_ONLY \
                and low != "bridge":
            out.append(STREET_TYPES[low].capitalize())
        else:
            out.append(w)
    return " ".join(out)
