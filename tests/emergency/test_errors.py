"""Domain errors: one hierarchy, mapped to HTTP in one place with a ``field: reason`` detail."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from emergency.errors import (
    Conflict,
    EmergencyError,
    Forbidden,
    NotFound,
    RequestRefused,
    Unavailable,
    ValidationFailed,
)
from emergency.http import install_error_handlers


@pytest.mark.parametrize("cls,status", [(ValidationFailed, 422), (Forbidden, 403), (NotFound, 404),
                                        (Conflict, 409), (Unavailable, 503)])
def test_the_hierarchy(cls, status):
    e = cls("road", "no such road")
    assert isinstance(e, RequestRefused) and isinstance(e, EmergencyError)
    assert (e.status, e.field, e.message, e.candidates, str(e)) == (status, "road", "no such road", (), "road: no such road")


async def test_refusals_become_their_status_with_detail_and_candidates():
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/refuse/{kind}")
    async def refuse(kind: str) -> None:
        if kind == "validation":
            raise ValidationFailed("from", 'no road "SE 39th Ave"', ["SE 33rd Ave", "SE 32nd Ave"])
        raise Forbidden("geometry", "lies outside the jurisdiction of X")

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        r = await http.get("/refuse/validation")
        assert r.status_code == 422
        assert r.json() == {"detail": 'from: no road "SE 39th Ave"', "candidates": ["SE 33rd Ave", "SE 32nd Ave"]}
        r = await http.get("/refuse/forbidden")
        assert r.status_code == 403 and r.json() == {"detail": "geometry: lies outside the jurisdiction of X"}
