"""Agency administration: register (the ``agency_id`` rules of ``emergency.auth.agencies``, shared
with the agency's tokens), change jurisdiction or contacts, list (contacts masked), audit. Every
change is written to the audit log (field names only: never the contacts themselves)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from emergency.auth.agencies import assign_agency_id
from emergency.auth.audit import AUDIT, audit_entry
from emergency.auth.models import TokenRecord
from emergency.auth.registry import AGENCIES, AgencyRecord, mask_contact
from emergency.auth.repository import TOKENS
from emergency.auth.tokens import known_agencies
from emergency.errors import Conflict, NotFound, ValidationFailed
from emergency.store.base import Store
from feeds.agency.registry.models import AgencyIn, AgencyOut, AgencyPatch, AuditOut
from mapping.regions import Region
from mapping.zones import zone_geometry


def resolve_jurisdiction(*, geometry: dict[str, Any] | None, codes: str | None,
                         region: Region | None) -> tuple[dict[str, Any], list[str] | None]:
    """The jurisdiction polygon (GeoJSON, WGS 84) and the codes it came from (None for GeoJSON);
    ValidationFailed naming ``jurisdiction_codes`` when a code is not one of the region's."""
    if codes is None:
        assert geometry is not None
        return geometry, None
    if region is None:
        raise ValidationFailed("jurisdiction_codes", "no region is configured: give the jurisdiction as GeoJSON")
    try:
        found = zone_geometry(codes, region)
    except ValueError as exc:
        raise ValidationFailed("jurisdiction_codes", str(exc).removeprefix("zone: ")) from None
    return found["geometry"], found["codes"]


def agency_out(record: AgencyRecord, *, masked: bool, tokens_updated: int | None = None) -> AgencyOut:
    """The API shape of an agency; ``masked`` for lists."""
    contacts = [mask_contact(c) for c in record.contacts] if masked else record.contacts
    return AgencyOut(agency_id=record.agency_id, name=record.name, jurisdiction=record.jurisdiction,
                     jurisdiction_codes=record.jurisdiction_codes, contacts=contacts, created_at=record.created_at,
                     updated_at=record.updated_at, tokens_updated=tokens_updated)


async def register_agency(*, store: Store, item: AgencyIn, region: Region | None, principal: TokenRecord | None,
                          now: datetime) -> AgencyOut:
    """Register an agency: Conflict naming ``name`` when it is registered already; its ``agency_id`` is
    the one its tokens carry, if any (their jurisdiction becomes the registered one), else a new one;
    a look-alike of a known name is refused (``name``, with candidates)."""
    agencies = store.repository(AGENCIES)
    if await agencies.by_name(item.name) is not None:
        raise Conflict("name", f'"{item.name}" is registered already: change it with PATCH')
    try:
        agency_id = assign_agency_id(agency=item.name, known=await known_agencies(store))
    except ValidationFailed as exc:
        raise ValidationFailed("name", exc.message, exc.candidates) from None
    geometry, codes = resolve_jurisdiction(geometry=item.jurisdiction, codes=item.jurisdiction_codes, region=region)
    record = AgencyRecord(agency_id=agency_id, name=item.name, jurisdiction=geometry, jurisdiction_codes=codes,
                          contacts=[c.model_dump() for c in item.contacts], created_at=now, updated_at=now)
    await agencies.put(record)
    updated = await store.repository(TOKENS).set_jurisdiction(agency_id, geometry)
    await store.repository(AUDIT).add(audit_entry(
        principal=principal, agency_id=agency_id, action="agency.create", target=agency_id,
        detail={"jurisdiction_codes": codes, "contacts": len(record.contacts), "tokens_updated": updated}, now=now))
    return agency_out(record, masked=False, tokens_updated=updated)


async def update_agency(*, store: Store, agency_id: str, patch: AgencyPatch, region: Region | None,
                        principal: TokenRecord | None, now: datetime) -> AgencyOut:
    """Change an agency's jurisdiction (also on its tokens) and/or contacts; NotFound naming ``agency_id``."""
    agencies = store.repository(AGENCIES)
    record = await agencies.get(agency_id)
    if record is None:
        raise NotFound("agency_id", "no registered agency with this id")
    changed: list[str] = []
    updated = None
    if patch.jurisdiction is not None or patch.jurisdiction_codes is not None:
        record.jurisdiction, record.jurisdiction_codes = resolve_jurisdiction(
            geometry=patch.jurisdiction, codes=patch.jurisdiction_codes, region=region)
        updated = await store.repository(TOKENS).set_jurisdiction(agency_id, record.jurisdiction)
        changed.append("jurisdiction")
    if patch.contacts is not None:
        record.contacts = [c.model_dump() for c in patch.contacts]
        changed.append("contacts")
    record.updated_at = now
    await agencies.put(record)
    await store.repository(AUDIT).add(audit_entry(
        principal=principal, agency_id=agency_id, action="agency.update", target=agency_id,
        detail={"changed": changed, "jurisdiction_codes": record.jurisdiction_codes, "tokens_updated": updated},
        now=now))
    return agency_out(record, masked=False, tokens_updated=updated)


async def list_agencies(*, store: Store) -> list[AgencyOut]:
    """Every registered agency, by name, contacts masked."""
    return [agency_out(r, masked=True) for r in await store.repository(AGENCIES).all()]


async def get_agency(*, store: Store, agency_id: str) -> AgencyOut:
    """One agency in full (contacts included: admin only); NotFound naming ``agency_id``."""
    record = await store.repository(AGENCIES).get(agency_id)
    if record is None:
        raise NotFound("agency_id", "no registered agency with this id")
    return agency_out(record, masked=False)


async def agency_audit(*, store: Store, agency_id: str, limit: int) -> list[AuditOut]:
    """The agency's newest actions first; NotFound naming ``agency_id`` for an agency nobody knows."""
    entries = await store.repository(AUDIT).for_agency(agency_id, limit)
    if not entries and agency_id not in {a for a, _ in await known_agencies(store)}:
        raise NotFound("agency_id", "no agency with this id")
    return [AuditOut(at=e.at, actor=e.actor, actor_token=e.actor_token, action=e.action, target=e.target,
                     detail=e.detail) for e in entries]
