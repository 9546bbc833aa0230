"""A citizen report placed by words: ``location_text`` alone is geocoded in the shipped Portland region at
intake; the 202 echoes where it was placed; a place the region does not have is a 422 naming the field
and saying what the region covers."""

from __future__ import annotations

import math

from tests.conftest import eventually


def metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Approximate ground distance in metres (equirectangular; fine within a city)."""
    k = 111_320.0
    return math.hypot((lat2 - lat1) * k, (lon2 - lon1) * k * math.cos(math.radians(lat1)))


async def stored(system, event_id: str) -> dict:
    async def found():
        r = await system.http.get(f"/api/v1/events/{event_id}")
        return r.json() if r.status_code == 200 else None

    return await eventually(found)


async def test_an_intersection_in_words_is_placed_and_echoed(system):
    r = await system.http.post("/api/v1/reports", json={
        "category": "blocked_road", "text": "Tree across both lanes", "location_text": "Hawthorne and 20th"})
    assert r.status_code == 202, r.text
    body = r.json()
    located = body["located"]
    assert located["label"] == "SE Hawthorne Blvd & SE 20th Ave, Portland"
    assert located["geo_precision"] == "street"
    # SE Hawthorne Blvd crosses SE 20th Ave at about 45.5122 N, 122.6444 W
    assert metres(located["lat"], located["lon"], 45.5122, -122.6444) < 150
    feature = await stored(system, body["id"])
    assert feature["geometry"] == {"type": "Point", "coordinates": [located["lon"], located["lat"]]}
    props = feature["properties"]
    assert props["geo_precision"] == "street"
    assert props["location_text"] == "Hawthorne and 20th"  # the sender's words are kept


async def test_a_town_in_words_is_placed_at_place_precision(system):
    r = await system.http.post("/api/v1/reports", json={"category": "flooding", "location_text": "Gresham"})
    assert r.status_code == 202, r.text
    located = r.json()["located"]
    assert located["label"] == "Gresham" and located["geo_precision"] == "place"
    assert metres(located["lat"], located["lon"], 45.4982, -122.4315) < 2000


async def test_a_place_the_region_lacks_is_refused_naming_the_field_and_the_coverage(system):
    r = await system.http.post("/api/v1/reports", json={"category": "smoke", "location_text": "Foster and 82nd"})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail.startswith("location_text: no match in region portland, which covers central Portland: named "
                             "streets from the West Hills east to NE/SE 33rd Ave"), detail
    assert "lon -122.713..-122.597, lat 45.481..45.555" in detail  # the region pack's bbox
    r = await system.http.post("/api/v1/reports", json={"category": "smoke", "location_text": "Seattle"})
    assert r.status_code == 422 and r.json()["detail"].startswith("location_text: no match in region portland")
    assert (await system.runtime.store.journal_counts()).total == 0


async def test_lat_lon_win_over_location_text_which_is_kept_as_the_description(system):
    r = await system.http.post("/api/v1/reports", json={
        "category": "smoke", "lat": 45.5122, "lon": -122.6587, "location_text": "Gresham, by the school"})
    assert r.status_code == 202, r.text
    located = r.json()["located"]
    assert located == {"label": "Gresham, by the school", "geo_precision": "exact", "lat": 45.5122, "lon": -122.6587}
    feature = await stored(system, r.json()["id"])
    assert feature["geometry"]["coordinates"] == [-122.6587, 45.5122]
    assert feature["properties"]["location_text"] == "Gresham, by the school"
    assert feature["properties"]["geo_precision"] == "exact"


async def test_the_runtime_loads_one_geocoder_and_the_normaliser_uses_it(system):
    assert system.runtime.geocoder is not None and system.runtime.geocoder.name == "region portland"
