"""The photo rules, one path for every intake (citizen API, damage reports, email attachments, Open311 media).

1. Type by content: the magic bytes decide, and Pillow must read the same format from them (never the file name
   or the declared type). JPEG, PNG and WebP are accepted; HEIC/HEIF is refused (415) because the usable
   decoders are GPL (libde265) or carry 2026 memory-safety advisories; anything else is 415.
2. Limits before decoding: at most ``max_bytes`` (413), and at most ``max_pixels`` as the header declares them
   (413: a decompression bomb is refused before a single pixel is decoded). A broken or truncated image is 422.
3. The EXIF GPS position is read (a location hint, WGS 84 degrees) before anything is stripped.
4. The pixels are re-encoded by Pillow into a fresh image (EXIF orientation applied first): no EXIF, XMP, ICC
   profile, comment or PNG text chunk survives, nor any bytes appended to the file (a JPEG+ZIP or JPEG+HTML
   polyglot is stored as a clean image); only the first frame of an animated PNG or WebP is kept.
5. Stored by the SHA-256 of the re-encoded bytes under ``<data_dir>/photos/<2 hex>/<sha256>.<ext>``, written
   to a temporary file and renamed into place, so a reader never sees half a photo and one photo is stored once.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from emergency.cop.features import photos_public
from emergency.errors import NotFound, TooLarge, UnsupportedType, ValidationFailed
from emergency.events import Envelope
from feeds.photos.models import PHOTO_FIELD, CleanPhoto, PhotoRecord, StoredPhoto
from feeds.photos.repository import PhotoRepository

ACCEPTED = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
HEIC_REFUSED = ("HEIC/HEIF images are not accepted: the decoders that could read them are GPL-licensed or carry "
                "2026 memory-safety advisories. Send a JPEG instead (on an iPhone: Settings > Camera > Formats > "
                "Most Compatible, or share the photo, which converts it to JPEG)")
JPEG_QUALITY = 85
WEBP_QUALITY = 80
OTHER_KINDS = ((b"GIF8", "a GIF"), (b"%PDF", "a PDF"), (b"PK\x03\x04", "a ZIP archive"), (b"BM", "a BMP"),
               (b"II*\x00", "a TIFF"), (b"MM\x00*", "a TIFF"))


def sniff(head: bytes) -> str | None:
    """The Pillow format name the first bytes announce (``JPEG``, ``PNG``, ``WEBP``), ``HEIF``, or None."""
    if head[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return "HEIF"
    return None


def _unsupported(data: bytes, *, field: str) -> UnsupportedType:
    """The 415 for content that is no accepted image, saying what it looks like when known."""
    head = data[:512].lstrip()
    what = next((name for magic, name in OTHER_KINDS if data.startswith(magic)), None)
    lower = head.lower()
    if what is None and (lower.startswith((b"<?xml", b"<svg")) or b"<svg" in lower):
        what = "an SVG or XML document"
    elif what is None and lower.startswith((b"<!doctype html", b"<html")):
        what = "an HTML document"
    elif what is None and head[4:8] == b"ftyp":
        what = f"an ISO media file (brand {head[8:12].decode('latin-1')!r})"
    seen = f" (the content is {what})" if what else ""
    return UnsupportedType(field, f"not a JPEG, PNG or WebP image{seen}; the type is read from the content, "
                                  "not the file name or declared type", candidates=tuple(ACCEPTED.values()))


def gps_of(exif: Image.Exif) -> tuple[float, float] | None:
    """The EXIF GPS position as (lat, lon) in WGS 84 degrees; None when absent, malformed or (0, 0)."""
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    try:
        lat = _degrees(gps[ExifTags.GPS.GPSLatitude], gps.get(ExifTags.GPS.GPSLatitudeRef, "N"), "S")
        lon = _degrees(gps[ExifTags.GPS.GPSLongitude], gps.get(ExifTags.GPS.GPSLongitudeRef, "E"), "W")
    except (KeyError, TypeError, ValueError, ZeroDivisionError, IndexError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    return round(lat, 7), round(lon, 7)


def _degrees(dms: Sequence[float], ref: str | bytes, negative: str) -> float:
    """Degrees, minutes, seconds (EXIF rationals) to signed decimal degrees."""
    d, m, s = (float(v) for v in dms)
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    value = d + m / 60 + s / 3600
    return -value if ref.strip().upper().startswith(negative) else value


def clean_photo(*, data: bytes, max_bytes: int, max_pixels: int, field: str = PHOTO_FIELD) -> CleanPhoto:
    """Check ``data`` against the photo rules and re-encode it without metadata (blocking: run it in a thread).

    Raises ``TooLarge`` (413), ``UnsupportedType`` (415) or ``ValidationFailed`` (422), each naming ``field``.
    """
    if len(data) > max_bytes:
        raise TooLarge(field, f"the photo is larger than the limit of {max_bytes} bytes ({len(data)} bytes or more)")
    if not data:
        raise ValidationFailed(field, "the photo is empty")
    fmt = sniff(data[:16])
    if fmt == "HEIF":
        raise UnsupportedType(field, HEIC_REFUSED, candidates=tuple(ACCEPTED.values()))
    if fmt is None:
        raise _unsupported(data, field=field)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=[fmt])  # reads the header only
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TooLarge(field, f"the image declares too many pixels ({exc}); the limit is {max_pixels}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ValidationFailed(field, f"the content starts like a {fmt} image but is not a readable one") from None
    with im:
        width, height = im.size
        if width * height > max_pixels:
            raise TooLarge(field, f"the image declares {width}x{height} = {width * height} pixels; the limit is "
                                  f"{max_pixels} pixels (it was not decoded)")
        if width < 1 or height < 1:
            raise ValidationFailed(field, f"the image declares {width}x{height} pixels")
        try:
            exif = im.getexif()
            gps = gps_of(exif)
            im.load()
            upright = ImageOps.exif_transpose(im) if exif.get(ExifTags.Base.Orientation, 1) != 1 else im
            data_out, mode = _reencode(upright, fmt=fmt)
        except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
            raise ValidationFailed(field, f"the {fmt} image is broken or truncated ({exc})") from None
    media_type = ACCEPTED[fmt]
    out_w, out_h = upright.size
    return CleanPhoto(data=data_out, sha256=hashlib.sha256(data_out).hexdigest(), media_type=media_type,
                      width=out_w, height=out_h, gps=gps)


def _reencode(im: Image.Image, *, fmt: str) -> tuple[bytes, str]:
    """The pixels of ``im`` (first frame) as a fresh image of the same format: no metadata is carried over."""
    alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
    if fmt == "JPEG":
        mode = im.mode if im.mode in ("L", "RGB") else "RGB"
    elif fmt == "PNG":
        mode = im.mode if im.mode in ("L", "LA", "RGB", "RGBA") else ("RGBA" if alpha else "RGB")
    else:
        mode = "RGBA" if alpha else "RGB"
    pixels = im if im.mode == mode else im.convert(mode)
    fresh = Image.new(mode, pixels.size)  # pixels only: info, EXIF, ICC, comments and text chunks stay behind
    fresh.paste(pixels)
    out = io.BytesIO()
    if fmt == "JPEG":
        fresh.save(out, "JPEG", quality=JPEG_QUALITY)
    elif fmt == "PNG":
        fresh.save(out, "PNG")
    else:
        fresh.save(out, "WEBP", quality=WEBP_QUALITY)
    return out.getvalue(), mode


def photo_dir(data_dir: Path | str) -> Path:
    """Where photos are stored: ``<data_dir>/photos``."""
    return Path(data_dir) / "photos"


def photo_path(*, data_dir: Path | str, sha256: str, media_type: str) -> Path:
    """The file of a stored photo: ``<data_dir>/photos/<first 2 hex>/<sha256>.<ext>``."""
    return photo_dir(data_dir) / sha256[:2] / f"{sha256}.{EXTENSIONS[media_type]}"


def write_photo(*, photo: CleanPhoto, data_dir: Path | str) -> StoredPhoto:
    """Write the re-encoded photo under its content hash (a temporary file renamed into place; nothing is
    written when that hash is stored already)."""
    path = photo_path(data_dir=data_dir, sha256=photo.sha256, media_type=photo.media_type)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(photo.data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return StoredPhoto(sha256=photo.sha256, media_type=photo.media_type, width=photo.width, height=photo.height,
                       size=len(photo.data), path=str(path), gps=photo.gps)


def accept_photo(*, data: bytes, declared_type: str | None, data_dir: Path | str, max_bytes: int,
                 max_pixels: int, field: str = PHOTO_FIELD) -> StoredPhoto:
    """Check, strip and store one photo (blocking: run it in a thread); the entry point of every intake path.

    ``declared_type`` (a Content-Type or an e-mail part's type) is never trusted: the content decides. Raises
    ``TooLarge`` 413, ``UnsupportedType`` 415 or ``ValidationFailed`` 422, each naming ``field``. The caller
    attaches the photo to its owner with :func:`attach_photos` once the owner's event id is known.
    """
    del declared_type  # the type is read from the content only
    return write_photo(photo=clean_photo(data=data, max_bytes=max_bytes, max_pixels=max_pixels, field=field),
                       data_dir=data_dir)


async def attach_photos(*, photos: Sequence[StoredPhoto], owner_id: str, repository: PhotoRepository) -> None:
    """Record that ``owner_id`` (a report's event id) carries ``photos`` (idempotent: a retry records nothing new)."""
    for p in photos:
        await repository.put(PhotoRecord(sha256=p.sha256, owner_id=owner_id, media_type=p.media_type,
                                         width=p.width, height=p.height, size=p.size))


class EventLookup(Protocol):
    """Where the current version of a photo's owner is read (the store's projection is one)."""

    async def get_event(self, event_id: str) -> Envelope | None: ...


async def photo_for_viewer(*, sha256: str, full: bool, repository: PhotoRepository, events: EventLookup,
                           data_dir: Path | str) -> tuple[Path, str]:
    """The file and media type of a photo the viewer may see: coordinators and admins (``full``) any stored photo,
    the public only one attached to a report whose photos are public. Else ``NotFound`` naming ``photo_id`` (the
    same 404 as an unknown photo)."""
    missing = NotFound("photo_id", "no such photo")
    records = await repository.owners(sha256) if len(sha256) == 64 else []
    if not records:
        raise missing
    if not full:
        for record in records:
            owner = await events.get_event(record.owner_id)
            if owner is not None and photos_public(owner):
                break
        else:
            raise missing
    path = photo_path(data_dir=data_dir, sha256=sha256, media_type=records[0].media_type)
    if not path.exists():
        raise missing
    return path, records[0].media_type
