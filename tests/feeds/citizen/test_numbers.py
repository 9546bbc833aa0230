"""Coordinates and other numbers in request bodies are JSON numbers: ``true`` is not 1 and ``"４５"`` is not 45."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from emergency.geometry import AreaBBox, CircleArea, LineGeometry
from tests.conftest import PORTLAND_POINT, System, report_body


@pytest.mark.parametrize("field,value", [
    ("lat", True), ("lon", False), ("lat", "45.5122"), ("lat", "４５.５１２２"), ("lon", "-１２２.６５８７"),
])
async def test_a_coordinate_that_is_not_a_json_number_is_refused_naming_it(system: System, field, value):
    r = await system.http.post("/api/v1/reports", json=report_body(**{field: value}))
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(f"{field}: Input should be a valid number")


async def test_integer_coordinates_are_still_numbers(system: System):
    r = await system.http.post("/api/v1/reports", json=report_body(lat=45, lon=-122))
    assert r.status_code == 202, r.text
    assert r.json()["located"]["lat"] == 45.0 and PORTLAND_POINT


@pytest.mark.parametrize("circle", [
    {"lat": True, "lon": -122.6, "radius_km": 1}, {"lat": 45.5, "lon": "-122.6", "radius_km": 1},
    {"lat": 45.5, "lon": -122.6, "radius_km": True}, {"lat": 45.5, "lon": -122.6, "radius_km": "１"},
])
def test_circle_numbers_are_strict(circle):
    with pytest.raises(ValidationError):
        CircleArea(**circle)
    assert CircleArea(lat=45, lon=-122, radius_km=1).radius_km == 1.0


def test_bbox_and_line_coordinates_are_strict():
    class Rules(BaseModel):
        bbox: AreaBBox

    class Closure(BaseModel):
        road: LineGeometry

    with pytest.raises(ValidationError):
        Rules(bbox=(True, 45, -122, 46))
    with pytest.raises(ValidationError):
        Rules(bbox=("-123", 45, -122, 46))
    assert Rules(bbox=(-123, 45, -122, 46)).bbox == (-123.0, 45.0, -122.0, 46.0)
    for bad in ([[True, 45.5], [-122.6, 45.6]], [["-122.7", "45.5"], [-122.6, 45.6]]):
        with pytest.raises(ValidationError, match="positions must be finite numbers"):
            Closure(road={"type": "LineString", "coordinates": bad})
    Closure(road={"type": "LineString", "coordinates": [[-122.7, 45.5], [-122, 46]]})
