"""Agency identity: the stable ``agency_id`` every token of one agency shares.

An agency is known by its exact name. Its ``agency_id`` is assigned when its first token is
created (the slug of that name, ``"City of Portland" -> "city-of-portland"``, made unique) and
stored with each of its tokens; agency event ids are built from it
(``agency:<agency_id>:<reference>``), never from the name a later token gives.

A new agency whose name differs from an existing agency's only in case, accents, punctuation or
spacing ("City-of-Portland" beside "City of Portland") is refused: it would read as the same
agency on the map, and nothing but the exact name tells the two apart.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from emergency.errors import ValidationFailed


def agency_slug(agency: str) -> str:
    """``"City of Portland" -> "city-of-portland"``: the readable form an agency id starts from."""
    return re.sub(r"[^a-z0-9]+", "-", agency.lower()).strip("-") or "agency"


def agency_key(agency: str) -> str:
    """What two names share when they differ only in case, accents, punctuation or spacing
    (``"City-of-Portland"`` and ``"city of  portland"`` -> ``"cityofportland"``)."""
    decomposed = unicodedata.normalize("NFKD", agency.casefold())
    return "".join(ch for ch in decomposed if ch.isalnum() and not unicodedata.combining(ch))


def assign_agency_id(*, agency: str, known: Iterable[tuple[str, str]]) -> str:
    """The agency id for a token of ``agency``, given every known (agency_id, name) pair: the
    existing id when the exact name is known; else a new unique id. ValidationFailed naming
    ``agency``, with the existing names as candidates, when the name only looks like another's."""
    known = list(known)
    if not agency_key(agency):
        raise ValidationFailed("agency", "an agency name needs at least one letter or digit")
    for agency_id, name in known:
        if name == agency:
            return agency_id
    key = agency_key(agency)
    alike = sorted({name for _, name in known if agency_key(name) == key})
    if alike:
        names = ", ".join(f'"{n}"' for n in alike)
        raise ValidationFailed("agency", f'"{agency}" differs from the existing agency {names} only in case, '
                               "accents, punctuation or spacing: give that exact name for another token of the "
                               "same agency, or a clearly different name for a different agency", alike)
    taken = {agency_id for agency_id, _ in known}
    base = agency_slug(agency)
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    return candidate
