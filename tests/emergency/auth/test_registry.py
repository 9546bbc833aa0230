"""The agency registry and audit repositories on both stores, and token creation reconciled with them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from emergency.auth.audit import AUDIT, AuditEntry
from emergency.auth.registry import AGENCIES, AgencyRecord, mask_contact
from emergency.auth.repository import TOKENS
from emergency.auth.tokens import Role, create_token, known_agencies
from emergency.errors import ValidationFailed
from emergency.store import open_store
from tests.conftest import REGION

BOX = {"type": "Polygon", "coordinates": [[[-122.7, 45.4], [-122.5, 45.4], [-122.5, 45.6], [-122.7, 45.6],
                                           [-122.7, 45.4]]]}
CONTACT = {"name": "Dana Smith", "role": "duty officer", "phone": "+15035550123", "email": "dana@example.org"}


async def test_agencies_and_audit_on_each_store(store_url):
    store = await open_store(store_url)
    try:
        agencies = store.repository(AGENCIES)
        when = datetime(2026, 12, 1, 12, tzinfo=UTC)
        await agencies.put(AgencyRecord("pbot", "PBOT", BOX, ["ORC051"], [CONTACT], when, when))
        got = await agencies.get("pbot")
        assert got is not None and (got.name, got.jurisdiction, got.jurisdiction_codes, got.contacts) == \
            ("PBOT", BOX, ["ORC051"], [CONTACT])
        assert got.created_at == when
        assert (await agencies.by_name("PBOT")).agency_id == "pbot"
        assert await agencies.by_name("pbot") is None  # exact names only
        got.contacts = []
        await agencies.put(got)
        assert [a.contacts for a in await agencies.all()] == [[]]

        audit = store.repository(AUDIT)
        for n in range(3):
            await audit.add(AuditEntry("pbot", "admin", f"action.{n}", target=f"t{n}", detail={"n": n}, at=when))
        await audit.add(AuditEntry("other", "x", "action.x", at=when))
        entries = await audit.for_agency("pbot", limit=2)
        assert [(e.action, e.detail, e.at) for e in entries] == [("action.2", {"n": 2}, when), ("action.1", {"n": 1}, when)]

        # a token of a registered agency gets its id and its jurisdiction; its jurisdiction follows the registry
        _, rec = await create_token(store, name="PBOT desk", roles=[Role.agency], agency="PBOT")
        assert (rec.agency_id, rec.jurisdiction) == ("pbot", BOX)
        assert await store.repository(TOKENS).set_jurisdiction("pbot", REGION["jurisdiction"]) == 1
        assert (await store.repository(TOKENS).get(rec.token_hash)).jurisdiction == REGION["jurisdiction"]
        with pytest.raises(ValidationFailed) as refused:  # a look-alike of a registered name
            await create_token(store, name="x", roles=[Role.agency], agency="P.B.O.T.", jurisdiction=BOX)
        assert refused.value.field == "agency" and refused.value.candidates == ("PBOT",)
        assert await known_agencies(store) == [("pbot", "PBOT")]
    finally:
        await store.close()


def test_contacts_are_masked():
    assert mask_contact(CONTACT) == {"name": "D. S.", "role": "duty officer", "phone": "…23",
                                     "email": "d…@example.org"}
