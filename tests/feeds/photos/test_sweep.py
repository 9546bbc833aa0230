"""The orphan photo sweep on SQLite and PostGIS: a photo file that no report references (its report was refused
or never stored after the photo was written) is removed once past the grace age; a referenced file, a young one
and the photos of stored reports stay."""

from __future__ import annotations

import os
import time
from pathlib import Path

from emergency.store import open_store
from feeds.photos.models import PhotoRecord
from feeds.photos.repository import PHOTOS
from feeds.photos.service import accept_photo, photo_dir
from feeds.photos.sweep import sweep_orphans
from tests.conftest import eventually, report_body, running_system
from tests.feeds.photos.images import jpeg
from tests.feeds.photos.test_photos_api import parts, photo_system, post  # noqa: F401

GRACE = 3600.0


def stored(tmp_path: Path, size: tuple[int, int]):
    return accept_photo(data=jpeg(size=size), declared_type="image/jpeg", data_dir=tmp_path, max_bytes=10**7,
                        max_pixels=10**7)


def age(path: str | Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


async def test_orphans_past_the_grace_age_go_and_everything_else_stays(store_url, tmp_path):
    store = await open_store(store_url)
    try:
        repo = store.repository(PHOTOS)
        kept, orphan, young = stored(tmp_path, (96, 64)), stored(tmp_path, (80, 60)), stored(tmp_path, (70, 50))
        await repo.put(PhotoRecord(sha256=kept.sha256, owner_id="citizen:a", media_type=kept.media_type,
                                   width=kept.width, height=kept.height, size=kept.size))
        leftover = Path(kept.path).parent / ".incoming-abc123"
        leftover.write_bytes(b"half a photo")
        for p in (kept.path, orphan.path, leftover):
            age(p, GRACE + 60)
        age(young.path, 10)  # maybe being attached right now
        result = await sweep_orphans(data_dir=tmp_path, repository=repo, grace_s=GRACE, now=time.time())
        assert (result.removed, result.temporaries, result.kept) == (1, 1, 2)
        assert Path(kept.path).exists() and Path(young.path).exists()
        assert not Path(orphan.path).exists() and not leftover.exists()
        again = await sweep_orphans(data_dir=tmp_path, repository=repo, grace_s=GRACE, now=time.time())
        assert (again.removed, again.temporaries) == (0, 0)
        assert (await sweep_orphans(data_dir=tmp_path / "none", repository=repo, grace_s=GRACE,
                                    now=time.time())).removed == 0
    finally:
        await store.close()


async def test_the_photo_of_a_refused_report_is_swept_and_a_stored_reports_photo_stays(photo_system):  # noqa: F811
    system = photo_system
    good = await post(system, **parts(report_body(), jpeg(size=(96, 64))))
    assert good.status_code == 202, good.text
    refused = await post(system, **parts({"category": "smoke", "location_text": "zzqx nowhere qqzz"},
                                         jpeg(size=(90, 60))))
    assert refused.status_code == 422 and refused.json()["detail"].startswith("location_text: ")
    files = sorted(photo_dir(system.settings.data_dir).glob("*/*.jpg"))
    assert len(files) == 2  # the refused report's photo was written before its place was looked up
    [kept] = good.json()["photos"]
    result = await sweep_orphans(data_dir=system.settings.data_dir, repository=system.runtime.store.repository(PHOTOS),
                                 grace_s=system.settings.photo_sweep_grace_s,
                                 now=time.time() + system.settings.photo_sweep_grace_s + 1)
    assert result.removed == 1
    [left] = sorted(photo_dir(system.settings.data_dir).glob("*/*.jpg"))
    assert left.name.startswith(kept["id"])


async def test_a_serving_process_sweeps_at_start(broker, sqlite_url, tmp_path):
    orphan = stored(tmp_path, (64, 48))  # left by an earlier run whose report never reached the store
    age(orphan.path, 2 * GRACE)
    async with running_system(broker, sqlite_url, tmp_path, photo_sweep_grace_s=GRACE):
        await eventually(lambda: not Path(orphan.path).exists())
