"""The CAP alert message as pydantic models: every element of OASIS CAP 1.2 (and 1.0/1.1 when read).

Values are kept as the text the message carries (dates, enumerations, polygons), so a message
that breaks a rule can still be read, reported on by ``alerts.cap.validate`` and written back
unchanged. Field order follows the schema's element order; ``alerts.cap.xml`` writes in that order.
The JSON form (``to_json``/``from_json``) is the model's own dump: lossless both ways.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

NAMESPACES = {
    "1.2": "urn:oasis:names:tc:emergency:cap:1.2",
    "1.1": "urn:oasis:names:tc:emergency:cap:1.1",
    "1.0": "http://www.incident.com/cap/1.0",
}
VERSION_OF = {ns: v for v, ns in NAMESPACES.items()}

# CAP dates: a time-zone offset is required and fractional seconds are not allowed ("Z" neither).
DATE_RE = re.compile(r"^\d\d\d\d-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d$")


class _Cap(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ValuePair(_Cap):
    """``eventCode``, ``parameter`` and ``geocode``: a (valueName, value) pair."""

    value_name: str
    value: str


class Resource(_Cap):
    """A file with supplemental information; ``size`` in bytes, ``digest`` a SHA-1 hex string."""

    resource_desc: str
    mime_type: str | None = None
    size: str | None = None
    uri: str | None = None
    deref_uri: str | None = None
    digest: str | None = None


class Area(_Cap):
    """An affected area. Polygons are ``"lat,lon lat,lon ..."`` (WGS 84, first point repeated last);
    circles ``"lat,lon radius"`` with the radius in kilometres; altitude and ceiling in feet above
    mean sea level."""

    area_desc: str
    polygon: list[str] = Field(default_factory=list)
    circle: list[str] = Field(default_factory=list)
    geocode: list[ValuePair] = Field(default_factory=list)
    altitude: str | None = None
    ceiling: str | None = None


class Info(_Cap):
    """One ``info`` block: the event in one language (``language`` defaults to en-US)."""

    language: str | None = None
    category: list[str] = Field(default_factory=list)
    event: str = ""
    response_type: list[str] = Field(default_factory=list)
    urgency: str = ""
    severity: str = ""
    certainty: str = ""
    audience: str | None = None
    event_code: list[ValuePair] = Field(default_factory=list)
    effective: str | None = None
    onset: str | None = None
    expires: str | None = None
    sender_name: str | None = None
    headline: str | None = None
    description: str | None = None
    instruction: str | None = None
    web: str | None = None
    contact: str | None = None
    parameter: list[ValuePair] = Field(default_factory=list)
    resource: list[Resource] = Field(default_factory=list)
    area: list[Area] = Field(default_factory=list)

    def parameter_value(self, name: str) -> str | None:
        """The first parameter called ``name`` (case-sensitive), or None."""
        return next((p.value for p in self.parameter if p.value_name == name), None)

    def event_codes(self, name: str) -> list[str]:
        """Every eventCode value whose valueName is ``name`` (e.g. ``"SAME"``)."""
        return [c.value for c in self.event_code if c.value_name == name]


class Alert(_Cap):
    """A CAP alert message. ``version`` says which CAP namespace it was read from or is written in;
    ``signatures`` holds any XML-DSig ``Signature`` elements verbatim (serialised XML)."""

    version: str = "1.2"
    identifier: str = ""
    sender: str = ""
    password: str | None = None  # CAP 1.0 only
    sent: str = ""
    status: str = ""
    msg_type: str = ""
    source: str | None = None
    scope: str = ""
    restriction: str | None = None
    addresses: str | None = None
    code: list[str] = Field(default_factory=list)
    note: str | None = None
    references: str | None = None
    incidents: str | None = None
    info: list[Info] = Field(default_factory=list)
    signatures: list[str] = Field(default_factory=list)

    def to_json(self) -> str:
        """The JSON form: every field, so ``from_json(to_json(a)) == a``."""
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str | bytes) -> Alert:
        return cls.model_validate_json(text)

    def reference_list(self) -> list[tuple[str, str, str]]:
        """``references`` as (sender, identifier, sent) triples; malformed entries are skipped."""
        out = []
        for item in (self.references or "").split():
            parts = item.split(",")
            if len(parts) == 3:
                out.append((parts[0], parts[1], parts[2]))
        return out

    def reference_key(self) -> str:
        """How other messages reference this one: ``sender,identifier,sent``."""
        return f"{self.sender},{self.identifier},{self.sent}"


def parse_date(text: str | None) -> datetime | None:
    """A CAP date as an aware datetime, or None when absent or not in CAP form."""
    if not text or not DATE_RE.match(text.strip()):
        return None
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        return None


def format_date(dt: datetime) -> str:
    """An aware datetime in CAP form: seconds precision, numeric offset (UTC as ``+00:00``)."""
    if dt.tzinfo is None:
        raise ValueError("CAP dates need a time-zone offset")
    return dt.replace(microsecond=0).isoformat()
