"""The orphan sweep: photo files that no report references are removed once older than a grace age.

A photo is written to disk before its owner's report is journaled and attached (``accept_photo``, then
``attach_photos``); when that second write fails (the store is down, the report is refused after the photo was
stored, the process dies in between) the file is referenced by nothing. Every process that takes photos sweeps its
own ``<data_dir>/photos`` at start and every ``EMERGENCY_PHOTO_SWEEP_INTERVAL_S``: a file (or a leftover
``.incoming-`` temporary file) older than ``EMERGENCY_PHOTO_SWEEP_GRACE_S`` whose hash has no row in ``photos`` is
deleted. The grace age keeps a photo whose report is being written right now. Log lines carry counts only.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from feeds.photos.repository import PhotoRepository
from feeds.photos.service import EXTENSIONS, photo_dir

log = logging.getLogger(__name__)
_STORED = re.compile(r"^([0-9a-f]{64})\.(?:" + "|".join(sorted(set(EXTENSIONS.values()))) + r")$")
BATCH = 500  # hashes looked up per query


@dataclass(frozen=True)
class SweepResult:
    removed: int       # orphan photo files deleted
    kept: int          # photo files referenced, or younger than the grace age
    temporaries: int   # leftover .incoming- files deleted


def _candidates(root: Path, *, older_than: float) -> tuple[dict[str, Path], list[Path], int]:
    """Photo files older than ``older_than`` (epoch seconds) by hash, old temporaries, and how many are younger."""
    old: dict[str, Path] = {}
    temporaries: list[Path] = []
    young = 0
    if not root.is_dir():
        return old, temporaries, young
    for sub in root.iterdir():
        if not sub.is_dir():
            continue
        for path in sub.iterdir():
            try:
                mtime = path.stat().st_mtime
            except FileNotFoundError:
                continue
            match = _STORED.match(path.name)
            if mtime >= older_than:
                young += match is not None
            elif match:
                old[match.group(1)] = path
            elif path.name.startswith(".incoming-"):
                temporaries.append(path)
    return old, temporaries, young


async def sweep_orphans(*, data_dir: Path | str, repository: PhotoRepository, grace_s: float,
                        now: float) -> SweepResult:
    """Delete the photo files under ``data_dir`` that no owner references and that were last written more than
    ``grace_s`` seconds before ``now`` (epoch seconds); what was done."""
    old, temporaries, young = await asyncio.to_thread(_candidates, photo_dir(data_dir), older_than=now - grace_s)
    hashes = sorted(old)
    referenced: set[str] = set()
    for i in range(0, len(hashes), BATCH):
        referenced |= await repository.referenced(hashes[i:i + BATCH])
    orphans = [old[h] for h in hashes if h not in referenced]

    def remove(paths: list[Path]) -> int:
        n = 0
        for path in paths:
            try:
                os.unlink(path)
                n += 1
            except FileNotFoundError:
                pass
        return n

    removed = await asyncio.to_thread(remove, orphans)
    gone_tmp = await asyncio.to_thread(remove, temporaries)
    if removed or gone_tmp:
        log.info("photo sweep: %d orphan photo files and %d temporary files removed", removed, gone_tmp)
    return SweepResult(removed=removed, kept=len(referenced) + young, temporaries=gone_tmp)


async def run_sweeper(*, data_dir: Path | str, repository: PhotoRepository, grace_s: float,
                      interval_s: float) -> None:
    """Sweep at start, then every ``interval_s`` seconds, until cancelled (a failing round waits for the next)."""
    while True:
        try:
            await sweep_orphans(data_dir=data_dir, repository=repository, grace_s=grace_s, now=time.time())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("photo sweep: %s", exc or type(exc).__name__)
        await asyncio.sleep(interval_s)
