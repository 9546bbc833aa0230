"""Photos through the real system on both stores: multipart reports, the EXIF GPS hint echoed, who sees a photo
(coordinators at once, the public once the report is verified), damage report photos, and every refusal naming
its field."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from feeds.photos.repository import PHOTOS
from tests.conftest import eventually, make_settings, report_body, start_system
from tests.emergency.cop.test_incidents import act, incident_of
from tests.feeds.agency.test_inputs_api import damage
from tests.feeds.photos import images

PHOTO_MAX = 200_000


@pytest.fixture
async def photo_system(broker, store_url, tmp_path):
    system, task, server = await start_system(make_settings(broker, store_url, tmp_path, photo_max_bytes=PHOTO_MAX,
                                                            photo_max_pixels=4_000_000), broker)
    yield system
    await system.http.aclose()
    server.should_exit = True
    await task
    await system.runtime.stop()


def parts(report: dict | str | None, *photos: bytes, name: str = "photo", **extra) -> dict:
    """httpx ``data``/``files`` for a multipart report."""
    files = [(name, (f"IMG_{i}.jpg", data, "image/jpeg")) for i, data in enumerate(photos)]
    data = {} if report is None else {"report": report if isinstance(report, str) else json.dumps(report)}
    return {"data": {**data, **extra}, "files": files or None}


async def post(system, path: str = "/api/v1/reports", headers: dict | None = None, **kw):
    return await system.http.post(path, headers=headers, **{k: v for k, v in kw.items() if v is not None})


async def feature(system, event_id: str, headers: dict | None = None) -> dict:
    async def found():
        r = await system.http.get(f"/api/v1/events/{event_id}", headers=headers)
        return r.json() if r.status_code == 200 else None

    return await eventually(found)


async def test_a_photo_places_a_report_without_location_and_only_coordinators_see_it_until_verified(photo_system):
    system = photo_system
    body = {"category": "smoke", "text": "Smoke over the school"}  # no lat/lon, no location_text
    r = await post(system, **parts(body, images.jpeg(gps=(45.5122, -122.6587))), headers={"Idempotency-Key": "p-1"})
    assert r.status_code == 202, r.text
    answer = r.json()
    assert answer["located"]["source"] == "photo"  # echoed: the place came from the photo
    assert answer["located"]["label"] == "the photo's GPS position (EXIF)"
    assert (answer["located"]["lat"], answer["located"]["lon"]) == pytest.approx((45.5122, -122.6587), abs=1e-6)
    [photo] = answer["photos"]
    assert photo["media_type"] == "image/jpeg" and photo["url"] == f"/api/v1/photos/{photo['id']}"

    # stored once, under its hash, without any metadata; both stores keep the reference
    files = [p for p in (Path(system.settings.data_dir) / "photos").rglob("*") if p.is_file()]
    assert [f.name for f in files] == [f"{photo['id']}.jpg"]
    stored = Image.open(files[0])
    assert not dict(stored.getexif()) and not {"exif", "xmp", "icc_profile", "comment"} & set(stored.info)
    [record] = await system.runtime.store.repository(PHOTOS).owners(photo["id"])
    assert (record.owner_id, record.media_type, record.width, record.height) == (answer["id"], "image/jpeg", 96, 64)

    # a retry with the same key and the same report and photo: the same id, the photo stored once
    again = await post(system, **parts(body, images.jpeg(gps=(45.5122, -122.6587))), headers={"Idempotency-Key": "p-1"})
    assert again.status_code == 202 and again.json() == {**answer, "duplicate": True}
    assert len(await system.runtime.store.repository(PHOTOS).owners(photo["id"])) == 1
    assert len([p for p in (Path(system.settings.data_dir) / "photos").rglob("*") if p.is_file()]) == 1

    # before verification: the public gets the same 404 as for an unknown photo; a coordinator gets it
    url = photo["url"]
    public = await system.http.get(url)
    unknown = await system.http.get("/api/v1/photos/" + "0" * 64)
    assert public.status_code == unknown.status_code == 404 and public.json() == unknown.json()
    coordinator = await system.http.get(url, headers=system.auth("coordinator"))
    assert coordinator.status_code == 200 and coordinator.content == files[0].read_bytes()
    assert coordinator.headers["content-type"] == "image/jpeg"
    assert coordinator.headers["x-content-type-options"] == "nosniff"
    assert coordinator.headers["content-disposition"].startswith("inline")
    assert coordinator.headers["cache-control"].startswith("private")
    assert (await system.http.get(url, headers=system.auth("agency"))).status_code == 404
    coordinator_view = await feature(system, answer["id"], headers=system.auth("coordinator"))
    assert coordinator_view["properties"]["photos"] == [photo]
    assert "photos" not in (await feature(system, answer["id"]))["properties"]

    # a coordinator verifies the incident: now the public sees the photo, on the feature and by its URL
    incident_id = await incident_of(system, answer["id"])
    assert (await act(system, incident_id, "verify", reason="crew on site")).status_code == 202

    async def public_photo():
        r = await system.http.get(url)
        return r if r.status_code == 200 else None

    shown = await eventually(public_photo)
    assert shown.content == files[0].read_bytes() and shown.headers["cache-control"].startswith("public")
    assert (await feature(system, answer["id"]))["properties"]["photos"] == [photo]


async def test_a_reports_own_location_wins_over_the_photos_gps(photo_system):
    r = await post(photo_system, **parts(report_body(), images.jpeg(gps=(-33.8688, 151.2093))))
    assert r.status_code == 202, r.text
    located = r.json()["located"]
    assert "source" not in located and (located["lat"], located["lon"]) == (45.5122, -122.6587)


async def test_no_location_and_no_gps_is_todays_422(photo_system):
    r = await post(photo_system, **parts({"category": "smoke"}, images.jpeg()))
    assert r.status_code == 422
    assert r.json()["detail"] == "location_text: give lat and lon, or a location_text to geocode"


async def test_the_json_api_is_unchanged(photo_system):
    r = await photo_system.http.post("/api/v1/reports", json=report_body())
    assert r.status_code == 202 and set(r.json()) == {"id", "status", "duplicate", "located", "tracking_url"}
    assert set(r.json()["located"]) == {"label", "geo_precision", "lat", "lon"}
    bad = await photo_system.http.post("/api/v1/reports", content=b'{"category": ', headers={
        "Content-Type": "application/json"})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("body: malformed JSON at character")
    wrong = await photo_system.http.post("/api/v1/reports", json=report_body(category="lava"))
    assert wrong.status_code == 422 and wrong.json()["detail"].startswith("category: ")


async def test_photo_refusals_name_the_field(photo_system):
    system = photo_system
    heic = await post(system, **parts(report_body(), images.HEIC))
    assert heic.status_code == 415 and heic.json()["detail"].startswith("photo: HEIC/HEIF images are not accepted")
    assert "JPEG" in heic.json()["detail"]
    svg = await post(system, **parts(report_body(), images.SVG))
    assert svg.status_code == 415 and svg.json()["detail"].startswith("photo: not a JPEG, PNG or WebP image")
    bomb = await post(system, **parts(report_body(), images.png_bomb()))
    assert bomb.status_code == 413 and bomb.json()["detail"].startswith("photo: ")
    data = images.jpeg(size=(256, 256))
    truncated = await post(system, **parts(report_body(), data[: len(data) // 2]))
    assert truncated.status_code == 422 and "truncated" in truncated.json()["detail"]
    big = await post(system, **parts(report_body(), images.jpeg(size=(600, 600))))  # noise: > 200 kB
    assert big.status_code == 413 and big.json()["detail"].startswith("photo: the photo is larger than the limit")
    too_many = await post(system, **parts(report_body(), *[images.jpeg()] * 4))
    assert too_many.status_code == 422 and too_many.json()["detail"] == "photo: at most 3 photos per report"
    wrong_name = await post(system, **parts(report_body(), images.jpeg(), name="image"))
    assert wrong_name.status_code == 422 and wrong_name.json()["detail"].startswith("image: unknown part")
    assert wrong_name.json()["candidates"] == ["report", "photo"]
    missing = await post(system, **parts(None, images.jpeg()))
    assert missing.status_code == 422 and missing.json()["detail"].startswith("report: give exactly one report part")
    as_text = await system.http.post("/api/v1/reports", files=[("report", (None, json.dumps(report_body()))),
                                                                ("photo", (None, b"not a file"))])
    assert as_text.status_code == 422 and as_text.json()["detail"].startswith("photo: must be a file part")
    form = await system.http.post("/api/v1/reports", data={"report": json.dumps(report_body())})
    assert form.status_code == 422 and form.json()["detail"].startswith("body: send JSON")
    bad_json = await post(system, **parts("{nope", images.jpeg()))
    assert bad_json.status_code == 422 and bad_json.json()["detail"].startswith("report: malformed JSON")
    bad_field = await post(system, **parts(report_body(category="lava"), images.jpeg()))
    assert bad_field.status_code == 422 and bad_field.json()["detail"].startswith("report.category: ")
    huge = await system.http.post("/api/v1/reports", content=b"x" * (4 * PHOTO_MAX + 400_000),
                                  headers={"Content-Type": "multipart/form-data; boundary=zz"})
    assert huge.status_code == 413 and huge.json()["detail"].startswith("body: ")
    json_too_big = await system.http.post("/api/v1/reports", content=json.dumps(
        report_body(text="x" * 300_000)).encode(), headers={"Content-Type": "application/json"})
    assert json_too_big.status_code == 413 and json_too_big.json()["detail"].startswith("body: ")
    assert (await system.runtime.store.journal_counts()).total == 0  # nothing refused was journaled
    assert not (Path(system.settings.data_dir) / "photos").exists() or not any(
        p.is_file() for p in (Path(system.settings.data_dir) / "photos").rglob("*"))


async def test_damage_report_photos_are_public_while_the_report_is_on_the_map(photo_system):
    system = photo_system
    r = await post(system, "/api/v1/agency/damage-reports", headers=system.auth("agency"),
                   **parts(damage("D-PHOTO"), images.png_with_text(), images.webp()))
    assert r.status_code == 202, r.text
    refs = r.json()["understood"]["photos"]
    assert [p["media_type"] for p in refs] == ["image/png", "image/webp"]
    item = await feature(system, r.json()["id"])
    assert item["properties"]["photos"] == refs  # an agency input is public: so are its photos
    for ref in refs:
        shown = await system.http.get(ref["url"])
        assert shown.status_code == 200 and shown.headers["content-type"] == ref["media_type"]
        assert not {"exif", "xmp", "icc_profile", "Author", "Comment", "Description"} & set(
            Image.open(io.BytesIO(shown.content)).info)
    # a resubmission without photos keeps them; a withdrawn report's photos leave the public
    again = await system.http.post("/api/v1/agency/damage-reports", json=damage("D-PHOTO", level="destroyed"),
                                   headers=system.auth("agency"))
    assert again.status_code == 202 and again.json()["understood"]["photos"] == refs

    async def withdrawn():
        r = await system.http.delete("/api/v1/agency/damage-reports/D-PHOTO", headers=system.auth("agency"))
        return r if r.status_code == 200 else None

    await eventually(withdrawn)

    async def hidden():
        return (await system.http.get(refs[0]["url"])).status_code == 404

    await eventually(hidden)
    assert (await system.http.get(refs[0]["url"], headers=system.auth("coordinator"))).status_code == 200
    heic = await post(system, "/api/v1/agency/damage-reports", headers=system.auth("agency"),
                      **parts(damage("D-HEIC"), images.HEIC))
    assert heic.status_code == 415 and heic.json()["detail"].startswith("photo: HEIC")
