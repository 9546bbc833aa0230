"""One geometry vocabulary (emergency/geometry.py): the same bad input gets the same message in every
model, parser and validator that accepts coordinates, areas or CAP circles."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alerts.cap.model import Alert, Area, Info
from alerts.cap.validate import check_core
from alerts.models import AlertArea
from emergency.auth.views import TokenIn
from emergency.geometry import (
    MAX_CIRCLE_RADIUS_KM,
    check_area_geometry,
    check_lat_lon,
    parse_cap_circle,
    validate_geojson,
)
from feeds.social.models import Post
from feeds.social.rules import RegionRule
from mapping.targeting import parse_area, polygon_area

POINT = {"type": "Point", "coordinates": [-122.65, 45.51]}
UNCLOSED = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}


def message(exc: ValidationError) -> str:
    [err] = exc.errors()
    return err["msg"]


def test_not_an_area_reads_the_same_everywhere():
    expected = "must be a GeoJSON Polygon or MultiPolygon, got 'Point'"
    seen = []
    for build in (lambda: AlertArea(polygon=POINT), lambda: TokenIn(name="x", roles=["agency"], jurisdiction=POINT),
                  lambda: RegionRule(polygon=POINT)):
        with pytest.raises(ValidationError) as exc:
            build()
        seen.append(message(exc.value))
    with pytest.raises(ValueError) as plain:
        check_area_geometry(POINT)
    seen.append(str(plain.value))
    with pytest.raises(ValueError) as targeting:
        polygon_area(POINT)
    seen.append(str(targeting.value).removeprefix("area: "))
    assert seen == [expected] * 5


def test_an_unclosed_ring_reads_the_same_everywhere():
    expected = "ring 0 of polygon 0 is not closed (first and last positions differ)"
    for build in (lambda: AlertArea(polygon=UNCLOSED), lambda: RegionRule(polygon=UNCLOSED)):
        with pytest.raises(ValidationError) as exc:
            build()
        assert message(exc.value) == expected
    with pytest.raises(ValueError, match="^area: ring 0 of polygon 0 is not closed"):
        polygon_area(UNCLOSED)


def test_a_latitude_out_of_range_reads_the_same_everywhere():
    expected = "lat: must be between -90 and 90, got 95"
    with pytest.raises(ValueError) as plain:
        check_lat_lon(95, 0)
    assert str(plain.value) == expected
    with pytest.raises(ValidationError) as post:
        Post(id="p", text="t", lat=95, lon=0)
    assert f"lat: {message(post.value)}" == expected
    with pytest.raises(ValidationError) as circle:
        AlertArea(circle={"lat": 95, "lon": 0, "radius_km": 1})
    assert f"lat: {message(circle.value)}" == expected
    with pytest.raises(ValueError) as geojson:
        validate_geojson({"type": "Point", "coordinates": [0, 95]})
    assert str(geojson.value) == expected
    with pytest.raises(ValueError) as cap:
        parse_cap_circle("95,0 5")
    assert str(cap.value) == f"circle centre: {expected}"
    with pytest.raises(ValueError) as targeted:
        parse_area("95,0 5")
    assert str(targeted.value) == str(cap.value)


def test_one_cap_circle_grammar_for_the_validator_and_targeting():
    """Regression: alerts/cap/validate.py and mapping/targeting.py parsed CAP circles with different grammars."""
    for text in ("45.5,-122.6 5", "+45.5,-122.6 5.0", " 45.5,-122.6 5 "):
        c = parse_cap_circle(text)
        assert parse_area(text).radius_m == c.radius_km * 1000
        alert = Alert(identifier="a", sender="s", sent="2026-01-01T00:00:00-00:00", status="Actual",
                      msg_type="Alert", scope="Public", info=[Info(area=[Area(area_desc="x", circle=[text])])])
        assert [f for f in check_core(alert) if "circle" in f.code] == []
    for text in ("45.5, -122.6 5", "45.5;-122.6 5", "45.5,-122.6"):
        with pytest.raises(ValueError, match="is not 'lat,lon radius'"):
            parse_cap_circle(text)
        with pytest.raises(ValueError, match="is not 'lat,lon radius'"):
            parse_area(text)


def test_one_radius_limit():
    """Regression: the alert API allowed 500 km circles, the targeting index 1,000 km."""
    expected = f"must be more than 0 and at most {MAX_CIRCLE_RADIUS_KM:g} km, got 600"
    with pytest.raises(ValidationError) as api:
        AlertArea(circle={"lat": 45, "lon": -122, "radius_km": 600})
    assert message(api.value) == expected
    with pytest.raises(ValueError) as targeting:
        parse_area({"circle": {"lat": 45, "lon": -122, "radius_km": 600}})
    assert str(targeting.value) == f"radius_km: {expected}"
