"""``/open311/v2/``: Open311 GeoReport v2 (discovery, services, service definitions, requests, tokens) and
FixMyStreet's ``servicerequestupdates``, each as ``.json`` and ``.xml``.

Thin: parse, call ``feeds.open311.service``, shape the answer in the asked format. Every refusal of these
routes is written in the spec's error format, ``[{"code", "description"}]`` (``<errors><error>``), with the
spec's statuses: 400 for bad input (the description names the field), 403 for a bad ``api_key``, 404 for
what does not exist, and the house's 429 and 503 with ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from emergency.cop.views import allow_read
from emergency.errors import RateLimited, RequestRefused, StoreError
from emergency.events import utcnow
from emergency.http import RETRY_AFTER_S, client_address, describe_errors
from feeds.citizen.contacts import CONTACTS
from feeds.open311 import service
from feeds.open311.formats import to_json, to_xml
from feeds.open311.models import (
    CATALOGUE,
    MAX_DESCRIPTION,
    MAX_REQUESTS,
    MIME,
    Discovery,
    Error,
    Format,
    RequestCreated,
    RequestUpdate,
    ServiceDefinition,
    ServiceRequest,
    TokenAnswer,
)
from feeds.open311.models import Service as ServiceOut

OPEN311_STATUS = {422: 400}  # the spec answers bad input with 400


def _format_of(path: str) -> str:
    return "json" if path.endswith(".json") else "xml"  # XML is the spec's required format


def render(fmt: str, root: str, value: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """``value`` (the JSON form) in ``fmt``, with the spec's content type."""
    body = to_json(value) if fmt == "json" else to_xml(root, value)
    return Response(body, status_code=status, media_type=MIME[fmt], headers=headers)


def error_answer(fmt: str, status: int, description: str, headers: dict[str, str] | None = None) -> Response:
    """The spec's error document: one error, its code the HTTP status."""
    return render(fmt, "errors", [Error(code=status, description=description).model_dump()], status=status,
                  headers=headers)


class Open311Route(APIRoute):
    """A route whose every refusal is written in the spec's error format (and in the format asked for)."""

    declares_errors = True  # its documented error answers are its own (emergency/assembly/openapi.py)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            fmt = _format_of(request.url.path)
            try:
                return await handler(request)
            except RequestRefused as exc:
                status = OPEN311_STATUS.get(exc.status, exc.status)
                said = str(exc) + (f" (one of: {', '.join(exc.candidates)})" if exc.candidates else "")
                retry = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, RateLimited) else \
                    {"Retry-After": RETRY_AFTER_S} if status == 503 else None
                return error_answer(fmt, status, said, retry)
            except RequestValidationError as exc:
                return error_answer(fmt, 400, describe_errors(exc.errors()))
            except StoreError as exc:
                return error_answer(fmt, 503, str(exc), {"Retry-After": RETRY_AFTER_S})
            except HTTPException as exc:
                return error_answer(fmt, exc.status_code, str(exc.detail), exc.headers)

        return answer


XML_BODY = {"text/xml": {"schema": {"type": "string", "description": "the same document as XML (Spark convention)"}}}


def _doc(model: Any, *errors: int) -> dict[int | str, dict[str, Any]]:
    """The documented answers: ``model`` as JSON (and XML) and the spec's error document under each error status."""
    described = {400: "bad input: the description names the field", 403: "a bad api_key",
                 404: "what the path or a parameter names does not exist", 429: "too many requests: see Retry-After",
                 503: "a part this request needs is unavailable: see Retry-After"}
    out: dict[int | str, dict[str, Any]] = {200: {"model": model, "content": XML_BODY, "description": "the answer"}}
    for status in (400, *errors, 503):
        out[status] = {"model": list[Error], "content": XML_BODY, "description": described[status]}
    return out


router = APIRouter(prefix="/open311/v2", tags=["Open311 GeoReport v2"], route_class=Open311Route)

