"""Languages of the public pages and messages: the one way to choose a language and look up a string.

Every public page (the report page, the public alerts page, the tracking page) and every message a
citizen reads (validation errors of the citizen intake, status messages) takes its language from
here. Catalogues are plain mappings ``{language: {key: text}}``; each domain keeps its own (a JSON
file beside its page, a dict in its module) and passes it in. English is the fallback of every key,
so a missing translation shows English, never a key name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

#: Languages the public pages and citizen messages ship in (BCP 47 primary subtags), first = fallback.
SUPPORTED: tuple[str, ...] = ("en", "es", "ko")
FALLBACK = SUPPORTED[0]

_RANGE = re.compile(r"^\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([0-9](?:\.[0-9]{0,3})?))?\s*$")


def preferences(accept_language: str | None) -> list[str]:
    """Language ranges of an ``Accept-Language`` header (RFC 9110 12.5.4), best first, lower-cased.

    Malformed ranges are ignored (a header is a hint, never an error); ``q=0`` means "not this one".
    """
    if not accept_language:
        return []
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language[:1000].split(",")[:30]):
        match = _RANGE.match(part)
        if not match:
            continue
        quality = float(match.group(2)) if match.group(2) is not None else 1.0
        if quality <= 0:
            continue
        ranked.append((-quality, position, match.group(1).lower()))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(accept_language: str | Sequence[str] | None, *,
              supported: Sequence[str] = SUPPORTED) -> str:
    """The supported language to answer in: the first preferred one whose primary subtag we ship.

    ``accept_language`` is a header value or an explicit preference list (e.g. a subscriber's
    BCP 47 tags, or a ``?lang=`` choice); ``es-MX`` chooses ``es``; nothing matching gives English.
    """
    wanted = preferences(accept_language) if isinstance(accept_language, str) or accept_language is None \
        else [tag.lower() for tag in accept_language]
    for tag in wanted:
        if tag == "*":
            return supported[0]
        primary = tag.split("-", 1)[0]
        if primary in supported:
            return primary
    return supported[0]


def translate(catalogue: Mapping[str, Mapping[str, str]], key: str, language: str, **values: object) -> str:
    """The text of ``key`` in ``language`` (English when that language lacks it), formatted with ``values``.

    A key missing from English too is a programming error and raises ``KeyError``.
    """
    text = catalogue.get(language, {}).get(key)
    if text is None:
        text = catalogue[FALLBACK][key]
    return text.format(**values) if values else text
