"""Garbage-collector settings for long-running stream processes.

CPython's cyclic collector runs a young-generation pass every 700 net allocations and, now and
then, a full pass over every live object. A stream process keeps many long-lived objects (region
gazetteers, near-duplicate clusters, the stream vocabulary) and allocates a few hundred small
ones per message, so with the defaults the collector took about a fifth of the social
pipeline's time (bench/social_throughput.py prints both). ``tune_collector`` moves what is alive
at start-up out of the collector's sight (``gc.freeze``) and lets the young generation grow to
``gen0`` objects before a pass. Reference counting still frees almost everything at once;
only cyclic garbage waits a little longer.
"""

from __future__ import annotations

import gc

_frozen = False


def tune_collector(gen0: int) -> tuple[int, int, int]:
    """Freeze the objects alive now (once per process) and set the young-generation threshold to
    ``gen0`` (0 keeps Python's default). Returns the thresholds in force."""
    global _frozen
    if gen0 > 0:
        if not _frozen:
            gc.freeze()
            _frozen = True
        _, gen1, gen2 = gc.get_threshold()
        gc.set_threshold(gen0, gen1, gen2)
    return gc.get_threshold()
