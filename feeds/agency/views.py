"""``/api/v1/agency/*``: agency operators submit, update and end their inputs, inside their
jurisdiction only. One POST and one DELETE per input kind (``feeds.agency.inputs.KINDS``), the
shelters' occupancy PATCH and the resource requests' fulfilments."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, File, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse

from emergency.auth.audit import AUDIT
from emergency.auth.deps import require
from emergency.auth.models import TokenRecord
from emergency.auth.tokens import Role
from emergency.events import utcnow
from emergency.layers import REGISTRY, ROAD_CLOSURES
from emergency.store.base import EventQuery
from emergency.store.leases import LEASES
from feeds.agency.flows import (
    BULK_KINDS,
    BulkResult,
    end_agency_input,
    fulfil_resource_request,
    submit_agency_input,
    submit_bulk,
    submit_road_closure,
    update_shelter_occupancy,
)
from feeds.agency.inputs import KINDS, InputKind
from feeds.agency.inputs.base import InputAccepted
from feeds.agency.inputs.damage import DAMAGE_REPORTS
from feeds.agency.inputs.resources import FulfilmentIn
from feeds.agency.inputs.shelters import OccupancyIn
from feeds.agency.models import ClosureAccepted, RoadClosureIn
from feeds.agency.wzdx import work_zone_feed
from feeds.photos.repository import PHOTOS
from feeds.photos.views import read_submission, submission_body

router = APIRouter(prefix="/api/v1/agency", tags=["agency inputs"])
public_router = APIRouter(tags=["common operating picture"])
BULK_PATH = "/api/v1/agency/bulk"  # its body limit is EMERGENCY_BULK_MAX_BYTES (emergency.http.BodyLimit)

REFERENCE = Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:\-]+$", description="the agency's reference")
OWNED = {403: {"description": "the reference names an item of another agency"},
         404: {"description": "the agency has no item with this reference"}}


@router.post("/road-closures", status_code=202, response_model=ClosureAccepted, responses={
    403: {"description": "the closure (or its detour) lies outside the agency's jurisdiction, or its reference "
                         "names a closure of another agency"},
    422: {"description": "a field is invalid, or a road name is not exact: `detail` names the field, "
                         "`candidates` lists the region's names it may mean"}})
async def post_road_closure(closure: RoadClosureIn, request: Request,
                            principal: TokenRecord = Depends(require(Role.agency))) -> ClosureAccepted:
    """Accept a road closure and echo what was understood; resubmitting the same ``reference`` updates it
    (status ``reopened`` ends it)."""
    runtime = request.app.state.runtime
    return await submit_road_closure(closure=closure, principal=principal, submitter=runtime,
                                     events=runtime.store, settings=runtime.settings,
                                     audit=runtime.store.repository(AUDIT))


@router.delete("/road-closures/{reference}", response_model=InputAccepted, responses=OWNED)
async def delete_road_closure(request: Request, reference: str = REFERENCE,
                              principal: TokenRecord = Depends(require(Role.agency))) -> InputAccepted:
    """Reopen the road: the closure leaves open maps (a ``remove`` on the change feed)."""
    runtime = request.app.state.runtime
    return await end_agency_input(kind=None, reference=reference, principal=principal, submitter=runtime,
                                  events=runtime.store, audit=runtime.store.repository(AUDIT),
                                  leases=runtime.store.repository(LEASES))


def _post(kind: InputKind):
    async def post(request: Request, item: Any = Body(),
                   principal: TokenRecord = Depends(require(Role.agency))) -> InputAccepted:
        runtime = request.app.state.runtime
        return await submit_agency_input(kind=kind, item=item, principal=principal, submitter=runtime,
                                         events=runtime.store, settings=runtime.settings,
                                         audit=runtime.store.repository(AUDIT),
                                         leases=runtime.store.repository(LEASES))

    post.__annotations__["item"] = kind.model
    post.__doc__ = (f"Accept a {kind.title} and echo what was understood; resubmitting the same ``reference`` "
                    "updates it.")
    post.__name__ = f"post_{kind.slug}"
    return post


def _delete(kind: InputKind):
    async def delete(request: Request, reference: str = REFERENCE,
                     principal: TokenRecord = Depends(require(Role.agency))) -> InputAccepted:
        runtime = request.app.state.runtime
        return await end_agency_input(kind=kind, reference=reference, principal=principal, submitter=runtime,
                                      events=runtime.store, audit=runtime.store.repository(AUDIT),
                                      leases=runtime.store.repository(LEASES))

    delete.__doc__ = f"End the agency's {kind.title} (status {kind.ended_status}): it leaves open maps."
    delete.__name__ = f"delete_{kind.slug}"
    return delete


def _post_with_photos(kind: InputKind):
    async def post(request: Request, principal: TokenRecord = Depends(require(Role.agency))) -> InputAccepted:
        runtime = request.app.state.runtime
        item, photos = await read_submission(request, model=kind.model, part="report", settings=runtime.settings)
        return await submit_agency_input(kind=kind, item=item, principal=principal, submitter=runtime,
                                         events=runtime.store, settings=runtime.settings,
                                         audit=runtime.store.repository(AUDIT),
                                         leases=runtime.store.repository(LEASES), photos=photos,
                                         photo_repository=runtime.store.repository(PHOTOS))

    post.__doc__ = (f"Accept a {kind.title} and echo what was understood; resubmitting the same ``reference`` "
                    "updates it. JSON, or ``multipart/form-data`` with the JSON in part ``report`` and up to 3 "
                    "``photo`` files (the citizen photo rules; coordinators see them at once, the public while the "
                    "item is on the map).")
    post.__name__ = f"post_{kind.slug}"
    return post


PHOTO_KINDS = frozenset({DAMAGE_REPORTS.path})  # agency inputs that carry photos (feeds/photos)
DAMAGE_PATH = f"/api/v1/agency/{DAMAGE_REPORTS.path}"  # its body limit makes room for photos

for _kind in KINDS.values():
    _photos = _kind.path in PHOTO_KINDS
    router.add_api_route(f"/{_kind.path}", _post_with_photos(_kind) if _photos else _post(_kind), methods=["POST"],
                         status_code=202, response_model=InputAccepted, summary=f"Submit a {_kind.title}",
                         openapi_extra=submission_body(_kind.model, part="report") if _photos else None, responses={
                             403: {"description": "the geometry lies outside the agency's jurisdiction, or the "
                                                  "reference names an item of another agency"},
                             422: {"description": "a field is invalid: `detail` names it"},
                             **({413: {"description": "the body, or a photo, is too large"},
                                 415: {"description": "a photo is not JPEG, PNG or WebP (HEIC is refused)"}}
                                if _photos else {})})
    router.add_api_route(f"/{_kind.path}/{{reference}}", _delete(_kind), methods=["DELETE"],
                         response_model=InputAccepted, summary=f"End a {_kind.title}", responses=OWNED)


@router.patch("/shelters/{reference}", response_model=InputAccepted, responses={
    **OWNED, 422: {"description": "occupancy above the capacity, or a bad field"}})
async def patch_shelter(update: OccupancyIn, request: Request, reference: str = REFERENCE,
                        principal: TokenRecord = Depends(require(Role.agency))) -> InputAccepted:
    """Update a shelter's occupancy (and status): the frequent, cheap update."""
    runtime = request.app.state.runtime
    return await update_shelter_occupancy(reference=reference, update=update, principal=principal,
                                          submitter=runtime, events=runtime.store, audit=runtime.store.repository(AUDIT),
                                          leases=runtime.store.repository(LEASES))


