"""``POST /api/v1/agency/bulk?kind=``: every format built here with geopandas (GeoJSON, CSV with lat/lon
and with WKT, zipped Shapefile in EPSG:32610, GeoPackage in EPSG:3857, KML), reprojected to WGS 84,
answered per row (bad rows named by row and field, the good ones accepted), all-or-nothing, re-upload
updates, type checked by content."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from tests.conftest import make_settings, start_system
from tests.emergency.assembly.test_durability import run_cli
from tests.feeds.agency.test_inputs_api import features

URL = "/api/v1/agency/bulk"
POINTS = [(-122.6587, 45.5122), (-122.6500, 45.5200), (-122.6400, 45.5050)]


def shelters_frame(n: int = 3, prefix: str = "B") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"reference": [f"{prefix}{i}" for i in range(n)],
                             "name": [f"Shelter {i}" for i in range(n)],
                             "capacity": [100 + i for i in range(n)], "occupancy": [10 * i for i in range(n)]},
                            geometry=[shapely.Point(*POINTS[i % 3]) for i in range(n)], crs="EPSG:4326")


def written(frame: gpd.GeoDataFrame, tmp_path: Path, driver: str, suffix: str) -> bytes:
    path = tmp_path / f"upload{suffix}"
    frame.to_file(path, driver=driver, engine="pyogrio")
    return path.read_bytes()


def zipped_shapefile(frame: gpd.GeoDataFrame, tmp_path: Path) -> bytes:
    folder = tmp_path / "shp"
    folder.mkdir()
    frame.to_file(folder / "shelters.shp", engine="pyogrio")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for f in folder.iterdir():
            z.write(f, f.name)
    return buf.getvalue()


async def upload(system, kind: str, data: bytes, name: str = "upload.bin", **params):
    return await system.http.post(URL, params={"kind": kind, **params}, files={"file": (name, data)},
                                  headers=system.auth("agency"))


def near(geometry: dict, lon: float, lat: float) -> bool:
    x, y = geometry["coordinates"]
    return abs(x - lon) < 1e-6 and abs(y - lat) < 1e-6


@pytest.mark.parametrize("fmt", ["geojson", "shapefile", "geopackage", "kml"])
async def test_each_format_reaches_the_layer_in_wgs84(system, tmp_path, fmt):
    frame = shelters_frame()
    if fmt == "geojson":
        data = written(frame, tmp_path, "GeoJSON", ".geojson")
    elif fmt == "shapefile":
        data = zipped_shapefile(frame.to_crs("EPSG:32610"), tmp_path)  # UTM zone 10N, metres
    elif fmt == "geopackage":
        data = written(frame.to_crs("EPSG:3857"), tmp_path, "GPKG", ".gpkg")
    else:
        data = written(frame, tmp_path, "KML", ".kml")
    r = await upload(system, "shelters", data, name="no-extension-needed")
    assert r.status_code == 202, r.text
    answer = r.json()
    assert (answer["format"], answer["rows"], answer["accepted"], answer["rejected"]) == (fmt, 3, 3, 0)
    assert answer["ignored_columns"] == []
    assert [row["id"] for row in answer["results"]] == [f"agency:city-of-portland:shelter:B{i}" for i in range(3)]
    found = await features(system, "/api/v1/shelters")
    for i, (lon, lat) in enumerate(POINTS):
        f = found[f"agency:city-of-portland:shelter:B{i}"]
        assert near(f["geometry"], lon, lat), (fmt, f["geometry"])
        assert (f["properties"]["name"], f["properties"]["capacity"]) == (f"Shelter {i}", 100 + i)


async def test_csv_with_bad_rows_names_each_and_accepts_the_rest(system):
    csv = ("reference,name,capacity,occupancy,lat,lon,colour\n"
           "C1,Gym,100,10,45.5122,-122.6587,red\n"
           "C2,Church,50,80,45.52,-122.65,red\n"          # occupancy above capacity
           "C3,School,50,5,,-122.65,red\n"                # no latitude
           "C4,Far away,50,5,47.6,-122.33,red\n"          # outside the jurisdiction
           "C1,Again,100,10,45.5122,-122.6587,red\n"      # repeats row 1
           "C6,Hall,lots,5,45.51,-122.64,red\n")          # capacity not a number
    r = await upload(system, "shelters", csv.encode())
    assert r.status_code == 202, r.text
    answer = r.json()
    assert (answer["format"], answer["rows"], answer["accepted"], answer["rejected"]) == ("csv", 6, 1, 5)
    assert answer["ignored_columns"] == ["colour"]
    refused = {row["row"]: (row["field"], row["error"]) for row in answer["results"] if row["error"]}
    assert refused[2] == ("occupancy", "80 is more than the capacity 50")
    assert refused[3] == ("geometry", "is missing or unreadable")
    assert refused[4] == ("geometry", "lies outside the jurisdiction of City of Portland")
    assert refused[5] == ("reference", "repeats row 1")
    assert refused[6][0] == "capacity"
    assert answer["results"][0]["id"] == "agency:city-of-portland:shelter:C1"
    assert set(await features(system, "/api/v1/shelters")) == {"agency:city-of-portland:shelter:C1"}
    # all or nothing: the same file journals nothing
    before = (await system.runtime.store.journal_counts()).total
    r = await upload(system, "shelters", csv.encode(), all_or_nothing="true")
    assert r.status_code == 422 and r.json()["detail"] == "file: 5 of 6 rows refused; with all_or_nothing nothing " \
                                                          "was accepted"
    assert r.json()["accepted"] == 0 and r.json()["committed"] is False
    assert (await system.runtime.store.journal_counts()).total == before


async def test_csv_with_wkt_and_a_projected_crs_and_a_reupload_updates(system):
    utm = gpd.GeoSeries([shapely.Point(*POINTS[0]), shapely.Point(*POINTS[1])], crs=4326).to_crs(32610)
    counts = json.dumps({"structures": 2, "households": 3}).replace('"', '""')
    csv = "reference,place,kind,level,counts,wkt\n" + "".join(
        f'W{i},{i} SE Main St,residential,{level},"{counts}",{p.wkt}\n'
        for i, (p, level) in enumerate(zip(utm, ("minor", "major"), strict=True)))
    r = await upload(system, "damage-reports", csv.encode(), crs="EPSG:32610")
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 2, r.text
    found = await features(system, "/api/v1/damage-reports")
    f = found["agency:city-of-portland:damage:W1"]
    x, y = f["geometry"]["coordinates"]
    assert abs(x - POINTS[1][0]) < 1e-5 and abs(y - POINTS[1][1]) < 1e-5
    assert f["properties"]["counts"] == {"structures": 2, "households": 3, "people_displaced": None}
    # the same references again update the items: no duplicates
    r = await upload(system, "damage-reports", csv.replace("major", "destroyed").encode(), crs="EPSG:32610")
    assert r.status_code == 202 and [row["id"] for row in r.json()["results"]] == [
        "agency:city-of-portland:damage:W0", "agency:city-of-portland:damage:W1"]
    found = await features(system, "/api/v1/damage-reports")
    assert len(found) == 2 and found["agency:city-of-portland:damage:W1"]["properties"]["level"] == "destroyed"


async def test_files_are_checked_by_content(system, tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    r = await upload(system, "shelters", png, name="shelters.csv")
    assert r.status_code == 422 and r.json()["detail"].startswith("file: is not GeoJSON, CSV")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "no shapefile here")
    r = await upload(system, "shelters", buf.getvalue(), name="shelters.zip")
    assert r.status_code == 422 and r.json()["detail"].startswith("file: is a ZIP file without a .shp")
    r = await upload(system, "shelters", b'{"type": "FeatureCollection", "features": [}', name="x.geojson")
    assert r.status_code == 422 and r.json()["detail"].startswith("file: cannot be read as geojson")
    r = await upload(system, "volcanoes", written(shelters_frame(), tmp_path, "GeoJSON", ".geojson"))
    assert r.status_code == 422 and r.json()["detail"].startswith("kind: 'volcanoes' is not one of")
    r = await upload(system, "shelters", b"reference,name\nA,B\n")
    assert r.status_code == 422 and r.json()["detail"].startswith("file: a CSV file needs lat and lon")


async def test_the_command_line_uploads_with_progress(system, tmp_path):
    path = tmp_path / "shelters.geojson"
    path.write_bytes(written(shelters_frame(4, prefix="CLI"), tmp_path, "GeoJSON", ".geojson"))
    env = {"EMERGENCY_STORE_URL": system.settings.store_url, "EMERGENCY_DATA_DIR": str(system.settings.data_dir)}
    done = run_cli("agency", "upload", str(path), "--kind", "shelters", "--token", system.tokens["agency"], env=env)
    assert done.returncode == 0, done.stderr
    assert "uploading shelters.geojson 4" in done.stderr  # the progress line
    assert "4 rows of geojson: 4 accepted, 0 refused; journaled" in done.stderr
    assert len([i for i in await features(system, "/api/v1/shelters") if ":shelter:CLI" in i]) == 4
    bad = tmp_path / "bad.csv"
    bad.write_text("reference,name,capacity,lat,lon\nX1,Gym,10,45.51,-122.65\nX2,Hall,-1,45.51,-122.65\n")
    done = run_cli("agency", "upload", str(bad), "--kind", "shelters", "--token", system.tokens["agency"], env=env)
    assert done.returncode == 1 and '"row":2' in done.stdout and '"field":"capacity"' in done.stdout
    done = run_cli("agency", "upload", str(bad), "--kind", "shelters", "--token", "nope", env=env)
    assert done.returncode == 2 and "--token" in done.stderr


async def test_the_file_size_is_a_setting_of_its_own(broker, sqlite_url, tmp_path):
    system, task, server = await start_system(make_settings(broker, sqlite_url, tmp_path, bulk_max_bytes=400_000),
                                              broker)
    try:
        place = "x" * 250  # fat rows: a file above 256 KiB in few rows
        rows = "".join(f"L{i},Shelter number {i:06d},{place},100,45.51,-122.65\n" for i in range(1100))
        data = ("reference,name,place,capacity,lat,lon\n" + rows).encode()
        assert 256 * 1024 < len(data) < 400_000  # above the JSON bodies' limit, below the bulk one
        r = await upload(system, "shelters", data)
        assert r.status_code == 202 and r.json()["accepted"] == 1100, r.text[:300]
        r = await upload(system, "shelters", data + data[30:])
        assert r.status_code == 413 and r.json()["detail"].endswith("the limit is 400000 bytes")
    finally:
        await system.http.aclose()
        server.should_exit = True
        await task
        await system.runtime.stop()
