"""Read posts from a JSON-lines file and turn matching ones into raw.social events.

One post per line: ``{"id", "text", "created_at" (ISO 8601 with zone), "lat", "lon", "author", "lang"}``;
``lat``/``lon`` (WGS 84 degrees) are optional. The author handle is kept private.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from pydantic import AwareDatetime, BaseModel, Field, ValidationError, model_validator

from emergency.events import Envelope, GeoPrecision, Kind, Source
from feeds.social.filter import categorise, matched_keywords


class Post(BaseModel):
    id: str = Field(min_length=1, max_length=200)
    text: str = Field(max_length=20_000)
    created_at: AwareDatetime
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    author: str | None = Field(None, max_length=200)
    lang: str | None = Field(None, max_length=16)
    source: str = Field("jsonl", max_length=64)

    @model_validator(mode="after")
    def _both(self) -> Post:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon must be given together")
        return self


def read_posts(path: Path) -> Iterator[tuple[int, Post | str]]:
    """(line number, Post) for each good line, (line number, reason) for each bad one."""
    with path.open(encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield n, Post.model_validate(json.loads(line))
            except json.JSONDecodeError as exc:
                yield n, f"not JSON: {exc.msg}"
            except ValidationError as exc:
                e = exc.errors()[0]
                yield n, f"{'.'.join(map(str, e['loc'])) or 'post'}: {e['msg']}"


def post_event(post: Post, *, now: datetime) -> Envelope | None:
    """The raw.social event for a post that passes the keyword filter, else None."""
    keywords = matched_keywords(post.text)
    if not keywords:
        return None
    located = post.lat is not None
    attributes: dict = {"keywords": keywords, "lang": post.lang}
    if post.author:
        attributes["private"] = {"author": post.author}
    return Envelope(
        id=f"social:{post.source}:{post.id}", kind=Kind.social_post, source=Source(type=post.source, ref=post.id),
        observed_at=post.created_at, received_at=now, category=categorise(keywords), text=post.text,
        geometry={"type": "Point", "coordinates": [post.lon, post.lat]} if located else None,
        geo_precision=GeoPrecision.exact if located else GeoPrecision.none,
        confidence=0.3, attributes=attributes,
    )
