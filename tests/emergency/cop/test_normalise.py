"""The normaliser geocodes events that arrive without geometry, deterministically, and the result
reaches the picture through the real stream."""

from __future__ import annotations

from datetime import UTC, datetime

from emergency.cop.normalise import normalise
from emergency.events import Envelope, GeoPrecision, Kind, Source
from emergency.stream.topics import RAW_SOCIAL
from mapping.geocode import RegionGeocoder
from mapping.regions import load_region

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def post(text: str | None, location_text: str | None = None, ident: str = "social:test:1") -> Envelope:
    return Envelope(id=ident, kind=Kind.social_post, source=Source(type="social", ref=ident), observed_at=NOW,
                    received_at=NOW, category="post", text=text, location_text=location_text)


def test_text_with_an_intersection_gets_a_point_at_street_precision():
    region = load_region("portland")
    out = normalise(RAW_SOCIAL, post("Huge tree down across SE Hawthorne Blvd near 20th!"), RegionGeocoder(region))
    assert out.geometry["type"] == "Point"
    assert out.geo_precision is GeoPrecision.street
    assert out.location_text == "SE Hawthorne Blvd & SE 20th Ave, Portland"
    assert 0.5 < out.confidence <= 1.0


def test_location_text_wins_over_the_text():
    region = load_region("portland")
    out = normalise(RAW_SOCIAL, post("flooding in Gresham", location_text="Troutdale"), RegionGeocoder(region))
    assert out.geo_precision is GeoPrecision.place and out.location_text == "Troutdale"


def test_a_place_and_a_zone():
    region = load_region("portland")
    assert normalise(RAW_SOCIAL, post("Power is out all over Beaverton"), RegionGeocoder(region)).geo_precision is GeoPrecision.place
    zone = normalise(RAW_SOCIAL, post("Flood watch for Multnomah County"), RegionGeocoder(region))
    assert zone.geo_precision is GeoPrecision.region and zone.geometry["type"] in ("Polygon", "MultiPolygon")


def test_no_place_keeps_precision_none():
    region = load_region("portland")
    out = normalise(RAW_SOCIAL, post("Stay safe everyone"), RegionGeocoder(region))
    assert out.geometry is None and out.geo_precision is GeoPrecision.none


def test_same_input_same_output():
    region = load_region("portland")
    e = post("crash at MLK and Burnside, and smoke in Gresham")
    assert normalise(RAW_SOCIAL, e, RegionGeocoder(region)).to_json() == normalise(RAW_SOCIAL, e, RegionGeocoder(region)).to_json()


def test_events_with_geometry_are_left_alone():
    region = load_region("portland")
    e = post("tree down at Hawthorne & 12th").model_copy(
        update={"geometry": {"type": "Point", "coordinates": [-122.6, 45.5]}, "geo_precision": GeoPrecision.exact})
    assert normalise(RAW_SOCIAL, e, RegionGeocoder(region)).geometry == {"type": "Point", "coordinates": [-122.6, 45.5]}


async def test_a_post_without_coordinates_is_on_the_map_at_its_intersection(system):
    event = post("Water main break Division/11th, street flooding", ident="social:test:geo-1")
    await system.runtime.submit(event, RAW_SOCIAL)
    assert await system.runtime.wait_applied(timeout_s=30)
    feature = (await system.http.get("/api/v1/events/social:test:geo-1")).json()
    assert feature["geometry"]["type"] == "Point"
    assert feature["properties"]["geo_precision"] == "street"
    assert feature["properties"]["location_text"] == "SE Division St & SE 11th Ave, Portland"
