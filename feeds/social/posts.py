"""Read posts from a JSON-lines file, and the single-post path used by the demo scenario.

One post per line, the fields of ``feeds.social.models.Post`` (at least ``id`` and ``text``;
``created_at`` ISO 8601 with zone, ``lat``/``lon`` WGS 84 degrees, ``author``, ``lang``...).
A bad line yields a reason naming the field instead of a post.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from emergency.events import Envelope
from feeds.social.models import Post

__all__ = ["Post", "parse_post", "read_posts", "post_event"]


def parse_post(line: str | bytes, **defaults: object) -> Post | str:
    """A Post from one JSON line, or the reason it is unusable ("field: reason")."""
    try:
        doc = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return f"not JSON: {getattr(exc, 'msg', exc)}"
    if not isinstance(doc, dict):
        return "not a JSON object"
    try:
        return Post.model_validate({**defaults, **doc})
    except ValidationError as exc:
        e = exc.errors()[0]
        return f"{'.'.join(map(str, e['loc'])) or 'post'}: {e['msg']}"


def read_posts(path: Path, **defaults: object) -> Iterator[tuple[int, Post | str]]:
    """(line number, Post) for each good line, (line number, reason) for each bad one."""
    with path.open(encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                yield n, parse_post(line, **defaults)


def post_event(post: Post, *, now: datetime) -> Envelope | None:
    """The raw.social event for one post on its own (default rules, no clustering), or None when
    the post is not kept. The demo scenario uses this; streams go through ``SocialPipeline``."""
    from feeds.social.pipeline import SocialPipeline, cluster_event

    pipeline = SocialPipeline(now=lambda: now)
    if pipeline.process(post).dropped:
        return None
    (cluster,) = pipeline.take_dirty()
    return cluster_event(cluster, now=now)
