"""Social API: the filter rules (coordinator or admin) and a webhook for external collectors
(role ``collector``, which may do nothing else, or coordinator or admin).

``GET /api/v1/social/rules`` -> ``{"version", "rules", "terms"}``;
``PUT /api/v1/social/rules`` with a ``Rules`` body -> the same, applied to the next post;
``GET /api/v1/social/streams``: the in-process stream runners and their counts.
``POST /api/v1/social/posts`` with ``{"posts": [Post, ...]}`` -> one decision per post; kept
posts are journaled to raw.social as clusters.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from emergency.auth.deps import require
from emergency.auth.models import TokenRecord
from emergency.auth.tokens import Role
from feeds.social.models import Post
from feeds.social.rules import Rules
from feeds.social.service import live_social, save_rules

router = APIRouter(prefix="/api/v1/social", tags=["social"])
operator = require(Role.coordinator, Role.admin)
collector = require(Role.collector, Role.coordinator, Role.admin)  # the webhook: least privilege for collectors


class RulesOut(BaseModel):
    version: int
    rules: Rules
    terms: int = Field(description="distinct terms compiled, default lexicon included")


class PostsIn(BaseModel):
    posts: list[Post] = Field(min_length=1, max_length=1000)


class DecisionsOut(BaseModel):
    decisions: list[dict[str, Any]]
    journaled: int


def _out(request: Request) -> RulesOut:
    current = live_social(request.app).holder.current
    return RulesOut(version=current.version, rules=current.rules, terms=current.terms)


@router.get("/rules", response_model=RulesOut)
async def get_rules(request: Request, _: TokenRecord = Depends(operator)) -> RulesOut:
    """The rules in force."""
    live = live_social(request.app)
    await live.ensure_loaded()
    return _out(request)


@router.put("/rules", response_model=RulesOut)
async def put_rules(rules: Rules, request: Request, who: TokenRecord = Depends(operator)) -> RulesOut:
    """Replace the rules; stored durably and applied from the next post on."""
    live = live_social(request.app)
    version = await save_rules(request.app.state.runtime.store, rules, updated_by=who.name)
    async with live.lock:
        live.holder.set(rules, version)
    return _out(request)


@router.get("/streams")
async def get_streams(request: Request, _: TokenRecord = Depends(operator)) -> dict[str, Any]:
    """The streams this process runs (``EMERGENCY_SOCIAL_STREAMS``) and how they are doing: posts
    received and skipped by reason, pipeline outcomes, clusters journaled and held, reconnects,
    supervised restarts, the last connection error. URLs without credentials."""
    return {"streams": [runner.status() for runner in request.app.state.runtime.social_runners]}


@router.post("/posts", response_model=DecisionsOut)
async def post_posts(body: PostsIn, request: Request, _: TokenRecord = Depends(collector)) -> DecisionsOut:
    """Webhook for external collectors: decide each post, journal the clusters that changed."""
    live = live_social(request.app)
    await live.ensure_loaded()
    async with live.lock:
        decisions = [live.pipeline.process(p).as_dict() for p in body.posts]
        journaled = await live.publisher.flush()
    return DecisionsOut(decisions=decisions, journaled=journaled)
