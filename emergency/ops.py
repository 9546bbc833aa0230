"""Operations endpoints: liveness, readiness (broker and store reachable), Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """200 when the store and the broker answer, 503 naming what does not."""
    checks = await request.app.state.runtime.ready()
    ok = all(checks.values())
    return JSONResponse({"status": "ready" if ok else "not ready", "checks": checks}, status_code=200 if ok else 503)


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request) -> PlainTextResponse:
    """Prometheus text format (0.0.4)."""
    runtime = request.app.state.runtime
    counts = await runtime.store.journal_counts()
    runtime.metrics.outbox_pending.set(counts.total - counts.applied)
    return PlainTextResponse(runtime.metrics.render(), media_type="text/plain; version=0.0.4")
