"""Pydantic shapes of alert drafts: what an originator submits and edits, the draft as journaled, and its preview."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from alerts.models import AlertArea, AlertIn, TranslationIn
from alerts.tiers import Tier
from emergency.text import SafeText
from emergency.timebounds import AlertExpiry

Status = Literal["draft", "rejected", "issued"]
MsgType = Literal["Alert", "Update", "Cancel"]


class DraftIn(AlertIn):
    """A new draft: the body of ``POST /api/v1/alerts``; with ``msg_type`` Update and ``alert_id``, the Update of
    an issued alert (the same policy as the alert's tier)."""

    msg_type: Literal["Alert", "Update"] = Field("Alert", description="Alert (a new alert) or Update (of alert_id)")
    alert_id: str | None = Field(None, min_length=1, max_length=256, description="the issued alert an Update replaces")


class CancelDraftIn(BaseModel):
    """A draft of the Cancel of an issued alert (the same policy as the alert's tier)."""

    model_config = ConfigDict(extra="forbid")
    alert_id: str = Field(min_length=1, max_length=256)
    note: SafeText | None = Field(None, min_length=1, max_length=2000, description="a note for the public")


class DraftPatch(BaseModel):
    """An edit of a draft: the fields given replace the draft's (``null`` clears an optional one). Any edit
    withdraws the approvals given so far."""

    model_config = ConfigDict(extra="forbid")
    tier: Tier | None = None
    headline: SafeText | None = Field(None, min_length=1, max_length=140)
    description: SafeText | None = Field(None, max_length=4000)
    instruction: SafeText | None = Field(None, max_length=2000)
    event: SafeText | None = Field(None, max_length=100)
    same_code: SafeText | None = Field(None, min_length=3, max_length=3)
    area: AlertArea | None = None
    expires: AlertExpiry | None = None
    wea_text: SafeText | None = Field(None, min_length=1, max_length=1000)
    wea_long_text: SafeText | None = Field(None, min_length=1, max_length=4000)
    language: SafeText | None = Field(None, max_length=35)
    translations: dict[str, TranslationIn] | None = None
    note: SafeText | None = Field(None, min_length=1, max_length=2000, description="a Cancel draft's note")


class ReasonIn(BaseModel):
    """A rejection's reason (required), or an approval's comment (optional)."""

    model_config = ConfigDict(extra="forbid")
    reason: SafeText | None = Field(None, min_length=1, max_length=2000)


class Actor(BaseModel):
    """Who acted: the token's public handle (``token_id``), name, agency and person."""

    token_id: str
    name: str
    agency: str | None = None
    person: str | None = None


class Approval(BaseModel):
    by: Actor
    at: datetime


class TrailEntry(BaseModel):
    """One step of a draft's audit trail: who, when, what (``changes``: field -> {"from", "to"} for an edit)."""

    at: datetime
    action: Literal["create", "edit", "approve", "reject", "issue"]
    by: Actor
    changes: dict[str, dict[str, Any]] | None = None
    reason: str | None = None
    note: str | None = None


class Draft(BaseModel):
    """A draft as journaled (each step a new version). ``payload`` is the AlertIn (Alert/Update) or
    ``{"note"}`` (Cancel) in JSON form; ``author_hash`` (the author's token hash) is never shown."""

    id: str
    version: int
    msg_type: MsgType
    alert_id: str | None = None
    tier: Tier
    payload: dict[str, Any]
    status: Status = "draft"
    author: Actor
    author_hash: str
    approvals: list[Approval] = Field(default_factory=list)
    issued_alert_id: str | None = None
    created_at: datetime
    updated_at: datetime
    trail: list[TrailEntry] = Field(default_factory=list)


class FindingOut(BaseModel):
    rule: str
    level: str
    path: str
    field: str
    message: str


class Preview(BaseModel):
    """What issuing the draft now would publish: the validator's findings (each with its rule), the CAP XML, the
    WEA texts per language, and how many subscriber channels it would reach per channel type (None when this
    process has no subscription directory)."""

    findings: list[FindingOut]
    issuable: bool
    cap_xml: str | None
    wea: dict[str, dict[str, str | None]]
    targeted: dict[str, int] | None


class DraftOut(BaseModel):
    id: str
    version: int
    msg_type: MsgType
    alert_id: str | None
    tier: Tier
    status: Status
    payload: dict[str, Any]
    author: Actor
    approvals_needed: int
    approvals: list[Approval]
    issued_alert_id: str | None
    created_at: datetime
    updated_at: datetime
    trail: list[TrailEntry]
    preview: Preview | None = None


class DraftSummary(BaseModel):
    id: str
    msg_type: MsgType
    alert_id: str | None
    tier: Tier
    status: Status
    headline: str | None
    author: Actor
    approvals_needed: int
    approvals: int
    issued_alert_id: str | None
    updated_at: datetime


class DraftList(BaseModel):
    drafts: list[DraftSummary]
    limit: int
    truncated: bool = Field(description="true when more drafts exist than were listed (raise limit to see them)")
