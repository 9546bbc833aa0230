"""The OpenAPI document says what the error answers really are.

Every error answer of the API has one body (``emergency/http.py`` writes it): ``{"detail": str,
"errors"?: [...], "candidates"?: [str]}``. FastAPI's default document said every 422 was
``{"detail": [ValidationError]}`` (a list; ours is a string) and said nothing of 400, 401, 403,
404, 413, 429 or 503. :func:`install_openapi` replaces the generated document's error answers, for
every operation, by :class:`ErrorBody` under each status the operation can answer:

- 422 when the operation takes parameters or a body (validation, and the domain's ``ValidationFailed``);
- 400 and 413 when it takes a body (unparseable body, body over ``EMERGENCY_MAX_BODY_BYTES``);
- 401 when it needs a bearer token, 403 when it needs a role (``emergency.auth.deps``);
- 404 when its path names something (a path parameter);
- 429 and 503 for every ``/api/`` operation (rate limits; a part it needs, such as the store, unavailable);
- any other status a route declares itself in ``responses=`` (409, a 404 without a path parameter...):
  its description is kept, its body becomes :class:`ErrorBody`.

Non-error statuses, and error statuses a route documents with its own body (``/readyz``'s 503),
are left as the route declares them; so is every answer of a route that writes its own error format
(``declares_errors``: Open311's ``[{code, description}]``, ``feeds/open311/views.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, Field

from emergency.auth.deps import current_principal

ERROR_SCHEMA = "ErrorBody"
REF = f"#/components/schemas/{ERROR_SCHEMA}"


class ErrorBody(BaseModel):
    """The body of every 4xx and 5xx answer of the API."""

    detail: str = Field(description="what was wrong, as `field: reason` (several joined by `; `)")
    errors: list[dict[str, Any]] | None = Field(
        None, description="validation errors one by one (`loc`, `msg`, `type`, `ctx`); never the input sent")
    candidates: list[str] | None = Field(None, description="acceptable values close to the one refused")


DESCRIPTIONS = {
    400: "the body cannot be parsed: `detail` says why",
    401: "no bearer token, or an unknown or revoked one (`WWW-Authenticate: Bearer`)",
    403: "the token lacks the role, or the input lies outside what the token may act on: `detail` names the field",
    404: "what the path names does not exist: `detail` names it",
    409: "the request conflicts with the current state: `detail` names the field",
    413: "the body is larger than the limit",
    422: "a field is invalid: `detail` names it and says why (`candidates` lists close acceptable values)",
    429: "too many requests from this client: retry after `Retry-After` seconds",
    503: "a part this request needs is unavailable right now: retry after `Retry-After` seconds",
}


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _dependencies(sub)


def statuses_of(route: APIRoute, path: str) -> set[int]:
    """The error statuses ``route`` (served at ``path``) can answer, from its inputs and dependencies."""
    dependant = route.dependant
    params = dependant.path_params or dependant.query_params or dependant.header_params or dependant.cookie_params
    body = route.body_field is not None
    found = set()
    if params or body:
        found.add(422)
    if body:
        found |= {400, 413}
    calls = [d.call for d in _dependencies(dependant)]
    if current_principal in calls:
        found.add(401)
        if any(getattr(call, "required_roles", None) for call in calls):
            found.add(403)
    if dependant.path_params:
        found.add(404)
    if path.startswith("/api/"):
        found |= {429, 503}
    return found


def _error_response(status: int, declared: dict[str, Any] | None) -> dict[str, Any]:
    description = (declared or {}).get("description")
    if not description or description == HTTPStatus(status).phrase or description == "Validation Error":
        description = DESCRIPTIONS.get(status, HTTPStatus(status).phrase)
    return {"description": description, "content": {"application/json": {"schema": {"$ref": REF}}}}


def _has_own_body(declared: dict[str, Any] | None) -> bool:
    schema = ((declared or {}).get("content") or {}).get("application/json", {}).get("schema")
    return bool(schema) and schema.get("$ref") not in (REF, "#/components/schemas/HTTPValidationError")


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document with every operation's error answers set to :class:`ErrorBody`."""
    schema = get_openapi(title=app.title, version=app.version, openapi_version=app.openapi_version,
                         description=app.description, routes=app.routes)
    for context in iter_route_contexts(app.routes):
        route, path = context.original_route, context.path
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods:
            operation = schema["paths"].get(path, {}).get(method.lower())
            if operation is None:
                continue
            if getattr(route, "declares_errors", False):  # writes and documents its own error format (no 422)
                operation.get("responses", {}).pop("422", None)
                continue
            responses = operation.setdefault("responses", {})
            declared = {int(code) for code in responses if code.isdigit() and int(code) >= 400}
            for status in sorted(statuses_of(route, path) | declared):
                current = responses.get(str(status))
                if not _has_own_body(current):
                    responses[str(status)] = _error_response(status, current)
            operation["responses"] = dict(sorted(responses.items()))
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    components[ERROR_SCHEMA] = ErrorBody.model_json_schema()
    return schema


def install_openapi(app: FastAPI) -> None:
    """Serve :func:`build_openapi` at ``/openapi.json`` (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
