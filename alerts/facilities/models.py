"""Shapes of the critical-facilities registry (FEMA's inter-agency notification): facilities with their location,
notification radius and ordered operator contacts, and the notifications sent to them.

Locations are WGS 84 degrees; the radius is in metres. Operator contacts exist only in the facilities repository;
answers show them masked.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from alerts.subscriptions.models import ChannelOut, StoredChannel
from emergency.geometry import Lat, Lon

MAX_RADIUS_M = 50_000.0
MAX_CONTACTS = 10


class FacilityType(str, Enum):
    water = "water"
    power = "power"
    telecom = "telecom"
    hospital = "hospital"
    school = "school"
    fuel = "fuel"


class OperatorIn(BaseModel):
    """One operator contact (they are notified in the order given: the next after the escalation time)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, description="a person or a desk (\"Duty engineer\")")
    channels: list[dict[str, Any]] = Field(min_length=1, max_length=4, description="email and/or sms channels, "
                                           "validated as subscriptions' are: `{\"type\": \"email\", \"address\"}`, "
                                           "`{\"type\": \"sms\", \"number\"}`")


class FacilityIn(BaseModel):
    """``POST /api/v1/facilities`` and ``PUT /api/v1/facilities/{id}`` (the whole facility)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    type: FacilityType
    lat: Lat = Field(description="WGS 84 degrees")
    lon: Lon = Field(description="WGS 84 degrees")
    radius_m: float = Field(gt=0, le=MAX_RADIUS_M, description="notify when an alert area or a verified incident "
                            "comes within this many metres")
    contacts: list[OperatorIn] = Field(min_length=1, max_length=MAX_CONTACTS)


class Operator(BaseModel):
    name: str
    channels: list[StoredChannel]


class OptOut(BaseModel):
    """One SMS STOP or START of an operator's number (the facility's record of it; the number is not kept here)."""

    at: datetime
    contact_index: int
    channel_id: str
    stopped: bool


class Facility(BaseModel):
    """A facility as stored."""

    id: str
    name: str
    type: FacilityType
    lat: float
    lon: float
    radius_m: float
    contacts: list[Operator]
    created_at: datetime
    updated_at: datetime
    opt_outs: list[OptOut] = Field(default_factory=list)  # every SMS STOP/START of its operators' numbers


class OperatorOut(BaseModel):
    name: str
    channels: list[ChannelOut]


class FacilityOut(BaseModel):
    """A facility as its managers see it: contacts masked."""

    id: str
    name: str
    type: FacilityType
    lat: float
    lon: float
    radius_m: float
    contacts: list[OperatorOut]
    created_at: datetime
    updated_at: datetime
    opt_outs: list[OptOut] = Field(default_factory=list, description="every SMS STOP/START of its operators' "
                                   "numbers: when, which contact and channel (a channel STOPped shows stopped)")


class FacilityList(BaseModel):
    items: list[FacilityOut]


NotificationState = Literal["notified", "acknowledged", "unacknowledged"]


class Told(BaseModel):
    """One contact notified: when, through which deliveries (ledger ids); or ``skipped`` (every channel of theirs
    had opted out by SMS STOP), the escalation going on to the next contact at once."""

    contact_index: int
    at: datetime
    delivery_ids: list[str]
    skipped: str | None = None  # why this contact was not told ("opted out (SMS STOP)")


class Notification(BaseModel):
    """One facility notified of one cause (an alert thread, a verified incident). ``due_at``: when, unacknowledged,
    it escalates to the next contact (the durable timer, read by the worker's loop)."""

    id: str
    facility_id: str
    cause: Literal["alert", "incident"]
    cause_id: str
    headline: str
    priority: int
    state: NotificationState = "notified"
    contact_index: int = 0
    told: list[Told] = Field(default_factory=list)
    created_at: datetime
    due_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: int | None = None


class DeliveryOut(BaseModel):
    channel: str
    contact: str | None
    state: str
    sent_at: datetime | None
    acknowledged_at: datetime | None


class ToldOut(BaseModel):
    contact_index: int
    contact_name: str
    at: datetime
    deliveries: list[DeliveryOut]
    skipped: str | None = Field(None, description="why this contact was passed over (every channel opted out)")
    opted_out: list[str] = Field(default_factory=list, description="this contact's channels opted out now by SMS "
                                 "STOP (masked): they get nothing until the number sends START")


class NotificationOut(BaseModel):
    """One row of the dashboard: who was told, who acknowledged, and when."""

    id: str
    facility_id: str
    facility_name: str
    facility_type: FacilityType | None
    cause: str
    cause_id: str
    headline: str
    state: NotificationState
    created_at: datetime
    next_escalation_at: datetime | None
    told: list[ToldOut]
    acknowledged_at: datetime | None
    acknowledged_by: str | None


class Dashboard(BaseModel):
    generated_at: datetime
    items: list[NotificationOut]
