"""Open311 GeoReport v2 shapes: the service catalogue (the citizen report categories), requests, answers, errors.

Field names and order are the spec's (``GeoReport_v2``); every answer model has the spec's JSON form
(``model_dump``) and, through ``feeds.open311.formats``, its XML form (root and item element names per the
spec's "Spark convention" mapping). Times are W3C date-times with a zone (UTC here).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from emergency.categories import ReportCategory

SPEC = "http://wiki.open311.org/GeoReport_v2"
FORMATS = ("json", "xml")
MIME = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}

Format = Literal["json", "xml"]

# bounds of a POST requests body (beyond the byte limit, EMERGENCY_OPEN311_MAX_BODY_BYTES)
MAX_FIELDS = 64            # form fields in one body (attribute values included)
MAX_ATTRIBUTES = 16        # attribute[...] values in one body
MAX_DESCRIPTION = 2000     # the citizen report's text limit (the spec allows up to 4,000; longer is refused)
MAX_ADDRESS = 500          # the citizen report's location_text limit
MAX_SHORT = 200            # names, device and account ids, attribute values of datatype string
MAX_EMAIL = 200          # the citizen report's contact limit
MAX_PHONE = 64
MAX_IDS = 100              # service_request_id values in one GET requests
MAX_REQUESTS = 1000        # the spec's default and largest answer of GET requests
MAX_SPAN_DAYS = 90         # the spec's largest start_date..end_date span


class AttributeValue(BaseModel):
    key: str
    name: str


class Attribute(BaseModel):
    """One question of a service definition (every attribute here is optional: a report is never held back)."""

    variable: bool = True
    code: str
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
    required: bool = False
    datatype_description: str | None = None
    order: int
    description: str
    values: list[AttributeValue] = Field(default_factory=list)  # empty unless a list datatype


class Service(BaseModel):
    """One entry of ``services``: a citizen report category."""

    service_code: str
    service_name: str
    description: str | None = None
    metadata: bool
    type: Literal["realtime", "batch", "blackbox"] = "realtime"
    keywords: str | None = None
    group: str | None = None


class ServiceDefinition(BaseModel):
    service_code: str
    attributes: list[Attribute]


def _values(*pairs: tuple[str, str]) -> list[AttributeValue]:
    return [AttributeValue(key=k, name=n) for k, n in pairs]


YES_NO = _values(("yes", "Yes"), ("no", "No"), ("unknown", "Don't know"))

# The catalogue: one service per citizen report category (service_code = the category), with its questions.
CATALOGUE: dict[ReportCategory, tuple[Service, list[Attribute]]] = {
    ReportCategory.blocked_road: (
        Service(service_code="blocked_road", service_name="Blocked road", metadata=True, group="roads",
                description="A road that cannot be used: a fallen tree, debris, a crash, water or fire across it.",
                keywords="road, blocked, tree, debris, closed, impassable"),
        [Attribute(code="BLOCKAGE", datatype="singlevaluelist", order=1, description="What blocks the road?",
                   values=_values(("tree", "Fallen tree"), ("debris", "Debris or landslide"), ("vehicle", "Vehicle"),
                                  ("water", "Water"), ("fire", "Fire"), ("power_line", "Power line"),
                                  ("other", "Something else"))),
         Attribute(code="LANES", datatype="singlevaluelist", order=2, description="How much of the road is blocked?",
                   values=_values(("some", "Some lanes"), ("all", "All lanes")))]),
    ReportCategory.spot_fire: (
        Service(service_code="spot_fire", service_name="Spot fire", metadata=True, group="fire",
                description="Open flames outside a building: grass, brush, trees, embers landing.",
                keywords="fire, flames, burning, embers, brush"),
        [Attribute(code="SIZE", datatype="singlevaluelist", order=1, description="How big is it?",
                   values=_values(("small", "Smaller than a car"), ("medium", "Up to a house"),
                                  ("large", "Larger than a house"))),
         Attribute(code="SPREADING", datatype="singlevaluelist", order=2, description="Is it spreading?",
                   values=YES_NO)]),
    ReportCategory.smoke: (
        Service(service_code="smoke", service_name="Smoke", metadata=True, group="fire",
                description="Smoke seen or smelt, without visible flames.", keywords="smoke, haze, smell, burning"),
        [Attribute(code="COLOUR", datatype="singlevaluelist", order=1, description="What colour is the smoke?",
                   values=_values(("white", "White"), ("grey", "Grey"), ("black", "Black")))]),
    ReportCategory.flooding: (
        Service(service_code="flooding", service_name="Flooding", metadata=True, group="water",
                description="Water over a road, in buildings or rising in a creek.",
                keywords="flood, water, rising, creek, river"),
        [Attribute(code="DEPTH", datatype="singlevaluelist", order=1, description="How deep is the water?",
                   values=_values(("ankle", "Ankle deep"), ("knee", "Knee deep"), ("waist", "Waist deep"),
                                  ("deeper", "Deeper"))),
         Attribute(code="RISING", datatype="singlevaluelist", order=2, description="Is it rising?", values=YES_NO)]),
    ReportCategory.damage: (
        Service(service_code="damage", service_name="Damage", metadata=True, group="damage",
                description="Damage to buildings, bridges, power or water lines.",
                keywords="damage, collapsed, power line, bridge, building"),
        [Attribute(code="WHAT", datatype="multivaluelist", order=1, description="What is damaged?",
                   values=_values(("building", "Building"), ("bridge", "Bridge"), ("road", "Road"),
                                  ("power_line", "Power line"), ("water_main", "Water or gas line"),
                                  ("other", "Something else")))]),
    ReportCategory.needs_help: (
        Service(service_code="needs_help", service_name="People needing help", metadata=True, group="people",
                description="People trapped, hurt or needing shelter, water or food. In immediate danger, call the "
                            "emergency number first.",
                keywords="help, rescue, trapped, injured, shelter"),
        [Attribute(code="PEOPLE", datatype="number", order=1, description="How many people?"),
         Attribute(code="INJURED", datatype="singlevaluelist", order=2, description="Is anyone hurt?",
                   values=YES_NO),
         Attribute(code="NEEDS", datatype="multivaluelist", order=3, description="What do they need?",
                   values=_values(("rescue", "Rescue"), ("medical", "Medical care"), ("shelter", "Shelter"),
                                  ("water_food", "Water or food"), ("transport", "Transport")))]),
    ReportCategory.other: (
        Service(service_code="other", service_name="Something else", metadata=False, group="other",
                description="Anything else the emergency services should know.", keywords="other"),
        []),
}


class RequestIn(BaseModel):
    """A POST requests body as understood: the service, where, what, and the private contact fields.

    ``lat``/``long`` (WGS 84 degrees) win over ``address_string``, which is geocoded in the region otherwise.
    """

    model_config = ConfigDict(extra="forbid")
    service_code: ReportCategory
    lat: float | None = None
    long: float | None = None
    address_string: str | None = None
    description: str = ""
    attributes: dict[str, str | list[str]] = Field(default_factory=dict)
    private: dict[str, str] = Field(default_factory=dict)  # email, phone, names, device and account ids, media_url


class RequestCreated(BaseModel):
    """One entry of the POST requests answer; ``tracking_url`` is this server's extension (the status page)."""

    service_request_id: str
    service_notice: str | None = None
    account_id: str | None = None
    tracking_url: str | None = None


class ServiceRequest(BaseModel):
    """One entry of GET requests: public fields only (no contact, names, device or account ids, media)."""

    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str | None = None
    service_name: str | None = None
    service_code: str
    description: str | None = None
    agency_responsible: str | None = None
    service_notice: str | None = None
    requested_datetime: str
    updated_datetime: str | None = None
    expected_datetime: str | None = None
    address: str | None = None
    address_id: str | None = None
    zipcode: str | None = None
    lat: float | None = None
    long: float | None = None
    media_url: str | None = None


class TokenAnswer(BaseModel):
    service_request_id: str
    token: str


class RequestUpdate(BaseModel):
    """One entry of FixMyStreet's ``servicerequestupdates``: a coordinator's status change of a request."""

    update_id: str
    service_request_id: str
    status: Literal["open", "closed"]
    updated_datetime: str
    description: str
    media_url: str | None = None


class Endpoint(BaseModel):
    specification: str = SPEC
    url: str
    changeset: str
    type: Literal["production", "test"] = "production"
    formats: list[str]


class Discovery(BaseModel):
    changeset: str
    contact: str
    key_service: str
    endpoints: list[Endpoint]


class Error(BaseModel):
    code: int
    description: str
