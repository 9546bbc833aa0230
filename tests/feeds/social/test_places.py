"""Place extraction: coordinates first (exact), then street and place mentions through the
mapping geocoder for the Portland region, the profile location only as a low-confidence last
resort, and the region rule applied to whatever was found."""

from __future__ import annotations

import json

from emergency.config import PROJECT_ROOT
from feeds.social.models import Post
from feeds.social.pipeline import ClusterPublisher, RulesHolder, SocialPipeline
from feeds.social.places import PROFILE_CONFIDENCE, load_region, locate, name_words
from feeds.social.rules import Rules
from tests.emergency.assembly.test_cli import cli

REGION = load_region(str(PROJECT_ROOT / "sample_data" / "regions" / "portland"))


def test_coordinates_win_and_are_exact():
    [p] = locate(Post(id="1", text="Tree down on SE Hawthorne Blvd at 20th", lat=45.5, lon=-122.6), REGION)
    assert p.precision == "exact" and p.origin == "coordinates" and p.geometry["coordinates"] == [-122.6, 45.5]


def test_street_and_intersection_mentions_are_geocoded():
    places = locate(Post(id="1", text="Tree down on SE Hawthorne Blvd at 20th, road blocked"), REGION)
    assert places[0].origin == "text" and places[0].precision == "street"  # an intersection: street precision
    lon, lat = places[0].geometry["coordinates"]
    assert -122.7 < lon < -122.6 and 45.5 < lat < 45.52
    assert "Hawthorne" in places[0].text


def test_profile_location_is_a_low_confidence_last_resort():
    post = Post(id="1", text="Huge flood in my street, water everywhere", profile_location="Gresham")
    [p] = locate(post, REGION)
    assert p.origin == "profile" and p.confidence <= PROFILE_CONFIDENCE
    named = Post(id="2", text="Flooding on SE Hawthorne Blvd", profile_location="Gresham")
    assert locate(named, REGION)[0].origin == "text"


def test_texts_without_any_region_name_skip_the_geocoder():
    assert "hawthorne" in name_words(REGION) and "street" not in name_words(REGION)
    assert locate(Post(id="1", text="water everywhere, stay safe"), REGION) == []


async def test_geocoded_posts_reach_the_envelope_and_the_region_rule_applies():
    outside = {"region": {"bbox": [-75, 40, -73, 41], "outside": "drop"}}
    dropped = SocialPipeline(RulesHolder(Rules(**outside)), region=REGION).process(
        Post(id="1", text="Flooding on SE Hawthorne Blvd at 20th, cars stuck"))
    assert dropped.dropped == "outside region"
    pipeline = SocialPipeline(region=REGION)
    d = pipeline.process(Post(id="1", text="Flooding on SE Hawthorne Blvd at 20th, cars stuck", author="a"))
    assert d.places and d.places[0]["precision"] == "street"
    events = []

    async def sink(event, mode):
        events.append(event)
        return True

    await ClusterPublisher(pipeline, sink).flush()
    [event] = events
    assert event.geo_precision.value == "street" and "Hawthorne" in event.location_text
    assert event.attributes["place_origin"] == "text" and event.category == "flooding"


def test_filter_command_with_a_region(tmp_path):
    src = tmp_path / "posts.jsonl"
    src.write_text(json.dumps({"id": "a", "text": "Power lines down on NE Broadway by 7th, avoid the area"}) + "\n")
    done = cli("social", "filter", str(src), "--region", "portland")
    assert done.returncode == 0, done.stderr
    [decision] = [json.loads(line) for line in done.stdout.splitlines()]
    assert decision["places"][0]["origin"] == "text" and "Broadway" in decision["places"][0]["text"]
