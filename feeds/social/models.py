"""The one post model every adapter normalises into.

Coordinates are WGS 84 degrees. ``author`` is the handle only (or the network's account id
when the stream carries no handle, as Bluesky Jetstream does); it is personal data and never
leaves the pipeline except under an envelope's ``attributes["private"]``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from emergency.geometry import Lat, Lon
from emergency.timebounds import ObservedTime

MAX_TEXT = 200_000  # characters; longer posts are refused with a reason (a 100 kB post is processed)


class Post(BaseModel):
    """A social-media post from any network."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=300)
    text: str = Field("", max_length=MAX_TEXT)
    created_at: ObservedTime | None = None  # emergency.timebounds: 1970 to 1 day ahead
    lat: Lat | None = None
    lon: Lon | None = None
    author: str | None = Field(None, max_length=300)
    lang: str | None = Field(None, max_length=35)
    source: str = Field("jsonl", min_length=1, max_length=64)
    links: list[str] = Field(default_factory=list, max_length=100)
    tags: list[str] = Field(default_factory=list, max_length=200)
    reply_to: str | None = Field(None, max_length=300)
    repost_of: str | None = Field(None, max_length=300, description="id of the reposted post (no text of its own)")
    quote_of: str | None = Field(None, max_length=300, description="id of the quoted post")
    place_name: str | None = Field(None, max_length=300, description="a place the network attached to the post "
                                   "(Twitter place full_name)")
    profile_location: str | None = Field(None, max_length=300, description="free text from the author's profile")

    @model_validator(mode="after")
    def _both(self) -> Post:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon must be given together")
        return self

    @property
    def located(self) -> bool:
        return self.lat is not None
