"""Text fields that can go anywhere: into XML (CAP, Atom), JSON, logs and the live map.

XML 1.0 allows tab, newline and carriage return but no other C0 control character (U+0000–U+001F),
no lone surrogate (U+D800–U+DFFF) and neither U+FFFE nor U+FFFF. A text field that may reach a
CAP message is typed :data:`SafeText`, which refuses such a character at the edge with
``<field>: contains a control character U+0007 at position 12`` (positions count characters from 1)
and never echoes the text. Other models may use it for any free text they accept.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text_problem(value: str) -> str | None:
    """Why ``value`` cannot be written as XML 1.0 text (the first illegal character, its code point and
    1-based position, never the text itself); None when it can."""
    m = _XML_ILLEGAL.search(value)
    if m is None:
        return None
    code = ord(m.group())
    kind = ("a control character" if code < 0x20 else "a lone surrogate" if 0xD800 <= code <= 0xDFFF
            else "a non-character")
    return f"contains {kind} U+{code:04X} at position {m.start() + 1}, which XML (and so CAP) cannot carry"


def xml_printable(value: str) -> str:
    """``value`` with every character XML 1.0 cannot carry replaced by U+FFFD: for text the server writes itself
    (an error message quoting bad input), never for what a sender submitted, which is refused instead."""
    return _XML_ILLEGAL.sub("\ufffd", value)


def check_safe_text(value: str) -> str:
    """``value`` unchanged when every character can be written as XML 1.0 text; ``ValueError`` otherwise."""
    problem = xml_text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _refuse_illegal(value: str) -> str:
    problem = xml_text_problem(value)
    if problem:
        raise PydanticCustomError("xml_text", problem)
    return value


# Free text that may reach XML: refused (422 ``field: contains …``) when it holds an XML-illegal character.
SafeText = Annotated[str, AfterValidator(_refuse_illegal)]
