"""Gazetteer and geocoder on the real Portland and Columbus region packs: names, intersections,
places, roads, zones, reverse geocoding, region loading and bad input."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import shape

from emergency.config import PROJECT_ROOT
from emergency.errors import ConfigError
from mapping.geocode import extract_places, geocode, reverse
from mapping.names import normalise, road_keys, short_name
from mapping.regions import load_region, utm_epsg
from mapping.zones import expand_codes, zone_geometry, zones_at

REGIONS = PROJECT_ROOT / "sample_data" / "regions"


@pytest.fixture(scope="module")
def portland():
    return load_region("portland")


@pytest.fixture(scope="module")
def columbus():
    return load_region("columbus")


def direct_crossings(region_name: str, a: str, b: str) -> tuple[list[tuple[float, float]], Transformer]:
    """Where roads named ``a`` and ``b`` (full OSM names) cross, computed straight from roads.geojson,
    in metres of the region's UTM zone."""
    meta = json.loads((REGIONS / region_name / "region.json").read_text())
    bbox = meta["bbox"]
    tr = Transformer.from_crs(4326, utm_epsg((bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2), always_xy=True)
    feats = json.loads((REGIONS / region_name / "roads.geojson").read_text())["features"]

    def lines(name):
        return shapely.transform(shapely.union_all([shape(f["geometry"]) for f in feats
                                                    if f["properties"]["name"] == name]),
                                 lambda xy: __import__("numpy").column_stack(tr.transform(xy[:, 0], xy[:, 1])))

    inter = shapely.intersection(lines(a), lines(b))
    return [(p.x, p.y) for p in shapely.get_parts(shapely.extract_unique_points(inter))], tr


def metres_to_nearest(match, pts, tr) -> float:
    x, y = tr.transform(*match.geometry["coordinates"])
    return min(math.hypot(x - px, y - py) for px, py in pts)


# ---------------------------------------------------------------- names

@pytest.mark.parametrize("written", ["SE 82nd Ave", "Southeast 82nd Avenue", "se 82nd ave.", "S.E. 82nd Av",
                                     "SOUTHEAST 82 AVENUE", "SE 82nd  Avenue"])
def test_street_vocabulary_is_normalised(written):
    assert normalise(written) == "se 82nd ave"


def test_accents_case_and_abbreviations():
    assert normalise("Avenida César Chávez") == "avenida cesar chavez"
    assert normalise("MLK Jr Blvd") == normalise("Martin Luther King, Junior Boulevard") == "martin luther king junior blvd"
    assert normalise("Fifth Avenue") == normalise("5th Ave") == "5th ave"
    assert normalise("St Johns Bridge") == "saint johns bridge"
    assert normalise("Foster & 82nd") == "foster and 82nd"


def test_road_keys_from_specific_to_core():
    assert road_keys("Southeast Hawthorne Boulevard") == ["se hawthorne blvd", "hawthorne blvd", "se hawthorne",
                                                          "hawthorne"]
    assert road_keys("Broadway") == ["broadway"]
    assert short_name("Southeast Foster Road") == "SE Foster Rd"


# ---------------------------------------------------------------- intersections

PORTLAND_CROSSINGS = [
    ("SE Hawthorne Blvd & SE 20th Ave", "Southeast Hawthorne Boulevard", "Southeast 20th Avenue"),
    ("Hawthorne and 20th", "Southeast Hawthorne Boulevard", "Southeast 20th Avenue"),
    ("Southeast Division Street at Southeast 26th Avenue", "Southeast Division Street", "Southeast 26th Avenue"),
    ("belmont / 28th", "Southeast Belmont Street", "Southeast 28th Avenue"),
    ("MLK & Burnside", "Southeast Martin Luther King, Junior Boulevard", "East Burnside Street"),
    ("NE Broadway and NE 16th Ave", "Northeast Broadway", "Northeast 16th Avenue"),
    ("NW 23rd & Lovejoy", "Northwest 23rd Avenue", "Northwest Lovejoy Street"),
    ("Sandy Blvd and 20th", "Northeast Sandy Boulevard", "Northeast 20th Avenue"),
]
COLUMBUS_CROSSINGS = [
    ("High St and Broad St", "High Street", "East Broad Street"),
    ("High & Fifth", "High Street", "Fifth Avenue"),
    ("Livingston Ave at Parsons Ave", "Livingston Avenue", "Parsons Avenue"),
    ("Fourth St & Long St", "Fourth Street", "Long Street"),
]


@pytest.mark.parametrize("query,a,b", PORTLAND_CROSSINGS)
def test_portland_intersections_land_within_30_m(portland, query, a, b):
    m = geocode(query, portland)
    assert m is not None and m.kind == "intersection" and m.precision == "intersection"
    assert set(m.names) == {short_name(a), short_name(b)}
    pts, tr = direct_crossings("portland", a, b)
    assert pts, "the two roads cross in the data"
    assert metres_to_nearest(m, pts, tr) <= 30.0


@pytest.mark.parametrize("query,a,b", COLUMBUS_CROSSINGS)
def test_columbus_intersections_land_within_30_m(columbus, query, a, b):
    m = geocode(query, columbus)
    assert m is not None and m.kind == "intersection"
    assert set(m.names) == {short_name(a), short_name(b)}
    pts, tr = direct_crossings("columbus", a, b)
    assert metres_to_nearest(m, pts, tr) <= 30.0
    assert m.label.endswith(", Columbus")


def test_roads_that_do_not_cross_are_not_an_intersection(portland):
    m = geocode("Hawthorne and Division", portland)  # parallel streets
    assert m is None or m.kind != "intersection"


# ---------------------------------------------------------------- places, roads, zones

def test_place_names(portland):
    m = geocode("Gresham", portland)
    assert (m.kind, m.names, m.precision) == ("place", ("Gresham",), "place")
    lon, lat = m.geometry["coordinates"]
    assert abs(lat - 45.498) < 0.01 and abs(lon + 122.431) < 0.01
    assert geocode("PDX", portland).names == ("Portland",)  # an alternate name of a big place


def test_ambiguity_goes_to_the_region(columbus, portland):
    assert geocode("Columbus", columbus).geometry["coordinates"][1] == pytest.approx(39.96, abs=0.05)
    assert geocode("Springfield", portland).names == ("Springfield",)  # the Oregon one, from Oregon's list
    assert geocode("Springfield", portland).geometry["coordinates"][1] == pytest.approx(44.05, abs=0.05)


def test_a_named_road_is_a_line(portland):
    m = geocode("SE Hawthorne Blvd", portland)
    assert (m.kind, m.names, m.precision) == ("road", ("SE Hawthorne Blvd",), "street")
    assert m.geometry["type"] in ("LineString", "MultiLineString")
    assert m.confidence >= 0.85
    assert geocode("Hawthorne Bridge", portland).names == ("Hawthorne Bridge",)


def test_typos_are_tolerated_with_less_confidence(portland):
    exact, typo = geocode("Hawthorne Blvd", portland), geocode("Hawthrone Blvd", portland)
    assert typo.names == exact.names == ("SE Hawthorne Blvd",)
    assert typo.confidence < exact.confidence


@pytest.mark.parametrize("query", ["SE 39th Ave", "SE 99th Ave", "Southeast 39th Avenue", "39th",
                                   "Hawthorne and 39th", "SE 39th Ave & SE Hawthorne Blvd"])
def test_a_numbered_street_never_matches_another_number(portland, query):
    """The region has SE 9th but no 39th or 99th: they were read as "SE 9th Ave" (a typo of 9th)."""
    m = geocode(query, portland)
    assert m is None or all(n == "SE Hawthorne Blvd" for n in m.names), m
    if "hawthorne" not in normalise(query):
        assert portland.gazetteer.fuzzy(normalise(query)) == []
        assert portland.gazetteer.candidates(normalise(query)) == []


def test_numbers_in_free_text_are_never_renumbered(portland):
    found = extract_places("Tree down on SE Hawthorne Blvd at SE 39th Ave, and SE 99th Ave is flooded", portland)
    assert [m.names for m in found] == [("SE Hawthorne Blvd",)]
    # the same number under another spelling, and typos of words, still match
    assert geocode("Southeast 12th Avenue", portland).names == ("SE 12th Ave",)
    assert geocode("SE Hawthrone Blvd", portland).names == ("SE Hawthorne Blvd",)


def test_suggestions_for_a_missing_number_are_nearby_numbers_under_their_own_names(portland):
    gaz = portland.gazetteer
    names = gaz.suggest_roads("SE 39th Ave")
    assert names[:2] == ["SE 33rd Ave", "SE 32nd Ave"]
    assert "SE 9th Ave" in gaz.suggest_roads("SE 9th Ave")[:1] and "SE 9th Ave" not in names[:5]
    assert gaz.exact_roads("Southeast 12th Avenue")[0].road.name == "Southeast 12th Avenue"
    assert gaz.exact_roads("12th") == [] and gaz.exact_roads("Hawthorne Blvd") == []


def test_zone_codes_and_names(portland):
    m = geocode("ORZ111", portland)
    assert (m.kind, m.precision, m.names) == ("region", "region", ("ORZ111", "Inner Portland Metro"))
    assert m.geometry["type"] in ("Polygon", "MultiPolygon")
    assert geocode("Multnomah County", portland).names == ("ORC051", "Multnomah")


def test_ugc_ranges_same_codes_and_point_to_zone(portland):
    assert expand_codes("ORZ110>112-115 orc051") == ["ORZ110", "ORZ111", "ORZ112", "ORZ115", "ORC051"]
    union = zone_geometry("ORZ110>111", portland)
    assert union["codes"] == ["ORZ110", "ORZ111"]
    assert zone_geometry("041051", portland)["codes"] == ["ORC051"]  # SAME: 0 + FIPS 41051
    codes = [z["code"] for z in zones_at(45.52, -122.67, portland)]
    assert "ORC051" in codes and "ORZ111" in codes
    with pytest.raises(ValueError, match="ORZ999 is not a zone of Portland"):
        zone_geometry("ORZ999", portland)
    with pytest.raises(ValueError, match="not a UGC code"):
        expand_codes("Z1")


# ---------------------------------------------------------------- reverse

def test_reverse_names_the_nearest_road_and_place(portland):
    # mid-block on SE Hawthorne Blvd between 16th and 17th, 5 m (0.000045 degrees) north of it
    a = geocode("Hawthorne & 16th", portland).geometry["coordinates"]
    b = geocode("Hawthorne & 17th", portland).geometry["coordinates"]
    r = reverse((a[1] + b[1]) / 2 + 0.000045, (a[0] + b[0]) / 2, portland)
    assert r["road"] == "SE Hawthorne Blvd"
    assert r["distance_m"] < 15
    assert r["place"] == "Portland"
    assert r["label"] == "near SE Hawthorne Blvd, Portland"


def test_reverse_far_from_roads_still_labels_the_place(portland):
    r = reverse(45.4982, -122.4315, portland)  # Gresham, outside the road extract
    assert r["road"] is None and r["place"] == "Gresham" and r["label"] == "near Gresham"


@pytest.mark.parametrize("lat,lon,msg", [(95, 0, "lat: must be between -90 and 90"),
                                         (0, 200, "lon: must be between -180 and 180"),
                                         (float("nan"), 0, "lat: must be a finite number")])
def test_reverse_refuses_coordinates_out_of_range(portland, lat, lon, msg):
    with pytest.raises(ValueError, match=msg):
        reverse(lat, lon, portland)


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("text", ["", "   ", "\n\t", "!!!???", "東京都渋谷区で火事", "Пожар на улице",
                                  "حريق في الشارع", "x" * 10_000, "fire " * 2_000, "\x00\x01", "12345"])
def test_bad_or_foreign_text_gives_no_match_not_an_exception(portland, text):
    assert geocode(text, portland) is None
    assert extract_places(text, portland) == []


def test_a_10_kb_report_still_finds_its_places(portland):
    text = "wind " * 1000 + "tree down at Hawthorne & 12th " + "rain " * 1000
    found = extract_places(text, portland)
    assert [m.names for m in found] == [("SE Hawthorne Blvd", "SE 12th Ave")]
    assert geocode(text, portland).names == ("SE Hawthorne Blvd", "SE 12th Ave")


def test_non_string_input_is_no_match(portland):
    assert geocode(None, portland) is None  # type: ignore[arg-type]
    assert extract_places(None, portland) == []  # type: ignore[arg-type]


# ---------------------------------------------------------------- region packs

def test_regions_load_by_name_or_directory_and_are_cached(tmp_path):
    assert load_region("portland") is load_region(REGIONS / "portland")
    copy = tmp_path / "mytown"
    shutil.copytree(REGIONS / "columbus", copy)
    (copy / "places.json").write_text("[]")
    (copy / "zones.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    mine = load_region(str(copy))
    assert mine.key == "mytown" and mine.crs == 32617 and not mine.places and not mine.zones
    assert geocode("High and Broad", mine).kind == "intersection"
    assert geocode("Columbus", mine).kind == "road"  # no places in this pack: only Columbus St is left


def test_projected_crs_is_the_utm_zone_of_the_region(portland, columbus):
    assert portland.crs == 32610 and columbus.crs == 32617


@pytest.mark.parametrize("name", ["", "nowhere", "/tmp/definitely/not/a/region"])
def test_unknown_region_is_a_clear_error(name):
    with pytest.raises(ConfigError, match="region: "):
        load_region(name)
