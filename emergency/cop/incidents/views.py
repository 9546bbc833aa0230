"""Incidents: coordinators' actions, one incident with its reports and audit trail, a report's public status.

The list of incidents and its files are the registry's layer routes (``GET /api/v1/incidents``,
``/api/v1/incidents.csv|.geojson|.kml``, ``emergency/cop/views.py``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Request

from emergency.auth.deps import optional_principal, require
from emergency.auth.models import TokenRecord
from emergency.auth.tokens import Role
from emergency.cop.incidents.models import ActionIn, ActionName
from emergency.cop.incidents.service import act, incident_detail, report_status
from emergency.cop.reads import FULL_READ_ROLES

router = APIRouter(tags=["incidents"])
ID_MAX = 400  # longer than any id the system makes


def _id() -> object:
    return Path(max_length=ID_MAX, description="an id as in a feature's `id`")


@router.post("/api/v1/incidents/{incident_id}/{action}", status_code=202, responses={
    404: {"description": "no such incident (or merge target): `detail` names `incident_id` or `target`"},
    409: {"description": "another coordinator holds the review lock (named in `detail`), or the incident was "
                         "merged into another"},
    422: {"description": "merge into itself, split of reports not in the incident, a missing reason/text"}})
async def post_action(request: Request, action: ActionName, incident_id: str = _id(), body: ActionIn | None = None,
                      principal: TokenRecord = Depends(require(Role.coordinator))) -> dict[str, Any]:
    """Take an action on an incident (journaled, applied by the correlator; the answer echoes what was understood).

    verify; dismiss (``reason``, optional ``public_reason`` shown to reporters); resolve; reopen; merge (``target``);
    split (``reports``: moved to a new incident); note (``text``, internal); reply (``text``, public: shown to the
    reporters on their tracking page); claim / release the review lock (15 min).
    """
    runtime = request.app.state.runtime
    return await act(journal=runtime, store=runtime.store, incident_id=incident_id, action=action,
                     body=body or ActionIn(), principal=principal)


@router.get("/api/v1/incidents/{incident_id}")
async def get_incident(request: Request, incident_id: str = _id(),
                       principal: TokenRecord | None = Depends(optional_principal)) -> dict[str, Any]:
    """One incident as a GeoJSON Feature (WGS 84) with ``reports`` (their public features) and ``audit`` (who acted
    is named only to coordinators and admins; everyone sees the role, time, action and reason)."""
    names = principal is not None and bool(FULL_READ_ROLES & set(principal.roles))
    return await incident_detail(store=request.app.state.runtime.store, incident_id=incident_id, names=names)


@router.get("/api/v1/reports/{report_id}/status")
async def get_report_status(request: Request, report_id: str = _id()) -> dict[str, Any]:
    """The public status of a report for its reporter: ``received``, ``under review``, ``verified``, ``dismissed``
    (with the coordinator's public reason) or ``resolved``, and its incident id. No text, place or personal data."""
    return await report_status(store=request.app.state.runtime.store, report_id=report_id)
