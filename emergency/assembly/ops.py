"""Operations endpoints: liveness, readiness (broker and store reachable), Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel

from emergency.metrics import Registry

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


class ReadyOut(BaseModel):
    """The readiness answer (200 ready, 503 not ready)."""

    status: str
    checks: dict[str, bool]
    failed: int
    degraded: bool
    channels: dict[str, str] = {}  # alert delivery channel type -> "on" or why it is off (none without delivery)


@router.get("/readyz", response_model=ReadyOut, responses={
    503: {"model": ReadyOut, "description": "not ready: `checks` names the part that does not answer"}})
async def readyz(request: Request) -> JSONResponse:
    """200 when the store and the broker answer, 503 naming what does not.

    ``failed`` counts journal rows a processor gave up on (dead-lettered; ``GET
    /api/v1/admin/journal/failed``); any makes ``degraded`` true but the process stays ready,
    because the stream flows past them and taking the process out of service would stop intake.
    ``channels`` lists the alert delivery channels of this process: "on", or why each is off.
    """
    runtime = request.app.state.runtime
    checks = await runtime.ready()
    failed = await runtime.journal_failed()
    ok = all(checks.values())
    channels = {c.value: "on" for c in (runtime.channels or {})} | dict(runtime.channels_off)
    return JSONResponse({"status": "ready" if ok else "not ready", "checks": checks, "failed": failed,
                         "degraded": bool(failed), "channels": channels}, status_code=200 if ok else 503)


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request) -> PlainTextResponse:
    """Prometheus text format (0.0.4); ``emergency_broker_consumer_lag`` is read from the broker at each scrape."""
    runtime = request.app.state.runtime
    counts = await runtime.store.journal_counts()
    runtime.metrics.outbox_pending.set(counts.total - counts.applied)
    runtime.metrics.journal_failed.set(counts.failed)
    await runtime.broker_lag()
    _social_streams(runtime.metrics, [runner.status() for runner in runtime.social_runners])
    return PlainTextResponse(runtime.metrics.render(), media_type="text/plain; version=0.0.4")


def _social_streams(m: Registry, statuses: list[dict[str, Any]]) -> None:
    """Copy the stream runners' own counts (``StreamRunner.status``) into the registry."""
    for st in statuses:
        stream = f"{st['network']} {st['url']}"
        m.social_posts.set(st["posts"], stream=stream)
        m.social_reconnects.set(st["reconnects"], stream=stream)
        m.social_attempts.set(st["attempts"], stream=stream)
        m.social_clusters.set(st["live_clusters"], stream=stream)
        m.social_journaled.set(st["journal"].get("journaled", 0) + st["journal"].get("updated", 0), stream=stream)
        for reason, n in st["skipped"].items():
            m.social_skipped.set(n, stream=stream, reason=reason)
        for outcome, n in st["outcomes"].items():
            m.social_decisions.set(n, stream=stream, outcome=outcome)
