"""Shapes of the vulnerable-persons registry (New Jersey's "Register Ready"): who registered, where, what they
need, how to reach them, their consent; the check-in (outreach) of one registrant for one alert; the read audit.

Locations are WGS 84 degrees (``lat``, ``lon``); distances in metres. Everything here is private: only the
registry repository stores it, only ``registry_officer`` reads it (audited), nothing of it goes on a topic.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from alerts.subscriptions.models import StoredChannel
from emergency.events import GeoPrecision


class Need(str, Enum):
    """What a registrant needs in an emergency (the enumerated, validated list)."""

    oxygen = "oxygen"
    dialysis = "dialysis"
    mobility = "mobility"
    vision = "vision"
    hearing = "hearing"
    service_animal = "service_animal"
    language = "language"


# The tasking order of needs, most urgent first: life-sustaining equipment that depends on power and supply
# (oxygen: hours), then treatment that cannot wait days (dialysis), then people who cannot leave on their own
# (mobility), then people who may not see or hear a warning or a responder (vision, hearing), then a service
# animal to evacuate with its person, then language help. A registrant is ranked by their most urgent need.
NEED_PRIORITY: tuple[Need, ...] = (Need.oxygen, Need.dialysis, Need.mobility, Need.vision, Need.hearing,
                                   Need.service_animal, Need.language)

CHANNEL_HELP = ("1 to 4 channels: `{\"type\": \"email\", \"address\"}` or `{\"type\": \"sms\", \"number\"}` (E.164), "
                "validated as subscriptions' channels are")


class ConsentIn(BaseModel):
    """The registrant's explicit consent to be kept in the registry and contacted in an emergency."""

    model_config = ConfigDict(extra="forbid")
    given: bool = Field(description="must be true: the person (or their caregiver) agreed to be registered")
    at: datetime = Field(description="when consent was given (ISO 8601 with a UTC offset; not in the future)")


class CaregiverIn(BaseModel):
    """Who looks after the registrant (a relative, a home aide)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(None, max_length=32, description="E.164 (+15035550100): the caregiver is texted a "
                              "confirmation link, and only once they confirmed, the check-ins of the registrant")
    relation: str | None = Field(None, max_length=100)
    language: str | None = Field(None, max_length=35, description="the language the caregiver reads (BCP 47); "
                                 "default: the registrant's")


class RegistrantIn(BaseModel):
    """``POST /api/v1/registry/registrants`` (a registry officer enters a registration taken by phone, form or visit)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    address: str | None = Field(None, max_length=500, description="where they live, geocoded against the region "
                                "(the nearest intersection, A St & B Ave: the answer echoes what was understood); "
                                "or give lat and lon")
    lat: float | None = Field(None, description="WGS 84 degrees, with lon (wins over the address)")
    lon: float | None = Field(None, description="WGS 84 degrees, with lat")
    needs: list[str] = Field(min_length=1, max_length=len(NEED_PRIORITY),
                             description="one or more of " + ", ".join(n.value for n in NEED_PRIORITY))
    language: str | None = Field(None, max_length=35, description="the language they speak (BCP 47); required "
                                 "with the need `language`")
    channels: list[dict[str, Any]] = Field(min_length=1, max_length=4, description=CHANNEL_HELP)
    caregiver: CaregiverIn | None = None
    consent: ConsentIn


class RegistrantPatch(BaseModel):
    """``PATCH /api/v1/registry/registrants/{id}`` (an officer corrects an entry: a new phone, a new need, a move):
    each field given replaces that field whole; ``"caregiver": null`` removes the caregiver."""

    model_config = ConfigDict(extra="forbid")
    version: int | None = Field(None, ge=1, description="the version read (`version` of the entry): another is "
                                "409, so a change made meanwhile (by the registrant or another officer) is not "
                                "overwritten unseen")
    name: str | None = Field(None, min_length=1, max_length=200)
    address: str | None = Field(None, max_length=500, description="as for a new entry (the answer echoes what was "
                                "understood)")
    lat: float | None = None
    lon: float | None = None
    needs: list[str] | None = Field(None, min_length=1, max_length=len(NEED_PRIORITY))
    language: str | None = Field(None, max_length=35)
    channels: list[dict[str, Any]] | None = Field(None, min_length=1, max_length=4, description=CHANNEL_HELP +
                                                  "; entered by an officer, so taken as confirmed; a contact given "
                                                  "again keeps its id and its STOP")
    caregiver: CaregiverIn | None = Field(None, description="the same phone keeps its confirmation; a new phone is "
                                          "texted a new confirmation link, and gets check-ins once it confirms")
    consent: ConsentIn | None = Field(None, description="consent given again (dated)")


Source = Literal["officer", "self", "caregiver"]  # who entered the registration
Status = Literal["active", "pending_confirmation"]


class Caregiver(BaseModel):
    name: str
    phone: str | None = None
    relation: str | None = None
    language: str | None = None
    confirmed_at: datetime | None = None  # when the caregiver confirmed through their link (None: not yet)
    stopped: bool = False                 # the caregiver's phone replied STOP


