#!/usr/bin/env python
"""Photo intake benchmark: ``feeds.photos.service`` (check the type by content, read the header's size, EXIF GPS,
decode, apply the orientation, re-encode without metadata, hash, write atomically) per second on one core, against
a plain copy of the same bytes to disk written the same way (temporary file, fsync, rename). The ratio is the
price of the photo rules.

Inputs: phone-like JPEGs (a smooth scene with grain, EXIF with GPS, an XMP packet, an ICC profile), at the size
the report page sends after shrinking (1600x1200) and at a 12 MP camera original (4032x3024).

    python bench/photos.py [--runs 20]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import ExifTags, Image, ImageCms, ImageFilter  # noqa: E402
from PIL.TiffImagePlugin import IFDRational  # noqa: E402

from feeds.photos.service import clean_photo, write_photo  # noqa: E402

XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>'


def phone_jpeg(width: int, height: int, seed: int) -> bytes:
    """A JPEG shaped like a phone photo: gradients, grain, EXIF (GPS, orientation), XMP and an ICC profile."""
    base = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    noise = Image.effect_noise((width, height), 40 + seed).convert("RGB").filter(ImageFilter.GaussianBlur(1))
    im = Image.blend(base, noise, 0.35)
    exif = Image.Exif()
    exif[ExifTags.Base.Make], exif[ExifTags.Base.Orientation] = "PhoneCo", 1
    exif[ExifTags.IFD.GPSInfo] = {ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLongitudeRef: "W",
                                  ExifTags.GPS.GPSLatitude: (IFDRational(45), IFDRational(30), IFDRational(44)),
                                  ExifTags.GPS.GPSLongitude: (IFDRational(122), IFDRational(39), IFDRational(31))}
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    im.save(out, "JPEG", quality=90, exif=exif, xmp=XMP, icc_profile=icc)
    return out.getvalue()


def plain_copy(data: bytes, directory: Path, name: str) -> None:
    """The baseline: the bytes written as the photo store writes them (temporary file, fsync, rename)."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".incoming-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, directory / name)


def measure(inputs: list[bytes], work) -> tuple[float, float]:
    """Photos per second over ``inputs`` (each once): per wall-clock second and per CPU second of this process
    (the CPU figure is what a shared, busy machine does not distort)."""
    cpu, wall = time.process_time(), time.perf_counter()
    for i, data in enumerate(inputs):
        work(i, data)
    return len(inputs) / (time.perf_counter() - wall), len(inputs) / max(time.process_time() - cpu, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="photos per size (distinct contents)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    for width, height in ((1600, 1200), (4032, 3024)):
        runs = args.runs if width < 2000 else max(3, args.runs // 4)
        inputs = [phone_jpeg(width, height, seed) for seed in range(runs)]
        mean_kb = sum(map(len, inputs)) / len(inputs) / 1024
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "copy").mkdir()
            copy_rate = measure(inputs, lambda i, d, root=root: plain_copy(d, root / "copy", f"{i}.jpg"))
            intake_rate = measure(inputs, lambda i, d, root=root: write_photo(
                photo=clean_photo(data=d, max_bytes=50 * 1024 * 1024, max_pixels=50_000_000), data_dir=root))
        print(f"{width}x{height} JPEG ({mean_kb:.0f} KiB mean, {runs} photos): photo intake {intake_rate[0]:.1f}/s "
              f"({intake_rate[1]:.1f} per CPU s), plain copy {copy_rate[0]:.1f}/s ({copy_rate[1]:.1f} per CPU s), "
              f"ratio {intake_rate[0] / copy_rate[0]:.3f} (wall), {intake_rate[1] / copy_rate[1]:.3f} (CPU)")


if __name__ == "__main__":
    main()
