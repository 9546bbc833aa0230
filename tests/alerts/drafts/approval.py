"""Issuing an alert whose tier needs approval, as a test does it: a draft by one person, approved by another."""

from __future__ import annotations

import secrets

from emergency.auth.tokens import Role, create_token


async def people(store, *, author_roles=(Role.national_authority,), agency: str = "FEMA",
                 jurisdiction=None) -> tuple[dict[str, str], dict[str, str]]:
    """(author headers, approver headers): two tokens of two different named people."""
    tag = secrets.token_hex(3)
    author, _ = await create_token(store, name=f"{agency} operations {tag}", roles=list(author_roles), agency=agency,
                                   jurisdiction=jurisdiction, person=f"Ann Author {tag}")
    approver, _ = await create_token(store, name=f"{agency} duty officer {tag}", roles=[Role.alert_approver],
                                     person=f"Bob Approver {tag}")
    return {"Authorization": f"Bearer {author}"}, {"Authorization": f"Bearer {approver}"}


async def issue_approved(http, body: dict, *, author: dict[str, str], approver: dict[str, str],
                         path: str = "/api/v1/alerts/drafts") -> str:
    """Draft ``body`` as ``author``, approve it as ``approver``, issue it; the alert id."""
    r = await http.post(path, json=body, headers=author)
    assert r.status_code == 201, r.text
    draft = r.json()["id"]
    r = await http.post(f"/api/v1/alerts/drafts/{draft}/approve", headers=approver)
    assert r.status_code == 200, r.text
    r = await http.post(f"/api/v1/alerts/drafts/{draft}/issue", headers=author)
    assert r.status_code == 202, r.text
    return r.json()["id"]