class Registrant(BaseModel):
    """A registrant as stored."""

    id: str
    name: str
    lat: float
    lon: float
    location_label: str
    geo_precision: GeoPrecision
    needs: list[Need]             # in NEED_PRIORITY order
    language: str | None = None
    channels: list[StoredChannel]
    caregiver: Caregiver | None = None
    consent_at: datetime
    created_at: datetime
    created_by: str               # the officer's token_id ("self-registration" for the public form)
    # self-registration (alerts/registry/selfservice): who entered it, whether its contacts are confirmed yet
    source: Source = "officer"
    status: Status = "active"     # pending_confirmation: no check-ins until every contact is confirmed
    token_hash: str | None = None  # SHA-256 of the registrant's management token (self-registration only)
    version: int = 1              # increases with every change by the registrant (optimistic concurrency)
    updated_at: datetime | None = None
    reviewed_at: datetime | None = None  # an officer reviewed a self-registration
    reviewed_by: str | None = None       # that officer's token_id
    activated_at: datetime | None = None  # when a self-registration first became active (every contact confirmed)

    @property
    def awaiting_first_confirmation(self) -> bool:
        """A self-registration that was never active: out of alerts' coverage, and erased when left unconfirmed.
        An entry that was active once and has a changed contact to confirm stays covered (its confirmed contacts
        are used meanwhile): a person does not drop off the responders' list for changing a phone number."""
        return self.status != "active" and self.activated_at is None


class LocationOut(BaseModel):
    """Where the registry placed the registrant (the echo of what was understood)."""

    label: str
    geo_precision: GeoPrecision
    lat: float
    lon: float


class ContactOut(BaseModel):
    channel_id: str
    type: str
    contact: str


class RegistrantOut(BaseModel):
    """A registrant as a registry officer reads it (every such read is audited)."""

    id: str
    name: str
    location: LocationOut
    needs: list[Need]
    language: str | None
    channels: list[ContactOut]
    caregiver: Caregiver | None
    consent_at: datetime
    created_at: datetime
    source: Source = Field("officer", description="officer (entered by an officer), self or caregiver (the public "
                           "self-registration form)")
    status: Status = Field("active", description="pending_confirmation: a self-registration with a contact not "
                           "confirmed yet (never active before: not covered, no check-ins; active before: covered, "
                           "its confirmed contacts are used)")
    reviewed_at: datetime | None = Field(None, description="when an officer reviewed this self-registration")
    version: int = Field(1, description="rises with every change; give it back in a PATCH")


class RegistrantList(BaseModel):
    total: int
    items: list[RegistrantOut]


CheckinState = Literal["awaiting", "safe", "need_help", "silent"]


class Outreach(BaseModel):
    """One registrant asked to check in for one alert thread. ``due_at``: when silence opens a needs-help
    report (the durable timer, read by the worker's loop)."""

    id: str
    alert_id: str
    alert_version: str
    registrant_id: str
    headline: str
    distance_m: float             # from the alert area's centroid (metres, geodesic)
    state: CheckinState = "awaiting"
    created_at: datetime
    due_at: datetime
    answered_at: datetime | None = None
    report_id: str | None = None  # the needs-help report opened for it (the public picture's id)
    delivery_ids: list[str] = Field(default_factory=list)
    language: str = "en"          # the message's language (emergency.i18n.SUPPORTED), the registrant's
    caregiver_language: str = "en"
    caregiver_headline: str | None = None  # the alert's headline in the caregiver's language (None: ``headline``)
    answered_by: Literal["registrant", "caregiver", "timer"] | None = None


class TaskingItem(BaseModel):
    """One registrant on an alert's tasking list (responders go in this order)."""

    rank: int
    registrant_id: str
    name: str
    lat: float
    lon: float
    location_label: str
    needs: list[Need]
    top_need: Need
    distance_m: float
    language: str | None
    contacts: list[ContactOut]
    caregiver: Caregiver | None
    checkin: CheckinState
    answered_at: datetime | None
    answered_by: str | None = None
    report_id: str | None


class Tasking(BaseModel):
    alert_id: str
    generated_at: datetime
    order: str = Field(description="how the list is sorted")
    items: list[TaskingItem]


class CheckinOut(BaseModel):
    """The answer to a check-in (no personal data)."""

    state: CheckinState
    report_id: str | None = Field(None, description="the needs-help report opened (its tracking page: tracking_url)")
    tracking_url: str | None = None


class CaregiverConfirmOut(BaseModel):
    """The answer to a caregiver's confirmation (no personal data)."""

    confirmed: bool
    confirmed_at: datetime | None = None


class AuditItem(BaseModel):
    """One read of registry entries: who, when, what, which entries."""

    at: datetime
    actor: str
    actor_token: str
    action: str
    alert_id: str | None = None
    entries: list[str]


class AuditList(BaseModel):
    items: list[AuditItem]
