"""The admin API revokes a token by the ``token_id`` it showed when creating it (or by the full hash)."""

from __future__ import annotations

from tests.conftest import System


async def _new_token(system: System, name: str) -> dict:
    r = await system.http.post("/api/v1/admin/tokens", json={"name": name, "roles": ["coordinator"]},
                               headers=system.auth("admin"))
    assert r.status_code == 201, r.text
    return r.json()


async def test_the_token_id_from_create_revokes_that_token(system: System):
    admin = system.auth("admin")
    created = await _new_token(system, "ECC desk 3")
    bearer = {"Authorization": f"Bearer {created['token']}"}
    assert (await system.http.get("/api/v1/reports", params={"limit": 50_000}, headers=bearer)).status_code == 200
    r = await system.http.delete(f"/api/v1/admin/tokens/{created['token_id']}", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json() == {"revoked": created["token_id"]}
    r = await system.http.post("/api/v1/admin/tokens", json={"name": "y", "roles": ["coordinator"]}, headers=bearer)
    assert r.status_code == 401  # revoked
    r = await system.http.delete(f"/api/v1/admin/tokens/{created['token_id']}", headers=admin)
    assert r.status_code == 404 and r.json()["detail"].startswith("token_hash: no active token")


async def test_a_malformed_token_reference_is_refused_naming_the_field(system: System):
    other = await _new_token(system, "ECC desk 4")
    for ref in ("abc", "z" * 16, other["token_id"][:15]):
        r = await system.http.delete(f"/api/v1/admin/tokens/{ref}", headers=system.auth("admin"))
        assert r.status_code == 422, (ref, r.text)
        assert r.json()["detail"].startswith("token_hash: expected a token_id (16 hex digits")
    # the other token is untouched
    r = await system.http.get("/api/v1/reports", params={"limit": 1},
                              headers={"Authorization": f"Bearer {other['token']}"})
    assert r.status_code == 200
