"""Manifest of the browser libraries vendored under ``static/vendor`` and a tool to refresh them.

The live map must work with no internet access, so every JavaScript/CSS/font/image
file the page needs is copied from npm packages into ``static/vendor/<dest>/``,
keeping the package-relative paths that the CSS files reference (``images/``,
``../webfonts/``).

Refreshing (needs ``npm`` and access to the npm registry; run from the repo root)::

    python -m mapping.live_map.vendoring

This runs ``npm pack`` for each pinned package into a temporary directory, copies
only the listed files plus the licence, and rewrites ``static/vendor/README.md``.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

VENDOR_DIR: Path = Path(__file__).resolve().parent / "static" / "vendor"


@dataclass(frozen=True)
class VendorPackage:
    """One npm package and the files of it that we ship.

    Attributes:
        npm_name: package name on the npm registry.
        version: exact pinned version.
        dest: directory name under ``static/vendor``.
        licence: SPDX licence expression.
        files: package-relative paths to copy (kept as-is below ``dest``).
        licence_file: package-relative path of the licence file, or ``None`` when
            the tarball ships none (then ``licence_text`` is written instead).
        licence_text: licence text written to ``LICENSE`` when ``licence_file`` is ``None``.
    """

    npm_name: str
    version: str
    dest: str
    licence: str
    files: tuple[str, ...]
    licence_file: str | None = None
    licence_text: str | None = None

    @property
    def licence_dest(self) -> str:
        """File name of the licence copy inside ``static/vendor/<dest>/``."""
        return Path(self.licence_file).name if self.licence_file else "LICENSE"


_AWESOME_MARKERS_LICENCE = """\
Leaflet.awesome-markers (c) 2012-2013, Lennard Voogdt
https://github.com/lvoogdt/Leaflet.awesome-markers

The npm tarball drmonty-leaflet-awesome-markers@2.0.2 ships no licence file; its
package.json declares the MIT licence ("licenses": [{"type": "MIT"}]) and the CSS
header reads "Author: L. Voogdt, License: MIT". The standard MIT licence text follows.

Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of
the Software, and to permit persons to whom the Software is furnished to do so,
subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS
FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR
COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER
IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN
CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""

_FA_FONTS = tuple(
    f"webfonts/fa-{face}.{ext}"
    for face in ("brands-400", "regular-400", "solid-900", "v4compatibility")
    for ext in ("woff2", "ttf")
)

PACKAGES: tuple[VendorPackage, ...] = (
    VendorPackage(
        npm_name="leaflet",
        version="1.9.4",
        dest="leaflet",
        licence="BSD-2-Clause",
        files=(
            "dist/leaflet.js",
            "dist/leaflet.css",
            "dist/images/layers.png",
            "dist/images/layers-2x.png",
            "dist/images/marker-icon.png",
            "dist/images/marker-icon-2x.png",
            "dist/images/marker-shadow.png",
        ),
        licence_file="LICENSE",
    ),
    VendorPackage(
        npm_name="leaflet.markercluster",
        version="1.5.3",
        dest="leaflet.markercluster",
        licence="MIT",
        files=(
            "dist/leaflet.markercluster.js",
            "dist/MarkerCluster.css",
            "dist/MarkerCluster.Default.css",
        ),
        licence_file="MIT-LICENCE.txt",
    ),
    VendorPackage(
        npm_name="jquery",
        version="3.7.1",
        dest="jquery",
        licence="MIT",
        files=("dist/jquery.min.js",),
        licence_file="LICENSE.txt",
    ),
    VendorPackage(
        npm_name="bootstrap",
        version="5.3.9",
        dest="bootstrap",
        licence="MIT",
        files=("dist/js/bootstrap.bundle.min.js", "dist/css/bootstrap.min.css"),
        licence_file="LICENSE",
    ),
    VendorPackage(
        npm_name="drmonty-leaflet-awesome-markers",
        version="2.0.2",
        dest="leaflet-awesome-markers",
        licence="MIT",
        files=(
            "js/leaflet.awesome-markers.min.js",
            "css/leaflet.awesome-markers.css",
            "css/images/markers-soft.png",
            "css/images/markers-soft@2x.png",
            "css/images/markers-shadow.png",
            "css/images/markers-shadow@2x.png",
        ),
        licence_text=_AWESOME_MARKERS_LICENCE,
    ),
    VendorPackage(
        npm_name="@fortawesome/fontawesome-free",
        version="6.7.2",
        dest="fontawesome-free",
        licence="CC-BY-4.0 AND OFL-1.1 AND MIT",
        files=("css/all.min.css", *_FA_FONTS),
        licence_file="LICENSE.txt",
    ),
)


