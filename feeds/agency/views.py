"""``POST /api/v1/agency/road-closures``: agency operators, inside their jurisdiction only."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from emergency.auth.deps import require
from emergency.auth.models import TokenRecord
from emergency.auth.tokens import Role
from feeds.agency.flows import submit_road_closure
from feeds.agency.models import ClosureAccepted, RoadClosureIn

router = APIRouter(prefix="/api/v1/agency", tags=["agency inputs"])


@router.post("/road-closures", status_code=202, response_model=ClosureAccepted, responses={
    403: {"description": "the closure lies outside the agency's jurisdiction, or its reference names a "
                         "closure of another agency"},
    422: {"description": "a field is invalid, or a road name is not exact: `detail` names the field, "
                         "`candidates` lists the region's names it may mean"}})
async def post_road_closure(closure: RoadClosureIn, request: Request,
                            principal: TokenRecord = Depends(require(Role.agency))) -> ClosureAccepted:
    """Accept a road closure and echo what was understood; resubmitting the same ``reference`` updates it."""
    runtime = request.app.state.runtime
    return await submit_road_closure(closure=closure, principal=principal, submitter=runtime,
                                     events=runtime.store, settings=runtime.settings)
