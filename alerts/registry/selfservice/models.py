"""Shapes of the public self-registration: the bodies a person (or their caregiver) sends, and the answers only
the holder of the registration's management token reads. Locations are WGS 84 degrees (``lat``, ``lon``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from alerts.registry.models import (
    CHANNEL_HELP,
    NEED_PRIORITY,
    Caregiver,
    CaregiverIn,
    LocationOut,
    Need,
    Source,
    Status,
)
from alerts.subscriptions.models import ChannelOut

ADDRESS_HELP = ("where the person lives, geocoded against the region (the nearest intersection, \"SE Division St & "
                "SE 12th Ave\"; suggestions from GET /api/v1/geocode?q=): the answer echoes what was matched; "
                "or give lat and lon")
NEEDS_HELP = "one or more of " + ", ".join(n.value for n in NEED_PRIORITY)


class RegistrationIn(BaseModel):
    """``POST /api/v1/registry/registrations``: a person registers themselves, or a caregiver registers them."""

    model_config = ConfigDict(extra="forbid")
    registered_by: Literal["self", "caregiver"] = Field("self", description="who fills in the form: the person "
                                                        "(self) or their caregiver (then `caregiver` is required)")
    name: str = Field(min_length=1, max_length=200, description="the person's name")
    address: str | None = Field(None, max_length=500, description=ADDRESS_HELP)
    lat: float | None = Field(None, description="WGS 84 degrees, with lon (wins over the address)")
    lon: float | None = Field(None, description="WGS 84 degrees, with lat")
    needs: list[str] = Field(min_length=1, max_length=len(NEED_PRIORITY), description=NEEDS_HELP)
    language: str | None = Field(None, max_length=35, description="the language they speak (BCP 47); required "
                                 "with the need `language`; messages to them use it when it is en, es or ko")
    channels: list[dict[str, Any]] = Field(min_length=1, max_length=4, description=CHANNEL_HELP +
                                           "; each gets a confirmation code, and the entry is active once every "
                                           "one is confirmed")
    caregiver: CaregiverIn | None = None
    consent: bool = Field(description="the explicit consent checkbox: must be true (the consent is dated now)")


class RegistrationPatch(BaseModel):
    """``PATCH /api/v1/registry/registrations/{id}``: each field given replaces that field whole."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=200)
    address: str | None = Field(None, max_length=500, description=ADDRESS_HELP)
    lat: float | None = None
    lon: float | None = None
    needs: list[str] | None = Field(None, min_length=1, max_length=len(NEED_PRIORITY), description=NEEDS_HELP)
    language: str | None = Field(None, max_length=35)
    channels: list[dict[str, Any]] | None = Field(None, min_length=1, max_length=4, description=CHANNEL_HELP +
                                                  "; a changed contact must be confirmed again (the entry is pending "
                                                  "until it is)")
    caregiver: CaregiverIn | None = None


class RegistrationOut(BaseModel):
    """A registration as its holder reads it (contacts masked); nobody else gets this answer."""

    id: str
    status: Status = Field(description="pending_confirmation until every contact is confirmed with its code; "
                           "a new registration is checked on in an emergency once active; one that was active "
                           "stays checked on through its confirmed contacts while a changed one waits")
    source: Source
    name: str
    location: LocationOut = Field(description="where the address was placed (what was understood)")
    needs: list[Need] = Field(description="the needs taken, most urgent first")
    language: str | None
    channels: list[ChannelOut]
    pending_confirmation: list[str] = Field(description="channel ids still to confirm with their code")
    unconfirmed_expires_at: datetime | None = Field(
        description="while no contact has ever been confirmed: when the registration and its personal data are "
        "erased if still unconfirmed (EMERGENCY_REGISTRY_UNCONFIRMED_TTL_S after it was made); null once active")
    caregiver: Caregiver | None
    consent_at: datetime
    created_at: datetime
    updated_at: datetime | None


class RegistrationCreated(RegistrationOut):
    """The answer to a registration: the management token, shown this once."""

    token: str = Field(description="the management token (Authorization: Bearer) for GET/PATCH/DELETE and confirm; "
                       "shown once")


class RegistrationConfirmed(BaseModel):
    id: str
    channel_id: str
    confirmed: bool
    status: Status
    pending_confirmation: list[str]


class RegistrationDeleted(BaseModel):
    id: str
    deleted: bool = Field(description="the entry and every personal datum in it are erased (consent withdrawn)")


class ReviewOut(BaseModel):
    id: str
    reviewed_at: datetime
