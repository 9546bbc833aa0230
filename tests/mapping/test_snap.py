"""Road-closure snapping on real roads: road + cross streets, rough drawn lines, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod
from shapely.geometry import LineString, shape

from mapping.geocode import geocode
from mapping.regions import load_region
from mapping.snap import SnapError, snap_between, snap_line

GEOD = Geod(ellps="WGS84")
portland, columbus = load_region("portland"), load_region("columbus")  # loaded once, cached


def follows(region, geometry: dict, road_name: str, within_m: float = 1.0) -> float:
    """Largest distance (m) from the snapped line's vertices to the named road, checked <= within_m."""
    road = region.roads[road_name].line_m
    pts = region.project(shape(geometry))
    import shapely

    worst = max(road.distance(shapely.Point(xy)) for xy in shapely.get_coordinates(pts))
    assert worst <= within_m
    return worst


def geodesic_length_m(geometry: dict) -> float:
    lines = [geometry["coordinates"]] if geometry["type"] == "LineString" else geometry["coordinates"]
    return sum(GEOD.line_length([p[0] for p in line], [p[1] for p in line]) for line in lines)


def test_road_between_two_cross_streets_follows_the_road():
    s = snap_between(portland, "SE Hawthorne Blvd", "SE 12th Ave", "SE 20th Ave")
    assert s.names == ("SE Hawthorne Blvd", "SE 12th Ave", "SE 20th Ave")
    assert s.geometry["type"] == "LineString"
    follows(portland, s.geometry, "Southeast Hawthorne Boulevard")
    start = geocode("SE Hawthorne Blvd & SE 12th Ave", portland).geometry["coordinates"]
    end = geocode("SE Hawthorne Blvd & SE 20th Ave", portland).geometry["coordinates"]
    ends = [s.geometry["coordinates"][0], s.geometry["coordinates"][-1]]
    for want in (start, end):
        assert min(GEOD.inv(want[0], want[1], e[0], e[1])[2] for e in ends) <= 30
    straight = GEOD.inv(start[0], start[1], end[0], end[1])[2]
    assert straight * 0.95 <= s.length_m <= straight * 1.2
    assert s.length_m == pytest.approx(geodesic_length_m(s.geometry), rel=0.01)  # metres, not degrees


def test_cross_streets_written_loosely():
    s = snap_between(portland, "hawthorne", "12th", "20th")
    assert s.names == ("SE Hawthorne Blvd", "SE 12th Ave", "SE 20th Ave")
    reverse = snap_between(portland, "Hawthorne Blvd", "SE 20th Avenue", "Southeast 12th Avenue")
    assert reverse.length_m == pytest.approx(s.length_m, abs=1.0)


def test_a_bridge_closure():
    s = snap_between(portland, "E Burnside St", "MLK", "SE Grand Ave")
    follows(portland, s.geometry, "East Burnside Street")
    assert 40 < s.length_m < 200


def test_columbus_closure():
    s = snap_between(columbus, "High St", "Broad St", "Long St")
    assert s.names[0] == "High St"
    follows(columbus, s.geometry, "High Street")
    assert 100 < s.length_m < 800


def test_misspelt_road_is_recognised_and_unknown_road_names_the_part():
    assert snap_between(portland, "SE Hawthorn Blvd", "SE 12th Ave", "SE 20th Ave").names[0] == "SE Hawthorne Blvd"
    with pytest.raises(SnapError) as err:
        snap_between(portland, "SE Foster Rd", "SE 82nd Ave", "SE 92nd Ave")
    assert err.value.field == "road"
    assert str(err.value).startswith('road: no road "SE Foster Rd" in region portland; did you mean ')
    assert err.value.suggestions  # close matches offered


def test_cross_street_that_does_not_cross():
    with pytest.raises(SnapError) as err:
        snap_between(portland, "SE Hawthorne Blvd", "SE 12th Ave", "SE Division St")
    assert err.value.field == "to"
    assert 'does not cross "SE Hawthorne Blvd"' in str(err.value)
    with pytest.raises(SnapError) as err:
        snap_between(portland, "SE Hawthorne Blvd", "Nowhere Lane", "SE 20th Ave")
    assert err.value.field == "from" and 'no road "Nowhere Lane"' in str(err.value)


@pytest.mark.parametrize("bad", ["", "   ", "!!!"])
def test_empty_names(bad):
    with pytest.raises(SnapError, match="road: must name a street"):
        snap_between(portland, bad, "12th", "20th")


def rough_line_along(region, road_name: str, a: str, b: str, offset_m: float, seed: int) -> dict:
    """A hand-drawn-looking line: the stretch between two crossings, offset and jittered by metres."""
    s = snap_between(region, road_name, a, b)
    line_m = region.project(shape(s.geometry)).offset_curve(offset_m)
    rng = np.random.default_rng(seed)
    pts = [line_m.interpolate(f, normalized=True) for f in np.linspace(0, 1, 9)]
    jittered = LineString([(p.x + rng.normal(0, 3), p.y + rng.normal(0, 3)) for p in pts])
    return {"type": "LineString", "coordinates": [list(c) for c in region.unproject(jittered).coords]}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_rough_drawn_line_snaps_to_the_road_it_follows(seed):
    drawn = rough_line_along(portland, "SE Hawthorne Blvd", "SE 12th Ave", "SE 20th Ave", 12.0, seed)
    s = snap_line(portland, drawn)
    assert s.names == ("SE Hawthorne Blvd",)
    follows(portland, s.geometry, "Southeast Hawthorne Boulevard")
    assert s.length_m == pytest.approx(geodesic_length_m(drawn), rel=0.1)


def test_a_line_far_from_any_road_is_refused():
    river = {"type": "LineString", "coordinates": [[-122.6690, 45.5080], [-122.6700, 45.5000]]}  # the Willamette
    with pytest.raises(SnapError) as err:
        snap_line(portland, river)
    assert err.value.field == "geometry" and "within 30 m of a named road" in str(err.value)
