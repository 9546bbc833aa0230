"""What an administrator sends and sees about an agency. Contacts are personal data: lists mask them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from emergency.geometry import AreaGeometry

PHONE_REGION = "US"  # numbers written without a country code are read as North American


class ContactIn(BaseModel):
    """A person to reach at the agency (personal data: never public, masked in lists)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    role: str | None = Field(None, max_length=100, description='e.g. "duty officer"')
    phone: str | None = Field(None, max_length=40, description="stored in E.164 form (+15035550100)")
    email: str | None = Field(None, max_length=254)

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        if v is None:
            return None
        try:
            number = phonenumbers.parse(v, PHONE_REGION)
        except phonenumbers.NumberParseException:
            raise ValueError("is not a phone number") from None
        if not phonenumbers.is_valid_number(number):
            raise ValueError("is not a valid phone number")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v is None:
            return None
        try:
            return validate_email(v, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ValueError(f"is not an e-mail address ({exc})") from None

    @model_validator(mode="after")
    def _reachable(self) -> ContactIn:
        if self.phone is None and self.email is None:
            raise ValueError("phone: give a phone or an email for each contact")
        return self


class AgencyIn(BaseModel):
    """A new agency: its exact name, its jurisdiction as GeoJSON or as the region's zone/county codes
    (UGC ``ORZ111``, ``ORC051`` or SAME ``041051``; comma-separated), and contacts."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    jurisdiction: AreaGeometry | None = Field(None, description="GeoJSON Polygon/MultiPolygon, WGS 84 degrees")
    jurisdiction_codes: str | None = Field(None, min_length=1, max_length=500,
                                           description="the region's UGC/SAME codes, instead of jurisdiction")
    contacts: list[ContactIn] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _one(self) -> AgencyIn:
        if (self.jurisdiction is None) == (self.jurisdiction_codes is None):
            raise ValueError("jurisdiction: give exactly one of jurisdiction or jurisdiction_codes")
        return self


class AgencyPatch(BaseModel):
    """A change to an agency: its jurisdiction (as GeoJSON or codes) and/or its contacts (replaced whole)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, description="cannot be changed: refused when given")
    jurisdiction: AreaGeometry | None = None
    jurisdiction_codes: str | None = Field(None, min_length=1, max_length=500)
    contacts: list[ContactIn] | None = Field(None, max_length=20)

    @model_validator(mode="after")
    def _checks(self) -> AgencyPatch:
        if self.name is not None:
            raise ValueError("name: an agency keeps its name (its tokens and its items carry it); register "
                             "another agency for another name")
        if self.jurisdiction is not None and self.jurisdiction_codes is not None:
            raise ValueError("jurisdiction: give at most one of jurisdiction or jurisdiction_codes")
        if self.jurisdiction is None and self.jurisdiction_codes is None and self.contacts is None:
            raise ValueError("body: nothing to change (jurisdiction, jurisdiction_codes or contacts)")
        return self


class AgencyOut(BaseModel):
    """An agency as the admin API shows it (contacts masked in lists)."""

    agency_id: str
    name: str
    jurisdiction: dict[str, Any]
    jurisdiction_codes: list[str] | None
    contacts: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime
    tokens_updated: int | None = Field(None, description="tokens of the agency given the new jurisdiction")


class AuditOut(BaseModel):
    """One agency action."""

    at: datetime
    actor: str
    actor_token: str | None
    action: str
    target: str | None
    detail: dict[str, Any]
