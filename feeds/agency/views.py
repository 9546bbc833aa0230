"""``POST /api/v1/agency/road-closures``: agency operators, inside their jurisdiction only."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, HTTPException, Request

from emergency.auth.deps import require
from emergency.auth.models import TokenRecord
from emergency.auth.tokens import Role
from emergency.errors import ConfigError
from emergency.events import new_id, utcnow
from emergency.stream.topics import RAW_AGENCY
from feeds.agency.models import RoadClosureIn
from feeds.agency.service import agency_slug, closure_event, within_jurisdiction
from feeds.intake import AcceptedOut
from mapping.regions import load_region
from mapping.snap import SnapError, snap_between, snap_line

router = APIRouter(prefix="/api/v1/agency", tags=["agency inputs"])


@router.post("/road-closures", status_code=202, response_model=AcceptedOut)
async def submit_road_closure(closure: RoadClosureIn, request: Request,
                              principal: TokenRecord = Depends(require(Role.agency))) -> AcceptedOut:
    """Accept a road closure; resubmitting the same ``reference`` updates it."""
    agency = principal.agency or principal.name
    closure = await asyncio.to_thread(snapped, closure, request.app.state.runtime.settings.region_dir)
    if not within_jurisdiction(closure.geometry, principal.jurisdiction):
        raise HTTPException(403, f"geometry: lies outside the jurisdiction of {agency}")
    if closure.reference:
        event_id = f"agency:{agency_slug(agency)}:{closure.reference}"
    else:
        event_id = new_id("agency")
    event = closure_event(closure, event_id=event_id, agency=agency, now=utcnow())
    accepted = await request.app.state.runtime.submit(
        event, RAW_AGENCY, on_conflict="append" if closure.reference else "keep")
    return AcceptedOut(id=accepted.event_id, duplicate=not accepted.created)


def snapped(closure: RoadClosureIn, region_dir) -> RoadClosureIn:
    """The closure with its geometry on the region's roads (road + cross streets, or ``snap``);
    422 naming the part that failed, with close matches."""
    if closure.road is None and not closure.snap:
        return closure
    try:
        region = load_region(region_dir)
    except ConfigError as exc:
        raise HTTPException(503, f"road: snapping is unavailable: {exc}") from None
    try:
        if closure.road is not None:
            result = snap_between(region, closure.road, closure.from_, closure.to)
            name = result.names[0]
        else:
            result = snap_line(region, closure.geometry)
            name = closure.road_name or " / ".join(result.names)
    except SnapError as exc:
        raise HTTPException(422, str(exc)) from None
    return closure.model_copy(update={"geometry": result.geometry, "road_name": name})
