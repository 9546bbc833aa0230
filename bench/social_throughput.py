"""Throughput of the social pipeline (filter + relevance + place + dedup) on one core, against a
naive regular-expression filter over the same lexicon, both measured in this run.

    python bench/social_throughput.py [--posts 40000] [--region portland] [--json OUT]

Posts: the CrisisLexT6 tweet texts (about 40,000, on- and off-topic) read at run time from
../shared/data/social/sample when present (not shipped: research-only data); otherwise the
project's own demo posts and Jetstream test capture, repeated with variations (the script
says which). A fifth of the posts carry coordinates. Each figure is the best of three runs.
The pipeline is measured twice: with Python's default garbage-collector settings and with the
ones the system's processes use (``emergency.collector.tune_collector``, EMERGENCY_GC_GEN0_THRESHOLD);
the target applies to the latter, which is how ``emergency serve`` and ``social filter`` run it.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from emergency.collector import tune_collector  # noqa: E402
from emergency.config import Settings  # noqa: E402
from feeds.social.models import Post  # noqa: E402
from feeds.social.pipeline import RulesHolder, SocialPipeline  # noqa: E402
from feeds.social.places import geocoder_available, load_region  # noqa: E402
from feeds.social.rules import Rules, default_lexicon  # noqa: E402

T6 = ROOT.parent / "shared" / "data" / "social" / "sample" / "crisislex_t6"


def texts() -> tuple[list[str], str]:
    if T6.is_dir():
        out = []
        for f in sorted(T6.glob("*-ontopic_offtopic.csv")):
            with f.open(encoding="utf-8", errors="replace", newline="") as fh:
                out += [r[1] for r in list(csv.reader(fh))[1:] if len(r) >= 3]
        return out, f"CrisisLexT6 tweets from {T6}"
    own = [json.loads(line)["text"] for line in (ROOT / "sample_data/social/demo_posts.jsonl").read_text().splitlines()
           if line.strip()]
    from feeds.social.adapters.jetstream import parse_event

    capture = ROOT / "tests/fixtures/social/jetstream_v1_capture_2026-07-04.jsonl"
    for line in capture.read_text().splitlines():
        post = parse_event(json.loads(line))
        if post is not None and post.text:
            own.append(post.text)
    rng = random.Random(1)
    return [f"{rng.choice(own)} {rng.randint(0, 10**6)}" for _ in range(40_000)], \
        "shared data absent: project demo posts + Jetstream capture texts, varied"


def make_posts(corpus: list[str], n: int) -> list[Post]:
    rng = random.Random(7)
    posts = []
    for i in range(n):
        located = rng.random() < 0.2
        posts.append(Post(id=str(i), text=corpus[i % len(corpus)], author=f"u{rng.randint(0, 5000)}",
                          lat=45.45 + rng.random() * 0.15 if located else None,
                          lon=-122.75 + rng.random() * 0.2 if located else None))
    return posts


def naive_filter(terms: list[str]):
    """One case-insensitive word-bounded regular expression per term, tried in turn."""
    patterns = [re.compile(r"\b" + re.escape(t) + r"\b", re.IGNORECASE) for t in terms]

    def keep(text: str) -> bool:
        return any(p.search(text) for p in patterns)

    return keep


def best_rate(run, n: int, repeats: int = 3) -> float:
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        best = max(best, n / (time.perf_counter() - t0))
    return best


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--posts", type=int, default=40_000)
    p.add_argument("--baseline-posts", type=int, default=4_000, help="the naive filter is slow: fewer posts")
    p.add_argument("--region", default="portland", help="geocoder region used when mapping.geocode is installed")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    corpus, origin = texts()
    posts = make_posts(corpus, args.posts)
    region = load_region(args.region) if geocoder_available() else None
    print(f"social_throughput: {len(posts)} posts ({origin}); place extraction: "
          f"{'coordinates + mapping.geocode (' + args.region + ')' if region else 'coordinates only (no mapping.geocode)'}")

    stats = {}

    def pipeline_run() -> None:
        pipeline = SocialPipeline(RulesHolder(Rules()), region=region)
        for post in posts:
            pipeline.process(post)
        stats.update(pipeline.counts, clusters=len(pipeline.deduper.clusters))

    keep = naive_filter(list(default_lexicon()))
    sample = [post.text for post in posts[:args.baseline_posts]]

    def naive_run() -> None:
        for text in sample:
            keep(text)

    default_gc = best_rate(pipeline_run, len(posts))
    naive = best_rate(naive_run, len(sample))
    thresholds = tune_collector(Settings().gc_gen0_threshold)
    rate = best_rate(pipeline_run, len(posts))
    print(f"  pipeline, Python's default collector settings: {default_gc:10,.0f} posts/s")
    print(f"  pipeline (filter + relevance + place + dedup): {rate:10,.0f} posts/s   collector thresholds "
          f"{thresholds}, frozen start-up objects; {stats}")
    print(f"  naive regex filter, {len(default_lexicon())} patterns:      {naive:10,.0f} posts/s")
    print(f"  ratio: {rate / naive:.1f}x the naive filter (target: >= 20,000 posts/s on one core)")
    if args.json:
        args.json.write_text(json.dumps({"posts": len(posts), "corpus": origin, "pipeline_posts_per_s": round(rate),
                                         "pipeline_default_gc_posts_per_s": round(default_gc),
                                         "naive_posts_per_s": round(naive), "ratio": round(rate / naive, 2),
                                         "geocoder": bool(region), "counts": stats}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
