"""HTTP edge: body size and time limits, a missing token answered before the body, error bodies that name the
field, and status metrics."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import fastapi.routing
from fastapi import FastAPI, HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emergency.errors import RateLimited, RequestRefused, StoreError
from emergency.metrics import Registry

RETRY_AFTER_S = "5"  # seconds a client waits before sending again what got a 503 (store or broker unavailable)


URL_LOGGERS = ("httpx", "httpcore")  # at INFO they log each request's whole URL


def keep_urls_out_of_logs() -> None:
    """Hold httpx's and httpcore's loggers at WARNING whatever the root level: their INFO line of every request
    carries its full URL, and outbound URLs carry personal data and secrets (Kannel's ``sendsms`` query holds the
    phone number, the text and the gateway password; webhook and feed URLs may hold tokens)."""
    for name in URL_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)


def client_address(request: Request) -> str:
    """The peer address rate limits count a request under (the ASGI server's view; see emergency/ratelimit.py)."""
    return request.client.host if request.client else "unknown"


def describe_errors(errors: list[dict[str, Any]]) -> str:
    """One readable line per validation error: ``field: reason``."""
    lines = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "header", "path")]
        field = ".".join(loc) or "body"
        msg = err.get("msg", "invalid")
        if err.get("type") == "json_invalid":
            where = err.get("loc", ())[1:2]
            at = f" at character {where[0]}" if where and isinstance(where[0], int) else ""
            field, msg = "body", f"malformed JSON{at}: {err.get('ctx', {}).get('error', msg)}"
        lines.append(f"{field}: {msg}")
    return "; ".join(lines)


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """A validation error's list as the 422 shows it: JSON-safe, never echoing what was sent."""
    errors = json.loads(json.dumps(exc.errors(), default=str))
    for e in errors:
        e.pop("input", None)  # never echo what was sent (it may be large or personal)
    return errors


def install_error_handlers(app: FastAPI) -> None:
    """4xx bodies always carry ``detail`` (a readable ``field: reason`` string), for validation ``errors``, and
    for a refused input with close matches ``candidates``. Domain errors (:class:`RequestRefused`) map here only."""

    @app.exception_handler(RequestRefused)
    async def _refused(request: Request, exc: RequestRefused) -> JSONResponse:
        body: dict[str, Any] = {"detail": str(exc)}
        if exc.candidates:
            body["candidates"] = list(exc.candidates)
        retry = {"Retry-After": RETRY_AFTER_S} if exc.status == 503 else None
        if isinstance(exc, RateLimited):
            retry = {"Retry-After": str(exc.retry_after_s)}
        return JSONResponse(body, status_code=exc.status, headers=retry)

    @app.exception_handler(StoreError)  # the store cannot be reached (nothing was journaled): send it again
    async def _store_unreachable(request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": RETRY_AFTER_S})

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(exc)
        return JSONResponse({"detail": describe_errors(errors), "errors": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


class BodyLimit:
    """ASGI middleware: 413 for request bodies larger than ``limit`` bytes (declared or streamed), 408
    (with ``Connection: close``) for a body not received in full within ``timeout_s`` of the request's start,
    and 422 naming ``body`` for a JSON body that is not UTF-8. ``larger`` gives paths (exact) a limit of
    their own (a file upload)."""

    def __init__(self, app: ASGIApp, limit: int, timeout_s: float | None = None,
                 larger: dict[str, int] | None = None) -> None:
        self.app, self.default_limit, self.timeout_s = app, limit, timeout_s
        self.larger = larger or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope.get("path", ""), self.default_limit)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(send, int(declared), limit)
            return
        seen, complete = 0, False
        content_type = dict(scope.get("headers") or []).get(b"content-type", b"")
        chunks: list[bytes] | None = [] if b"json" in content_type.lower() else None  # kept to check UTF-8
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s if self.timeout_s is not None else None

        async def limited_receive() -> Message:
            nonlocal seen, complete
            if complete or deadline is None:  # after the body: waiting for a disconnect is not bounded
                message = await receive()
            else:
                try:
                    message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
                except TimeoutError:
                    raise HTTPException(408, f"body: not received in full within {self.timeout_s:g} s "
                                             f"({seen} bytes came)", headers={"Connection": "close"}) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if seen > limit:
                    raise HTTPException(413, f"body: request body is {seen} bytes or more; the limit is {limit} bytes")
                if chunks is not None:
                    chunks.append(message.get("body", b""))
                    if complete:
                        _check_utf8(b"".join(chunks))
            return message

        await self.app(scope, limited_receive, send)


def _check_utf8(body: bytes) -> None:
    """A JSON body is UTF-8 (RFC 8259); else 422 naming ``body`` and the byte where decoding failed."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(422, f"body: JSON must be UTF-8; byte {exc.start} ({body[exc.start]:#04x}) is not "
                                 f"({exc.reason})") from None


async def _too_large(send: Send, size: int, limit: int) -> None:
    await _answer(send, 413, f"body: request body is {size} bytes or more; the limit is {limit} bytes")


async def _answer(send: Send, status: int, detail: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    body = json.dumps({"detail": detail}, separators=(",", ":")).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


def _needs(dependant: Dependant, call: Callable[..., Any]) -> bool:
    """Whether ``call`` is among the dependencies of ``dependant`` (at any depth)."""
    return any(dep.call is call or _needs(dep, call) for dep in dependant.dependencies)


class AuthFirst:
    """ASGI middleware: a request without an ``Authorization`` header to a route that depends on ``required``
    (the dependency demanding a token) gets 401 with ``detail`` before its body is read, so a missing token is
    answered as such whatever the body holds."""

    def __init__(self, app: ASGIApp, required: Callable[..., Any], detail: str) -> None:
        self.app, self.required, self.detail = app, required, detail
        self._routes: list[tuple[BaseRoute, bool]] | None = None  # every route, in order, and whether it needs a token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and b"authorization" not in dict(scope.get("headers") or []) \
                and self._route_requires(scope):
            await _answer(send, 401, self.detail, ((b"www-authenticate", b"Bearer"),))
            return
        await self.app(scope, receive, send)

    def _route_requires(self, scope: Scope) -> bool:
        if self._routes is None:
            routes = _flat_routes(getattr(scope.get("app"), "routes", []))
            self._routes = [(r, isinstance(r, APIRoute) and _needs(r.dependant, self.required)) for r in routes]
        for route, needs in self._routes:
            if route.matches(scope)[0] is Match.FULL:
                return needs
        return False


def _flat_routes(routes: list[BaseRoute]) -> list[BaseRoute]:
    """The app's routes as it matches them, included routers flattened (FastAPI >= 0.13x nests them)."""
    contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    return [c.route for c in contexts(routes)] if contexts is not None else list(routes)


class StatusMetrics:
    """ASGI middleware counting responses by method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: Registry) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = scope.get("route")
                path = getattr(route, "path", None) or "unmatched"
                self.metrics.http_responses.inc(method=scope["method"], route=path, status=str(message["status"]))
            await send(message)

        await self.app(scope, receive, counting_send)
