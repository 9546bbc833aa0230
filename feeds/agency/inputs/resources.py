"""Resource requests: what, how much (quantity and unit), priority, needed by, where to deliver (a
Point, WGS 84, and its description); fulfilments by other agencies, partial or complete; status
open / partially_fulfilled / fulfilled / cancelled (fulfilled and cancelled take it off the map)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from emergency.errors import Conflict, ValidationFailed
from emergency.events import Envelope
from emergency.geometry import PointGeometry
from emergency.timebounds import ClosureTime
from feeds.agency.inputs.base import AgencyInputIn, Built, InputKind

ENDED = ("fulfilled", "cancelled")


class ResourceRequestIn(AgencyInputIn):
    """A request for resources to be delivered at a GeoJSON Point (WGS 84 degrees)."""

    geometry: PointGeometry
    what: str = Field(min_length=1, max_length=200, description='e.g. "drinking water", "generator 5 kW"')
    quantity: float = Field(gt=0, le=1e9)
    unit: str = Field(min_length=1, max_length=50, description='e.g. "litres", "pallets", "each"')
    priority: Literal["low", "medium", "high", "critical"] = "medium"
    needed_by: ClosureTime | None = None
    deliver_to: str = Field(min_length=1, max_length=300, description="where to deliver, as the agency writes it")
    status: Literal["open", "cancelled"] = Field("open", description="cancelled withdraws the request")


class FulfilmentIn(BaseModel):
    """Another agency's fulfilment of a request: how much it delivers (in the request's unit), or all
    that remains (``complete``)."""

    model_config = ConfigDict(extra="forbid")
    quantity: float | None = Field(None, gt=0, le=1e9, description="in the request's unit; omit with complete")
    complete: bool = Field(False, description="this fulfils all that remains")
    note: str | None = Field(None, max_length=500)


def status_of(*, quantity: float, fulfilled: float) -> str:
    """open, partially_fulfilled or fulfilled, from the quantities (same unit)."""
    return "fulfilled" if fulfilled >= quantity else "partially_fulfilled" if fulfilled > 0 else "open"


def build(*, item: ResourceRequestIn, existing: Envelope | None, region: Any, now: datetime) -> Built:
    """The request's event parts; fulfilments already recorded on ``existing`` are kept."""
    fulfilments = list(existing.attributes.get("fulfilments", [])) if existing is not None else []
    fulfilled = sum(float(f["quantity"]) for f in fulfilments)
    status = "cancelled" if item.status == "cancelled" else status_of(quantity=item.quantity, fulfilled=fulfilled)
    attrs = {"what": item.what, "quantity": item.quantity, "unit": item.unit, "priority": item.priority,
             "needed_by": item.needed_by.isoformat() if item.needed_by else None, "deliver_to": item.deliver_to,
             "fulfilments": fulfilments, "fulfilled_quantity": fulfilled,
             "remaining_quantity": max(item.quantity - fulfilled, 0.0), "status": status,
             "ended": now.isoformat() if status in ENDED else None}
    return Built(geometry=item.geometry, text=f"Needed: {item.quantity:g} {item.unit} {item.what} ({item.priority})",
                 observed_at=now, attributes=attrs, location_text=item.deliver_to,
                 understood={k: attrs[k] for k in ("what", "quantity", "unit", "priority", "deliver_to",
                                                   "fulfilled_quantity", "remaining_quantity")})


def fulfilled_version(*, existing: Envelope, fulfilment: FulfilmentIn, agency: str, agency_id: str,
                      now: datetime) -> Envelope:
    """A new version of the request ``existing`` with ``agency``'s fulfilment added (at most what remains);
    Conflict naming ``request_id`` when it is no longer open, ValidationFailed naming ``quantity``."""
    a = existing.attributes
    if a.get("status") in ENDED:
        raise Conflict("request_id", f"the request is {a['status']}: nothing remains to fulfil")
    if fulfilment.complete == (fulfilment.quantity is not None):
        raise ValidationFailed("quantity", "give a quantity, or complete: true for all that remains (not both)")
    remaining = float(a["remaining_quantity"])
    quantity = remaining if fulfilment.complete else float(fulfilment.quantity or 0)
    if quantity > remaining:
        raise ValidationFailed("quantity", f"{quantity:g} is more than the {remaining:g} {a['unit']} that remain")
    fulfilments = [*a.get("fulfilments", []), {"agency": agency, "agency_id": agency_id, "quantity": quantity,
                                               "kind": "complete" if quantity >= remaining else "partial",
                                               "note": fulfilment.note, "at": now.isoformat()}]
    fulfilled = float(a["fulfilled_quantity"]) + quantity
    status = status_of(quantity=float(a["quantity"]), fulfilled=fulfilled)
    attrs = {**a, "fulfilments": fulfilments, "fulfilled_quantity": fulfilled,
             "remaining_quantity": max(float(a["quantity"]) - fulfilled, 0.0), "status": status,
             "ended": now.isoformat() if status in ENDED else None}
    return existing.model_copy(update={"attributes": attrs, "received_at": now})


RESOURCE_REQUESTS = InputKind(path="resource-requests", slug="resource", category="resource_need",
                              title="resource request", model=ResourceRequestIn, build=build, ended_status="cancelled")
