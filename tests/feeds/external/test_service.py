"""Change detection, ids and envelopes of feed items, and how the picture takes them (layer, normaliser)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from emergency.cop.normalise import normalise
from emergency.events import Envelope
from emergency.layers import expires_at, layer_of
from emergency.stream.topics import RAW_FEEDS
from feeds.external.models import FeedItem, ParsedFeed
from feeds.external.service import diff, event_id

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
POINT = {"type": "Point", "coordinates": [145.0, -37.0]}


def feed(*items: FeedItem) -> ParsedFeed:
    return ParsedFeed("geojson", "Publisher", "CC BY 4.0 Publisher", list(items))


def item(n: str, status: str = "Going", geometry: dict | None = POINT) -> FeedItem:
    return FeedItem(n, "bushfire", f"Fire {n}", geometry, AT - timedelta(hours=1), {"status": status})


def test_the_diff_names_new_changed_and_ended_items():
    first = diff(feed="f", parsed=feed(item("a"), item("b")), stored={}, at=AT)
    assert (first.new, first.changed, first.ended, len(first.envelopes)) == (2, 0, 0, 2)
    same = diff(feed="f", parsed=feed(item("a"), item("b")), stored=first.put, at=AT + timedelta(minutes=1))
    assert same.envelopes == [] and same.put == {} and same.remove == []
    later = AT + timedelta(minutes=2)
    nxt = diff(feed="f", parsed=feed(item("a", "Contained"), item("c")), stored=first.put, at=later)
    assert (nxt.new, nxt.changed, nxt.ended) == (1, 1, 1) and nxt.remove == ["b"]
    ended = next(e for e in nxt.envelopes if e.id == event_id("f", "b"))
    assert ended.attributes["ended_at"] == later.isoformat() and ended.received_at == later
    assert ended.text == "Fire b" and ended.geometry == POINT  # the last version, ended
    assert expires_at(ended) == later  # the projector writes it ended at once: open maps get a remove


def test_feed_items_have_their_own_layer_with_attribution():
    env = diff(feed="f", parsed=feed(item("a")), stored={}, at=AT).envelopes[0]
    assert env.id == "feed:f:a" and env.kind.value == "feed_item" and env.source.type == "feed"
    assert layer_of(env) == "feed_incidents"  # before: feed items fell into the citizen "reports" layer
    assert env.attributes["attribution"] == "CC BY 4.0 Publisher" and env.attributes["publisher"] == "Publisher"
    assert normalise(RAW_FEEDS, env) == env


def test_a_feed_item_without_a_place_is_refused_by_the_normaliser():
    env = diff(feed="f", parsed=feed(item("a")), stored={}, at=AT).envelopes[0]
    placeless = Envelope.model_validate({**env.model_dump(by_alias=True), "geometry": None, "text": None})
    with pytest.raises(ValueError, match="a feed item needs a geometry"):
        normalise(RAW_FEEDS, placeless)


def test_long_item_ids_are_named_by_a_digest():
    long_id = "https://api.weather.gov/alerts/urn:oid:2.49.0.1.840.0." + "a" * 200
    eid = event_id("nws", long_id)
    assert eid.startswith("feed:nws:sha256-") and len(eid) < 64 and eid == event_id("nws", long_id)
    assert event_id("nws", "short-id") == "feed:nws:short-id"
