"""The report page's vendored files: every one the manifest lists is there with its licence, nothing else is, the
README is the manifest's, and every category's icon is a vendored SVG."""

from __future__ import annotations

from emergency.categories import ReportCategory
from feeds.citizen.page.service import ICON_DIR, ICONS, icon_svg
from feeds.citizen.page.vendoring import VENDOR_DIR, readme_text, vendored_files


def test_the_vendored_files_are_the_manifest_with_licences_and_readme():
    files = vendored_files()
    assert all(p.is_file() for p in files)
    on_disk = {p for p in VENDOR_DIR.rglob("*") if p.is_file()} - {VENDOR_DIR / "README.md"}
    assert on_disk == set(files)
    assert (VENDOR_DIR / "README.md").read_text(encoding="utf-8") == readme_text()
    assert "ISC" in (VENDOR_DIR / "lucide" / "LICENSE").read_text(encoding="utf-8")


def test_every_category_has_a_vendored_svg_icon():
    assert set(ICONS) == set(ReportCategory)
    for name in ICONS.values():
        assert (ICON_DIR / f"{name}.svg").is_file()
        markup = icon_svg(name)
        assert markup.startswith("<svg") and markup.endswith("</svg>") and "http" not in markup