def vendored_files() -> list[Path]:
    """Return the paths (under :data:`VENDOR_DIR`) of every file the manifest ships."""
    paths: list[Path] = []
    for pkg in PACKAGES:
        base = VENDOR_DIR / pkg.dest
        paths.extend(base / rel for rel in pkg.files)
        paths.append(base / pkg.licence_dest)
    return paths


def readme_text() -> str:
    """Render ``static/vendor/README.md`` from the manifest."""
    lines = [
        "# Vendored browser libraries",
        "",
        "Copied from npm packages so the live map works with no internet access.",
        "Generated by `python -m mapping.live_map.vendoring` (do not edit by hand;",
        "change `PACKAGES` in `mapping/live_map/vendoring.py` and re-run).",
        "Only the files the page needs are kept, at their package-relative paths.",
        "",
        "| Directory | npm package | Version | Licence | Licence file |",
        "|---|---|---|---|---|",
    ]
    for pkg in PACKAGES:
        lines.append(
            f"| `{pkg.dest}/` | `{pkg.npm_name}` | {pkg.version} | {pkg.licence} "
            f"| `{pkg.dest}/{pkg.licence_dest}` |"
        )
    lines += [
        "",
        "Notes:",
        "",
        "- `leaflet-awesome-markers`: the npm tarball has no licence file; `LICENSE` was",
        "  written from the MIT licence its `package.json` declares.",
        "- `fontawesome-free`: icons CC BY 4.0, fonts SIL OFL 1.1, code MIT.",
        "  `css/all.min.css` references both the `.woff2` and `.ttf` fonts; both are kept.",
        "- Source maps are not shipped; the `sourceMappingURL` comments in some files",
        "  only matter when browser developer tools are open.",
        "- Bootstrap 3 glyphicons and folium's `leaflet.awesome.rotate` CSS are not",
        "  vendored: the page uses Font Awesome icons, and `static/folium-compat.css`",
        "  (our own) stands in for the rotate CSS.",
        "",
    ]
    return "\n".join(lines)


def npm_pack(spec: str, workdir: Path) -> Path:
    """Download ``spec`` with ``npm pack`` into ``workdir`` and return the tarball path."""
    out = subprocess.run(
        ["npm", "pack", spec, "--silent"],
        cwd=workdir,
        check=True,
        capture_output=True,
        text=True,
    )
    return workdir / out.stdout.strip().splitlines()[-1]


def install_package(pkg: VendorPackage, workdir: Path, vendor_dir: Path) -> Path:
    """Download ``pkg`` into ``workdir`` and replace ``vendor_dir/<dest>`` with its listed files and licence."""
    tarball = npm_pack(f"{pkg.npm_name}@{pkg.version}", workdir)
    unpacked = workdir / pkg.dest
    with tarfile.open(tarball) as tar:
        tar.extractall(unpacked, filter="data")
    root = unpacked / "package"
    dest = vendor_dir / pkg.dest
    if dest.exists():
        shutil.rmtree(dest)
    for rel in pkg.files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, target)
    if pkg.licence_file:
        shutil.copyfile(root / pkg.licence_file, dest / pkg.licence_dest)
    else:
        (dest / pkg.licence_dest).write_text(pkg.licence_text or "", encoding="utf-8")
    return dest


def refresh(vendor_dir: Path = VENDOR_DIR) -> None:
    """Re-download every package and replace ``vendor_dir`` contents with the manifest files."""
    with tempfile.TemporaryDirectory(prefix="live_map_vendor_") as tmp:
        for pkg in PACKAGES:
            install_package(pkg, Path(tmp), vendor_dir)
    (vendor_dir / "README.md").write_text(readme_text(), encoding="utf-8")

if __name__ == "__main__":
    refresh()
    total = sum(p.stat().st_size for p in vendored_files())
    print(f"vendored {len(vendored_files())} files, {total / 1e6:.2f} MB into {VENDOR_DIR}")
