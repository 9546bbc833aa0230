"""External feeds API: the health of every feed (public: no URLs, no secrets) and the admin's feed list.

``GET /api/v1/feeds`` -> ``{"feeds": [{name, origin, format, last_poll, last_change, items, errors,
last_error, unlocated, next_poll}]}``; ``GET /api/v1/admin/feeds`` (admin) -> the feeds with their URLs;
``POST /api/v1/admin/feeds`` (admin) with ``FeedIn`` -> 201 the feed; ``DELETE /api/v1/admin/feeds/{name}``
(admin) -> 204.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from emergency.auth.deps import require
from emergency.auth.models import TokenRecord
from emergency.auth.tokens import Role
from feeds.external.models import FeedHealth, FeedIn, FeedOut
from feeds.external.service import add_feed, all_feeds, health, remove_feed

router = APIRouter(tags=["feeds"])
admin = require(Role.admin)


class HealthOut(BaseModel):
    feeds: list[FeedHealth]


class FeedsOut(BaseModel):
    feeds: list[FeedOut]


def _out(feed) -> FeedOut:
    return FeedOut(name=feed.name, url=feed.url, interval_s=feed.interval_s, origin=feed.origin,
                   created_by=feed.created_by)


@router.get("/api/v1/feeds", response_model=HealthOut)
async def get_health(request: Request) -> HealthOut:
    """Each external feed's health: last poll, last change, items listed now, errors (with the last one)."""
    rt = request.app.state.runtime
    return HealthOut(feeds=await health(store=rt.store, settings=rt.settings))


@router.get("/api/v1/admin/feeds", response_model=FeedsOut)
async def list_feeds(request: Request, _: TokenRecord = Depends(admin)) -> FeedsOut:
    """Every feed polled: from EMERGENCY_FEEDS (origin ``setting``) and added here (origin ``admin``)."""
    rt = request.app.state.runtime
    return FeedsOut(feeds=[_out(f) for f in await all_feeds(store=rt.store, settings=rt.settings)])


@router.post("/api/v1/admin/feeds", response_model=FeedOut, status_code=201)
async def post_feed(body: FeedIn, request: Request, who: TokenRecord = Depends(admin)) -> FeedOut:
    """Add a feed (its URL must pass the outbound-URL guard); the poller picks it up within seconds."""
    rt = request.app.state.runtime
    return _out(await add_feed(store=rt.store, settings=rt.settings, body=body, created_by=who.name))


@router.delete("/api/v1/admin/feeds/{name}", status_code=204)
async def delete_feed(name: str, request: Request, _: TokenRecord = Depends(admin)) -> Response:
    """Stop polling a feed added through the API; every item it listed is ended (removed from open maps)."""
    rt = request.app.state.runtime
    await remove_feed(store=rt.store, settings=rt.settings, submitter=rt, name=name)
    return Response(status_code=204)