FORM_SCHEMA = {"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
    "type": "object", "required": ["service_code"],
    "properties": {
        "service_code": {"type": "string", "enum": [s.service_code for s, _ in CATALOGUE.values()]},
        "lat": {"type": "number", "minimum": -90, "maximum": 90, "description": "WGS 84 degrees (with long)"},
        "long": {"type": "number", "minimum": -180, "maximum": 180, "description": "WGS 84 degrees (with lat)"},
        "address_string": {"type": "string", "maxLength": 500, "description": "geocoded in the region when lat/long "
                                                                               "are absent"},
        "address_id": {"type": "string", "description": "refused: this server has no address register"},
        "description": {"type": "string", "maxLength": MAX_DESCRIPTION},
        "api_key": {"type": "string", "description": "a partner application's key (role partner); none: an "
                                                     "anonymous citizen report"},
        "jurisdiction_id": {"type": "string"},
        **{name: {"type": "string", "maxLength": limit, "description": "private: never shown publicly"}
           for name, limit in service.PRIVATE_FIELDS.items()},
        "media_url": {"type": "string", "format": "uri", "description": "private reference, never fetched"},
    },
    "additionalProperties": {"type": "string", "description": "attribute[CODE] answers (GET services/{code})"}}}}}}


def _runtime(request: Request) -> Any:
    return request.app.state.runtime


def _jurisdiction(request: Request) -> str:
    settings = _runtime(request).settings
    return service.jurisdiction_of(configured=settings.open311_jurisdiction_id, base_url=settings.public_base_url())


def _checked(request: Request, jurisdiction_id: str | None) -> None:
    service.check_jurisdiction(given=jurisdiction_id, ours=_jurisdiction(request))


JURISDICTION = Query(None, max_length=200, description="optional: this endpoint serves one jurisdiction")


@router.get("/discovery.{fmt}", responses=_doc(Discovery), response_class=Response)
async def get_discovery(request: Request, fmt: Format) -> Response:
    """Service Discovery: this endpoint, its formats and how to get an api_key."""
    found = service.discovery(base_url=_runtime(request).settings.public_base_url(), jurisdiction=_jurisdiction(request))
    return render(fmt, "discovery", found.model_dump())


@router.get("/services.{fmt}", responses=_doc(list[ServiceOut], 404), response_class=Response)
async def get_services(request: Request, fmt: Format, jurisdiction_id: str | None = JURISDICTION) -> Response:
    """The services: one per citizen report category (all ``realtime``)."""
    _checked(request, jurisdiction_id)
    return render(fmt, "services", [s.model_dump() for s in service.services()])


@router.get("/services/{service_code}.{fmt}", responses=_doc(ServiceDefinition, 404), response_class=Response)
async def get_service_definition(request: Request, fmt: Format, service_code: str = Path(max_length=64),
                                 jurisdiction_id: str | None = JURISDICTION) -> Response:
    """A service's questions (``attribute[CODE]`` of POST requests; every one is optional)."""
    _checked(request, jurisdiction_id)
    return render(fmt, "service_definition", service.service_definition(service_code=service_code).model_dump())


@router.post("/requests.{fmt}", responses=_doc(list[RequestCreated], 403, 404, 429), response_class=Response,
             openapi_extra=FORM_SCHEMA)
async def post_request(request: Request, fmt: Format,
                       idempotency_key: str | None = Header(None, alias="Idempotency-Key", max_length=128)) -> Response:
    """A service request: an anonymous citizen report, or a partner application's (``api_key``), journaled into
    raw.citizen like ``POST /api/v1/reports``; the answer carries its ``service_request_id`` and tracking link."""
    rt = _runtime(request)
    pairs = service.parse_form(body=await request.body(), content_type=request.headers.get("content-type"),
                               max_bytes=rt.settings.open311_max_body_bytes)
    partner = await service.partner_for(store=rt.store, api_key=service.form_value(pairs, "api_key"))
    _checked(request, service.form_value(pairs, "jurisdiction_id"))
    form = service.read_form(pairs)
    created = await service.create_request(
        intake=rt, limits=rt.intake_limits, form=form, partner=partner, address=client_address(request),
        idempotency_key=idempotency_key, base_url=rt.settings.public_base_url(), now=utcnow(),
        contacts=rt.store.repository(CONTACTS))
    return render(fmt, "service_requests", [created.model_dump()])