@router.post("/resource-requests/{request_id}/fulfilments", status_code=202, response_model=InputAccepted,
             responses={403: {"description": "the request is the agency's own"},
                        404: {"description": "no resource request with this id"},
                        409: {"description": "the request is fulfilled or cancelled"}})
async def post_fulfilment(fulfilment: FulfilmentIn, request: Request,
                          request_id: str = Path(min_length=1, max_length=256, description=(
                              "the request's id as the map shows it (agency:<agency_id>:resource:<reference>)")),
                          principal: TokenRecord = Depends(require(Role.agency))) -> InputAccepted:
    """Another agency delivers part or all of a resource request."""
    runtime = request.app.state.runtime
    return await fulfil_resource_request(request_id=request_id, fulfilment=fulfilment, principal=principal,
                                         submitter=runtime, events=runtime.store, audit=runtime.store.repository(AUDIT),
                                         leases=runtime.store.repository(LEASES))


@router.post("/bulk", status_code=202, response_model=BulkResult, responses={
    413: {"description": "the file is larger than EMERGENCY_BULK_MAX_BYTES"},
    422: {"description": "the file cannot be read (`detail` names `file`, `kind` or `crs`), or, with "
                         "all_or_nothing, some rows were refused: the body lists them and nothing was accepted"}})
async def post_bulk(request: Request, file: UploadFile = File(description=(
                        "GeoJSON, CSV (lat/lon or wkt columns), zipped Shapefile, GeoPackage or KML; any CRS")),
                    kind: str = Query(description=f"one of {', '.join(BULK_KINDS)}"),
                    all_or_nothing: bool = Query(False, description="refuse the whole file when any row is refused"),
                    crs: str | None = Query(None, max_length=100, description="a CSV's CRS (default WGS 84)"),
                    principal: TokenRecord = Depends(require(Role.agency))) -> BulkResult | JSONResponse:
    """Submit many items of one kind from a file; the answer has one entry per row (its id, or the field
    and reason it was refused). A re-upload of the same references updates them."""
    runtime = request.app.state.runtime
    result = await submit_bulk(kind_path=kind, data=await file.read(), principal=principal, submitter=runtime,
                               events=runtime.store, settings=runtime.settings, all_or_nothing=all_or_nothing,
                               crs=crs, audit=runtime.store.repository(AUDIT))
    if not result.committed:
        return JSONResponse({"detail": f"file: {result.rejected} of {result.rows} rows refused; with all_or_nothing "
                                       "nothing was accepted", **result.model_dump(mode="json")}, status_code=422)
    return result


@public_router.get("/api/v1/road-closures/wzdx.geojson", response_model=None, response_class=JSONResponse, responses={
    200: {"content": {"application/geo+json": {}}, "description": "WZDx v4.2 WorkZoneFeed (GeoJSON, WGS 84)"}})
async def get_wzdx(request: Request) -> JSONResponse:
    """The active and planned road closures as a WZDx v4.2 WorkZoneFeed (GeoJSON, WGS 84; CC0)."""
    runtime = request.app.state.runtime
    now = utcnow()
    closures = await runtime.store.query_events(EventQuery(layers=(ROAD_CLOSURES,), active_at=now,
                                                           limit=REGISTRY[ROAD_CLOSURES].max_limit))
    return JSONResponse(work_zone_feed(closures=closures, now=now), media_type="application/geo+json")
