"""``emergency geo ...``: JSON lines out, region by name or directory, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from emergency.config import PROJECT_ROOT


def geo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emergency.assembly.cli", "geo", *args], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "EMERGENCY_REGION_DIR": str(PROJECT_ROOT / "sample_data/regions/portland")})


def lines(done: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.mark.parametrize("command", [[], ["geocode"], ["extract"], ["reverse"], ["snap"], ["zone"]])
def test_every_geo_command_has_help(command):
    done = geo(*command, "--help")
    assert done.returncode == 0 and done.stdout.startswith("usage: emergency geo")


def test_geocode_prints_one_json_object():
    done = geo("geocode", "Hawthorne", "and", "20th")
    assert done.returncode == 0
    [m] = lines(done)
    assert m["kind"] == "intersection" and m["names"] == ["SE Hawthorne Blvd", "SE 20th Ave"]
    assert m["geometry"]["type"] == "Point" and m["span"] is None


def test_extract_prints_one_line_per_mention_with_spans():
    text = "tree down on Belmont near 28th, also flooding in Gresham"
    done = geo("extract", text)
    found = lines(done)
    assert [m["kind"] for m in found] == ["intersection", "place"]
    assert all(text[m["span"][0]:m["span"][1]] == m["text"] for m in found)


COVERAGE = ("no match in region portland, which covers central Portland: named streets from the West Hills east "
            "to NE/SE 33rd Ave")


def test_nothing_found_is_exit_1_with_json_saying_what_the_region_covers():
    done = geo("geocode", "nothing to see here")
    assert done.returncode == 1
    [answer] = lines(done)
    assert answer["text"] == "nothing to see here" and answer["match"] is None
    assert answer["reason"].startswith(COVERAGE)
    # the README's old example: SE Foster Rd and SE 82nd Ave lie east of the shipped streets
    [answer] = lines(geo("geocode", "Foster and 82nd"))
    assert answer["match"] is None and answer["reason"].startswith(COVERAGE), answer
    done = geo("extract", "lol the wind")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("emergency: no place mentioned: " + COVERAGE)


def test_reverse_snap_and_zone():
    [r] = lines(geo("reverse", "45.5122", "-122.6587"))
    assert r["label"].startswith("near ") and r["distance_m"] < 30
    [s] = lines(geo("snap", "--road", "SE Hawthorne Blvd", "--from", "SE 12th Ave", "--to", "SE 20th Ave"))
    assert s["names"] == ["SE Hawthorne Blvd", "SE 12th Ave", "SE 20th Ave"] and 600 < s["length_m"] < 720
    rough = {"type": "LineString", "coordinates": [[-122.6532, 45.51232], [-122.6500, 45.51208], [-122.6455, 45.51205]]}
    [d] = lines(geo("snap", "--line", json.dumps(rough)))
    assert d["names"] == ["SE Hawthorne Blvd"] and 500 < d["length_m"] < 700
    zones = lines(geo("zone", "ORZ111", "--at", "45.52", "-122.67"))
    assert zones[0]["codes"] == ["ORZ111"] and {"code": "ORC051", "name": "Multnomah"} in zones[1:]


def test_region_by_name_or_directory():
    [m] = lines(geo("geocode", "--region", "columbus", "High", "and", "Broad"))
    assert m["label"] == "High St & E Broad St, Columbus"
    [d] = lines(geo("geocode", "--region", str(PROJECT_ROOT / "sample_data/regions/columbus"), "High and Broad"))
    assert d == m


@pytest.mark.parametrize("args,message", [
    (["reverse", "95", "0"], "emergency: error: lat: must be between -90 and 90, got 95"),
    (["snap", "--road", "SE Foster Rd", "--from", "82nd", "--to", "92nd"],
     'emergency: error: road: no road "SE Foster Rd" in region portland; did you mean '),
    (["geocode", "--region", "atlantis", "x"], "emergency: error: region: 'atlantis' is neither a region name"),
    (["zone", "BAD"], "emergency: error: zone: 'BAD' is not a UGC code"),
    (["snap", "--road", "Hawthorne"], "emergency: error: snap: --road needs --from and --to"),
    (["snap", "--line", "{nope"], "emergency: error: --line: not JSON"),
    (["snap"], "emergency: error: snap: give --road with --from and --to, or --line"),
])
def test_errors_are_one_line_exit_2(args, message):
    done = geo(*args)
    assert done.returncode == 2
    assert done.stderr.startswith(message) and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
