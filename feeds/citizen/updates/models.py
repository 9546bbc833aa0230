"""What the status messages of one report keep: the confirmation of its contact and the last public status.

No contact here: the address or number stays in ``citizen_contacts`` (``feeds.citizen.contacts``); a row names
the report only. Times are UTC.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class Snapshot(BaseModel):
    """A report's public status as its reporter may know it (``GET /api/v1/reports/{id}/status``)."""

    model_config = ConfigDict(frozen=True)
    status: str = "received"     # received, under review, verified, dismissed, resolved
    reason: str | None = None    # a dismissal's public reason
    replies: int = 0             # how many public replies the coordinators wrote
    reply: str | None = None     # the latest one


class Updates(BaseModel):
    """The status-message state of one report. ``version`` counts the public status changes seen; ``sent_version``
    is the one whose message was queued; ``due_at`` when the next one may go (the rate bound; None: nothing due)."""

    report_id: str
    rev: int = 0                  # the row's revision (compare-and-set between the worker and the API)
    confirmed: bool = False
    code: str | None = None
    code_expires_at: datetime | None = None
    attempts: int = 0
    version: int = 0
    status: Snapshot = Field(default_factory=Snapshot)
    sent_version: int = 0
    sent_at: datetime | None = None
    due_at: datetime | None = None
    created_at: datetime


class ConfirmIn(BaseModel):
    """``POST /api/v1/reports/{id}/contact/confirm``."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=16, description="the code of the confirmation message")


class ConfirmedOut(BaseModel):
    id: str
    confirmed: bool


class StoppedOut(BaseModel):
    id: str
    stopped: bool
