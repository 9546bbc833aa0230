#!/usr/bin/env python
"""Summarise a py-spy ``--format raw`` (collapsed stacks) profile: where the samples go.

    py-spy record -g -r 200 -f raw -o bench/results/system_gil.txt -- \\
        python bench/pipeline.py --skip-latency --rounds 1
    python bench/pyspy_summary.py bench/results/system_gil.txt --within run_system

Prints the share of samples per pipeline stage (first matching frame, see STAGES), then the
functions with the most inclusive and the most self samples. ``--within X`` keeps only stacks
that contain a frame whose text contains X (e.g. only the system phase of the benchmark).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# (label, substring of a frame): a sample belongs to the first label (in this order) whose
# substring occurs in any frame of its stack
STAGES = [
    ("projector: SQLite upsert (store thread)", "_upsert (emergency/store/sqlite.py"),
    ("intake: SQLite insert (store thread)", "_accept (emergency/store/sqlite.py"),
    ("relay: SQLite select due (store thread)", "_due (emergency/store/sqlite.py"),
    ("journal_counts poll (store thread)", "journal_counts"),
    ("projector: prepare rows", "SQLiteStore.upsert_events"),
    ("intake: Runtime.submit", "Runtime.submit"),
    ("tail -> live-map gateway", "Tail._run_once"),
    ("normaliser: normalise + publish", "make_normaliser.<locals>.process"),
    ("worker: decode + validate", "decode (emergency/stream/consumer.py"),
    ("worker: commit/position/metrics", "GroupWorker._run_once"),
    ("relay: publish + mark", "OutboxRelay"),
    ("aiokafka producer sender", "Sender"),
    ("aiokafka fetcher", "Fetcher"),
    ("aiokafka other", "aiokafka"),
    ("benchmark: baseline run", "run_baseline"),
    ("benchmark: making envelopes", "report_envelopes"),
    ("event loop / other", ""),
]

FRAME = re.compile(r"^(?P<fn>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def parse(path: Path, within: str | None) -> list[tuple[list[str], int]]:
    stacks = []
    for raw in path.read_text(errors="replace").splitlines():
        if not raw.strip():
            continue
        stack, _, count = raw.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")
        if within and not any(within in f for f in frames):
            continue
        stacks.append((frames, int(count)))
    return stacks


def func_name(frame: str) -> str:
    """Frame text without the line number, so one function is one row."""
    m = FRAME.match(frame)
    return f"{m['fn']} ({m['file']})" if m else frame


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("profile", type=Path)
    p.add_argument("--within", help="keep only stacks with a frame containing this text")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--lines", action="store_true", help="also list the source lines with the most self samples")
    args = p.parse_args()
    stacks = parse(args.profile, args.within)
    total = sum(c for _, c in stacks)
    if not total:
        raise SystemExit("no samples")
    stages: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    lines: Counter[str] = Counter()
    for frames, count in stacks:
        for label, needle in STAGES:
            if any(needle in f for f in reversed(frames)):
                stages[label] += count
                break
        for name in {func_name(f) for f in frames}:
            inclusive[name] += count
        self_[func_name(frames[-1])] += count
        lines[frames[-1]] += count
    print(f"{total} samples" + (f" within {args.within!r}" if args.within else ""))
    print("\nby stage:")
    for label, c in stages.most_common():
        print(f"  {c / total:6.1%}  {label}")
    print(f"\ntop {args.top} inclusive:")
    for name, c in inclusive.most_common(args.top):
        print(f"  {c / total:6.1%}  {name}")
    print(f"\ntop {args.top} self:")
    for name, c in self_.most_common(args.top):
        print(f"  {c / total:6.1%}  {name}")
    if args.lines:
        print(f"\ntop {args.top} self, by line:")
        for name, c in lines.most_common(args.top):
            print(f"  {c / total:6.1%}  {name}")


if __name__ == "__main__":
    main()