@router.get("/requests.{fmt}", responses=_doc(list[ServiceRequest], 404, 429), response_class=Response)
async def get_requests(request: Request, fmt: Format, jurisdiction_id: str | None = JURISDICTION,
                       service_request_id: str | None = Query(None, max_length=50_000,
                                                              description="comma-delimited; overrides the rest"),
                       service_code: str | None = Query(None, max_length=1000, description="comma-delimited"),
                       start_date: str | None = Query(None, max_length=64),
                       end_date: str | None = Query(None, max_length=64),
                       status: str | None = Query(None, max_length=64, description="open, closed (comma-delimited)"),
                       max_requests: int = Query(MAX_REQUESTS, ge=1, le=MAX_REQUESTS,
                                                 description="FixMyStreet's: at most this many, newest first")) -> Response:
    """Citizen reports (from every intake path) with their open/closed status; public fields only. Counted
    against the client's read budget of the picture (``max_requests`` items, 429 beyond it)."""
    _checked(request, jurisdiction_id)
    await allow_read(request, limit=max_requests, layer_max=MAX_REQUESTS, principal=None)
    codes = [s.service_code for s in service.services()]
    ids = service.split_list(service_request_id, field="service_request_id")
    since, until = service.time_range(start=start_date, end=end_date, now=utcnow())
    found = await service.find_requests(
        store=_runtime(request).store, ids=ids, codes=service.split_list(service_code, field="service_code",
                                                                         allowed=codes),
        statuses=service.split_list(status, field="status", allowed=["open", "closed"]), since=since, until=until,
        limit=max_requests)
    return render(fmt, "service_requests", [r.model_dump() for r in found])


@router.get("/requests/{service_request_id}.{fmt}", responses=_doc(list[ServiceRequest], 404),
            response_class=Response)
async def get_request(request: Request, fmt: Format, service_request_id: str = Path(max_length=400),
                      jurisdiction_id: str | None = JURISDICTION) -> Response:
    """One service request (a list of one, as the spec answers)."""
    _checked(request, jurisdiction_id)
    found = await service.one_request(store=_runtime(request).store, service_request_id=service_request_id)
    return render(fmt, "service_requests", [found.model_dump()])


@router.get("/tokens/{token}.{fmt}", responses=_doc(list[TokenAnswer], 404), response_class=Response)
async def get_token(request: Request, fmt: Format, token: str = Path(max_length=400), jurisdiction_id: str | None = JURISDICTION) -> Response:
    """The service_request_id of a token: every service here is realtime, so a request's id is its own token."""
    _checked(request, jurisdiction_id)
    found = await service.token_answer(store=_runtime(request).store, token=token)
    return render(fmt, "service_requests", [found.model_dump()])


@router.get("/servicerequestupdates.{fmt}", responses=_doc(list[RequestUpdate], 404, 429), response_class=Response)
async def get_updates(request: Request, fmt: Format, jurisdiction_id: str | None = JURISDICTION,
                      start_date: str | None = Query(None, max_length=64),
                      end_date: str | None = Query(None, max_length=64),
                      api_key: str | None = Query(None, max_length=512,
                                                  description="accepted and not needed: updates are public")) -> Response:
    """FixMyStreet's status updates: coordinators' changes of a request's public status in the range (counted
    against the client's read budget like GET requests)."""
    _checked(request, jurisdiction_id)
    await allow_read(request, limit=MAX_REQUESTS, layer_max=MAX_REQUESTS, principal=None)
    since, until = service.time_range(start=start_date, end=end_date, now=utcnow())
    found = await service.request_updates(store=_runtime(request).store, since=since, until=until)
    return render(fmt, "service_request_updates", [u.model_dump() for u in found])
