"""Failed journal rows, for operators: list them and re-play them after a fix.

A journal row is *failed* when a processor gave up on its message (dead-lettered it after
``EMERGENCY_APPLY_RETRIES`` more tries, or refused it for good); the relay does not publish it
again until it is retried. ``GET /api/v1/admin/journal/failed`` and ``emergency journal failed``
list them; ``POST /api/v1/admin/journal/retry`` and ``emergency journal retry [SEQ ...]`` clear
the failure so the relay publishes them again (the server's relay picks them up within a
quarter of a second).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from emergency.auth.deps import require
from emergency.auth.models import TokenRecord
from emergency.auth.tokens import Role
from emergency.config import Settings
from emergency.errors import NotFound
from emergency.store.base import OutboxRow, Store

router = APIRouter(prefix="/api/v1/admin/journal", tags=["admin"])


def failed_view(row: OutboxRow) -> dict[str, Any]:
    """What an operator sees of a failed row (no payload: it may hold a reporter's contact)."""
    return {"seq": row.seq, "event_id": row.event_id, "topic": row.topic,
            "published_at": row.published_at.isoformat() if row.published_at else None,
            "failed_at": row.failed_at.isoformat() if row.failed_at else None, "failure": row.failure}


async def check_failed(*, store: Store, seqs: list[int]) -> None:
    """Refuse (404 ``seqs``) sequence numbers that are not failed journal rows."""
    failed = {r.seq for r in await store.failed_rows(limit=1_000_000)}
    missing = sorted(set(seqs) - failed)
    if missing:
        raise NotFound("seqs", f"not failed journal rows: {', '.join(map(str, missing[:20]))}")


class RetryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seqs: list[int] | None = Field(None, max_length=10_000,
                                   description="journal sequence numbers to retry; omitted: every failed row")


@router.get("/failed")
async def failed(request: Request, limit: int = Query(1000, ge=1, le=10_000),
                 _: TokenRecord = Depends(require(Role.admin))) -> dict[str, Any]:
    """Journal rows a processor gave up on (dead-lettered), oldest first, with the reason."""
    runtime = request.app.state.runtime
    rows = await runtime.store.failed_rows(limit=limit)
    return {"failed": [failed_view(r) for r in rows], "count": await runtime.journal_failed()}


@router.post("/retry", responses={404: {"description": "a seq is not a failed journal row: `detail` lists them"}})
async def retry(request: Request, body: RetryIn | None = None,
                _: TokenRecord = Depends(require(Role.admin))) -> dict[str, Any]:
    """Clear the failure of these rows (all failed rows without ``seqs``) so they are published again."""
    runtime = request.app.state.runtime
    seqs = body.seqs if body is not None else None
    if seqs:
        await check_failed(store=runtime.store, seqs=seqs)
    return {"retried": await runtime.retry_failed(seqs)}


def register(sub: argparse._SubParsersAction) -> None:
    """``emergency journal failed`` and ``emergency journal retry [SEQ ...]``."""
    j = sub.add_parser("journal", help="journal rows a processor gave up on: list them, re-play them after a fix")
    js = j.add_subparsers(dest="journal_command", required=True, metavar="JOURNAL_COMMAND")
    f = js.add_parser("failed", help="list failed journal rows (dead-lettered, not republished), oldest first")
    f.add_argument("--limit", type=int, default=1000)
    f.add_argument("--json", action="store_true", help="one JSON object per row")
    f.set_defaults(run=lambda settings, args: asyncio.run(_failed(settings, args)))
    r = js.add_parser("retry", help="clear the failure of these rows (all failed rows without SEQ) so a running "
                      "server's relay publishes them again")
    r.add_argument("seqs", nargs="*", type=int, metavar="SEQ")
    r.set_defaults(run=lambda settings, args: asyncio.run(_retry(settings, args)))


async def _failed(settings: Settings, args: argparse.Namespace) -> int:
    from emergency.store import open_store

    store = await open_store(settings.resolved_store_url())
    try:
        rows = await store.failed_rows(limit=args.limit)
    finally:
        await store.close()
    for row in rows:
        view = failed_view(row)
        print(json.dumps(view) if args.json else f"{row.seq}\t{row.event_id}\t{row.topic}\t{view['failed_at']}\t"
              f"{row.failure}")
    print(f"emergency: {len(rows)} failed journal row(s)", file=sys.stderr)
    return 0


async def _retry(settings: Settings, args: argparse.Namespace) -> int:
    from emergency.store import open_store

    store = await open_store(settings.resolved_store_url())
    try:
        if args.seqs:
            await check_failed(store=store, seqs=args.seqs)
        retried = await store.retry_failed(args.seqs or None)
    except NotFound as exc:
        print(f"emergency: error: {exc}", file=sys.stderr)
        return 2
    finally:
        await store.close()
    print(" ".join(map(str, retried)))
    print(f"emergency: {len(retried)} journal row(s) queued for publication again", file=sys.stderr)
    return 0
