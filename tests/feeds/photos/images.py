"""Images made for the photo tests: real JPEG, PNG and WebP files carrying every kind of metadata, and crafted
headers (HEIC, a decompression bomb) that no encoder would write."""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib

from PIL import ExifTags, Image, ImageCms
from PIL.PngImagePlugin import PngInfo
from PIL.TiffImagePlugin import IFDRational

XMP = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
       b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
       b'xmlns:dc="http://purl.org/dc/elements/1.1/" dc:creator="Jane Reporter"/></rdf:RDF></x:xmpmeta>'
       b'<?xpacket end="w"?>')
SECRET = "Jane Reporter"


def _dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    d = int(value)
    m = int((value - d) * 60)
    s = round(((value - d) * 60 - m) * 60, 4)
    return IFDRational(d, 1), IFDRational(m, 1), IFDRational(int(s * 10000), 10000)


def exif_block(*, gps: tuple[float, float] | None = None, orientation: int | None = None) -> Image.Exif:
    """An EXIF block naming the camera and its owner, with a GPS position and orientation when given."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneCo"
    exif[ExifTags.Base.Model] = "Phone 12"
    exif[ExifTags.Base.Artist] = SECRET
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    if gps is not None:
        lat, lon = gps
        exif[ExifTags.IFD.GPSInfo] = {
            ExifTags.GPS.GPSLatitudeRef: "N" if lat >= 0 else "S", ExifTags.GPS.GPSLatitude: _dms(abs(lat)),
            ExifTags.GPS.GPSLongitudeRef: "E" if lon >= 0 else "W", ExifTags.GPS.GPSLongitude: _dms(abs(lon))}
    return exif


def picture(size: tuple[int, int] = (96, 64), mode: str = "RGB", seed: int = 1) -> Image.Image:
    """A noisy picture (so a JPEG of it has real scan data to truncate)."""
    rnd = random.Random(seed)
    im = Image.new(mode, size)
    bands = len(mode)
    im.putdata([tuple(rnd.randrange(256) for _ in range(bands)) if bands > 1 else rnd.randrange(256)
                for _ in range(size[0] * size[1])])
    return im


def icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def jpeg(*, gps: tuple[float, float] | None = None, orientation: int | None = None,
         size: tuple[int, int] = (96, 64)) -> bytes:
    """A JPEG with EXIF (camera, artist, GPS), XMP, an ICC profile and a comment."""
    out = io.BytesIO()
    picture(size).save(out, "JPEG", exif=exif_block(gps=gps, orientation=orientation), xmp=XMP, icc_profile=icc(),
                       comment=f"taken by {SECRET}".encode())
    return out.getvalue()


def png_with_text() -> bytes:
    """A PNG with tEXt, zTXt and iTXt chunks, EXIF and an ICC profile."""
    info = PngInfo()
    info.add_text("Author", SECRET)
    info.add_text("Comment", f"home of {SECRET}", zip=True)
    info.add_itxt("Description", f"photo by {SECRET}", lang="en")
    out = io.BytesIO()
    picture((40, 30), "RGBA").save(out, "PNG", pnginfo=info, exif=exif_block(gps=(45.5, -122.6)), icc_profile=icc())
    return out.getvalue()


def webp() -> bytes:
    """A WebP with EXIF (GPS) and XMP."""
    out = io.BytesIO()
    picture((50, 40)).save(out, "WEBP", exif=exif_block(gps=(45.5, -122.6)), xmp=XMP)
    return out.getvalue()


HEIC = (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00\x00\x00\x08free" + b"\x00" * 64)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` pixels but whose data is a few zero bytes: decoding it
    would fail (422), so a 413 proves it was refused from the header alone."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
            + _chunk(b"IEND", b""))


def zip_archive() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("index.html", "<script>alert('polyglot')</script>")
    return out.getvalue()


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
