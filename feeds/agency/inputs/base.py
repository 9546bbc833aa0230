"""What every agency input kind declares: its path, id segment, category, model, and how its event
is built from a validated input. Geometries are GeoJSON, WGS 84 (EPSG:4326)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from feeds.intake import AcceptedOut

Reference = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:\-]+$",
                                 description="the agency's own id for the item; resubmitting it updates the item")]


class AgencyInputIn(BaseModel):
    """The part every agency input shares: the agency's ``reference`` (required: it makes the input
    idempotent and lets the agency update or end it)."""

    model_config = ConfigDict(extra="forbid")
    reference: Reference


@dataclass(frozen=True)
class Built:
    """A validated input turned into the parts of its event: ``geometry`` GeoJSON (WGS 84), the public
    ``attributes`` of its kind (``status`` among them; ``ended`` set when the status ends it), and
    ``understood``: what the answer echoes back."""

    geometry: dict[str, Any]
    text: str
    observed_at: datetime
    attributes: dict[str, Any]
    location_text: str | None = None
    understood: dict[str, Any] = field(default_factory=dict)
    suggested_alert: dict[str, Any] | None = None


# build(item=, existing=, region=, now=) -> Built; ``existing`` is the current version under the same id
# (None for a new item), ``region`` the configured region when ``needs_region(item)`` says so.
Builder = Callable[..., Built]


@dataclass(frozen=True)
class InputKind:
    """One agency input kind: ``path`` (``/api/v1/agency/<path>``), ``slug`` (the id segment:
    ``agency:<agency_id>:<slug>:<reference>``), the envelope ``category``, the input ``model``, its
    ``build`` function, and the ``ended_status`` a DELETE records."""

    path: str
    slug: str
    category: str
    title: str
    model: type[AgencyInputIn]
    build: Builder
    ended_status: str = "ended"
    needs_region: Callable[[Any], bool] = lambda item: False


class InputAccepted(AcceptedOut):
    """An accepted agency input, with what was understood: check it is what you meant."""

    reference: str
    item_status: str = Field(description="the item's status as recorded (e.g. open, active, order)")
    understood: dict[str, Any] = Field(default_factory=dict, description="what was understood, as stored")
    suggested_alert: dict[str, Any] | None = Field(None, description=(
        "for an evacuation order: a ready-made body for POST /api/v1/alerts covering the zone"))

