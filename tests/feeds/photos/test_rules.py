"""The photo rules on real files: type by content, limits read from the header, EXIF GPS, every metadata block
gone from the stored file, polyglots re-encoded, content-addressed atomic storage."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image

from emergency.errors import TooLarge, UnsupportedType, ValidationFailed
from feeds.photos.service import accept_photo, clean_photo
from tests.feeds.photos import images

LIMITS = {"max_bytes": 10 * 1024 * 1024, "max_pixels": 50_000_000}


def stored_image(path: str) -> Image.Image:
    im = Image.open(path)
    im.load()
    return im


def assert_no_metadata(path: str) -> None:
    raw = Path(path).read_bytes()
    im = stored_image(path)
    assert not dict(im.getexif()), im.getexif()
    assert not ({"exif", "xmp", "icc_profile", "comment", "Author", "Comment", "Description", "XML:com.adobe.xmp"}
                & set(im.info)), im.info
    for leak in (images.SECRET.encode(), b"PhoneCo", b"Exif\x00\x00", b"adobe:ns:meta", b"ICC_PROFILE"):
        assert leak not in raw, leak


def test_a_jpeg_keeps_its_gps_as_a_hint_and_loses_every_metadata_block(tmp_path):
    data = images.jpeg(gps=(45.5122, -122.6587))
    stored = accept_photo(data=data, declared_type="image/png", data_dir=tmp_path, **LIMITS)  # the content decides
    assert stored.media_type == "image/jpeg" and (stored.width, stored.height) == (96, 64)
    assert stored.gps == pytest.approx((45.5122, -122.6587), abs=1e-6)
    assert_no_metadata(stored.path)
    raw = Path(stored.path).read_bytes()
    assert hashlib.sha256(raw).hexdigest() == stored.sha256
    assert stored.path == str(tmp_path / "photos" / stored.sha256[:2] / f"{stored.sha256}.jpg")


def test_southern_and_western_positions_are_negative(tmp_path):
    assert clean_photo(data=images.jpeg(gps=(-33.8688, 151.2093)), **LIMITS).gps == pytest.approx(
        (-33.8688, 151.2093), abs=1e-6)


def test_png_text_chunks_exif_and_icc_are_gone(tmp_path):
    stored = accept_photo(data=images.png_with_text(), declared_type=None, data_dir=tmp_path, **LIMITS)
    assert stored.media_type == "image/png" and stored.gps is not None
    assert_no_metadata(stored.path)
    assert stored_image(stored.path).mode == "RGBA"  # transparency kept


def test_webp_is_accepted_and_stripped(tmp_path):
    stored = accept_photo(data=images.webp(), declared_type="image/webp", data_dir=tmp_path, **LIMITS)
    assert stored.media_type == "image/webp" and (stored.width, stored.height) == (50, 40)
    assert_no_metadata(stored.path)


def test_the_exif_orientation_is_applied_before_stripping(tmp_path):
    stored = accept_photo(data=images.jpeg(orientation=6, size=(40, 20)), declared_type=None, data_dir=tmp_path,
                          **LIMITS)
    assert (stored.width, stored.height) == (20, 40)  # rotated upright, then the orientation tag dropped
    assert stored_image(stored.path).size == (20, 40)
    assert_no_metadata(stored.path)


def test_heic_is_refused_with_why_and_what_to_send():
    with pytest.raises(UnsupportedType) as exc:
        clean_photo(data=images.HEIC, **LIMITS)
    assert exc.value.status == 415 and exc.value.field == "photo"
    assert "HEIC" in exc.value.message and "GPL" in exc.value.message and "2026" in exc.value.message
    assert "JPEG" in exc.value.message


@pytest.mark.parametrize("data, what", [
    (images.SVG, "SVG"), (b"<!DOCTYPE html><html><script>x</script></html>", "HTML"),
    (b"GIF89a" + b"\x00" * 40, "GIF"), (images.zip_archive(), "ZIP"), (b"%PDF-1.7\n", "PDF"),
])
def test_other_types_are_415_whatever_they_are_called(data, what):
    with pytest.raises(UnsupportedType) as exc:
        clean_photo(data=data, **LIMITS)
    assert exc.value.status == 415 and exc.value.field == "photo"
    assert "not a JPEG, PNG or WebP image" in exc.value.message
    if what:
        assert what in exc.value.message


def test_a_decompression_bomb_is_refused_from_its_header():
    # The IDAT holds 1000 zero bytes, not 50000x50000 pixels: a decode would fail as truncated (422). The 413
    # shows the header alone refused it.
    with pytest.raises(TooLarge) as exc:
        clean_photo(data=images.png_bomb(), **LIMITS)
    assert exc.value.status == 413 and exc.value.field == "photo"
    assert "2500000000" in exc.value.message
    with pytest.raises(TooLarge) as exc:  # under Pillow's own limit, over ours
        clean_photo(data=images.png_bomb(8000, 8000), **LIMITS)
    assert "8000x8000 = 64000000 pixels" in exc.value.message and "not decoded" in exc.value.message


def test_a_truncated_jpeg_is_422():
    data = images.jpeg(size=(256, 256))
    with pytest.raises(ValidationFailed) as exc:
        clean_photo(data=data[: len(data) // 2], **LIMITS)
    assert exc.value.status == 422 and exc.value.field == "photo" and "truncated" in exc.value.message
    with pytest.raises(ValidationFailed):
        clean_photo(data=data[:40], **LIMITS)  # not even a whole header


def test_a_jpeg_zip_polyglot_is_stored_as_a_clean_reencode(tmp_path):
    zipped = images.zip_archive()
    data = images.jpeg() + zipped
    stored = accept_photo(data=data, declared_type="image/jpeg", data_dir=tmp_path, **LIMITS)
    raw = Path(stored.path).read_bytes()
    assert b"PK\x03\x04" not in raw and b"<script>" not in raw
    assert raw.endswith(b"\xff\xd9") and raw != data[: len(raw)]
    assert stored_image(stored.path).format == "JPEG"


def test_the_size_limit_names_the_photo():
    with pytest.raises(TooLarge) as exc:
        clean_photo(data=images.jpeg(), max_bytes=1024, max_pixels=10**6)
    assert exc.value.status == 413 and exc.value.field == "photo" and "1024 bytes" in exc.value.message


def test_the_same_photo_is_stored_once_atomically(tmp_path):
    data = images.jpeg()
    first = accept_photo(data=data, declared_type=None, data_dir=tmp_path, **LIMITS)
    again = accept_photo(data=data, declared_type=None, data_dir=tmp_path, **LIMITS)
    assert first == again
    files = [p for p in (tmp_path / "photos").rglob("*") if p.is_file()]
    assert files == [Path(first.path)]  # no temporary file left behind


def test_a_cmyk_jpeg_is_stored_as_rgb(tmp_path):
    out = io.BytesIO()
    images.picture((30, 20)).convert("CMYK").save(out, "JPEG")
    stored = accept_photo(data=out.getvalue(), declared_type=None, data_dir=tmp_path, **LIMITS)
    assert stored_image(stored.path).mode == "RGB"
