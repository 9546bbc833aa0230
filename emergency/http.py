"""HTTP edge: body size limit, error bodies that name the field, and status metrics."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emergency.errors import RequestRefused, StoreError
from emergency.metrics import Registry

RETRY_AFTER_S = "5"  # seconds a client waits before sending again what got a 503 (store or broker unavailable)


def describe_errors(errors: list[dict[str, Any]]) -> str:
    """One readable line per validation error: ``field: reason``."""
    lines = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "header", "path")]
        field = ".".join(loc) or "body"
        msg = err.get("msg", "invalid")
        if err.get("type") == "json_invalid":
            field, msg = "body", f"malformed JSON: {err.get('ctx', {}).get('error', msg)}"
        lines.append(f"{field}: {msg}")
    return "; ".join(lines)


def install_error_handlers(app: FastAPI) -> None:
    """4xx bodies always carry ``detail`` (a readable ``field: reason`` string), for validation ``errors``, and
    for a refused input with close matches ``candidates``. Domain errors (:class:`RequestRefused`) map here only."""

    @app.exception_handler(RequestRefused)
    async def _refused(request: Request, exc: RequestRefused) -> JSONResponse:
        body: dict[str, Any] = {"detail": str(exc)}
        if exc.candidates:
            body["candidates"] = list(exc.candidates)
        retry = {"Retry-After": RETRY_AFTER_S} if exc.status == 503 else None
        return JSONResponse(body, status_code=exc.status, headers=retry)

    @app.exception_handler(StoreError)  # the store cannot be reached (nothing was journaled): send it again
    async def _store_unreachable(request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": RETRY_AFTER_S})

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = json.loads(json.dumps(exc.errors(), default=str))
        for e in errors:
            e.pop("input", None)  # never echo what was sent (it may be large or personal)
        return JSONResponse({"detail": describe_errors(errors), "errors": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


class BodyLimit:
    """ASGI middleware: 413 for request bodies larger than ``limit`` bytes (declared or streamed)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _too_large(send, int(declared), self.limit)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise HTTPException(413, f"body: request body is {seen} bytes or more; the limit is {self.limit} bytes")
            return message

        await self.app(scope, limited_receive, send)


async def _too_large(send: Send, size: int, limit: int) -> None:
    body = json.dumps({"detail": f"body: request body is {size} bytes or more; the limit is {limit} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


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
