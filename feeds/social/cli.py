"""``emergency social ...``: filter a post file, or run a live stream adapter into raw.social."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from emergency.config import Settings
from emergency.errors import EmergencyError
from feeds.social.pipeline import RulesHolder, SocialPipeline
from feeds.social.rules import Rules


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``social`` with ``filter`` and ``stream``."""
    s = sub.add_parser("social", help="social posts: filter a file, or stream a network into raw.social")
    ssub = s.add_subparsers(dest="social_command", required=True, metavar="SUBCOMMAND")

    f = ssub.add_parser("filter", help="decide each post of a JSONL file and write one JSON line per post "
                        "(id, related, informative, score, category, places, cluster)")
    f.add_argument("file", type=Path, help="one post per line: at least id and text (see feeds/social/models.py)")
    f.add_argument("--rules", type=Path, help="rules JSON file (keywords, hashtags, negative, languages, region...); "
                   "default: the CrisisLex lexicon")
    f.add_argument("--region", help="geocoder region for place mentions: a name (portland) or a region folder")
    f.add_argument("--out", type=Path, help="write decisions here instead of standard output")
    f.set_defaults(run=_filter)

    st = ssub.add_parser("stream", help="run a live adapter: decide posts with the stored rules (re-read every "
                         "EMERGENCY_SOCIAL_RULES_POLL_S) and journal clusters to raw.social")
    st.add_argument("network", choices=["jetstream", "mastodon", "twitter"], help="which protocol")
    st.add_argument("url", help="jetstream: ws(s)://host/subscribe; mastodon: the instance https://host; "
                    "twitter: the filtered-stream URL (token from EMERGENCY_TWITTER_BEARER_TOKEN)")
    st.add_argument("--transport", choices=["sse", "websocket"], default="sse", help="mastodon transport")
    st.add_argument("--cursor", help="resume point: jetstream time_us, mastodon status id")
    st.add_argument("--region", help="geocoder region for place mentions, so the region rule and near-duplicate "
                    "distance use them (default: coordinates only; the normaliser geocodes mentions downstream)")
    st.add_argument("--limit", type=int, help="stop after this many posts (default: run until Ctrl-C)")
    st.set_defaults(run=_stream)


def _rules_file(path: Path | None) -> Rules:
    if path is None:
        return Rules()
    try:
        return Rules.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise EmergencyError(f"--rules: {path}: no such file") from None
    except ValueError as exc:
        from pydantic import ValidationError

        if isinstance(exc, ValidationError):
            e = exc.errors()[0]
            raise EmergencyError(f"--rules: {'.'.join(map(str, e['loc'])) or 'rules'}: {e['msg']}") from None
        raise


def _region(name: str | None):
    if name is None:
        return None
    from feeds.social.places import load_region

    return load_region(name)


def _filter(settings: Settings, args: argparse.Namespace) -> int:
    from emergency.progress import Progress
    from feeds.social.posts import read_posts

    if not args.file.is_file():
        raise EmergencyError(f"{args.file}: no such file")
    pipeline = SocialPipeline(RulesHolder(_rules_file(args.rules)), region=_region(args.region))
    skipped: dict[str, int] = {}
    out = args.out.open("w", encoding="utf-8") if args.out else sys.stdout
    total = sum(1 for line in args.file.open(encoding="utf-8", errors="replace") if line.strip())
    try:
        with Progress(f"filtering {args.file.name}", total, stream=sys.stderr) as bar:
            for lineno, post in read_posts(args.file):
                bar.advance()
                if isinstance(post, str):
                    reason = post.split(":")[0]
                    skipped[reason] = skipped.get(reason, 0) + 1
                    print(f"emergency: skipped line {lineno}: {post}", file=sys.stderr)
                    continue
                out.write(json.dumps(pipeline.process(post).as_dict(), ensure_ascii=False) + "\n")
    finally:
        if args.out:
            out.close()
    counts = dict(pipeline.counts)
    clusters = len(pipeline.take_dirty())
    print("emergency: " + ", ".join(f"{k} {v}" for k, v in {**counts, "clusters": clusters}.items())
          + ("; skipped " + ", ".join(f"{k} {v}" for k, v in skipped.items()) if skipped else ""), file=sys.stderr)
    return 0


def _stream(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_run_stream(settings, args))


async def _run_stream(settings: Settings, args: argparse.Namespace) -> int:
    from emergency.store import open_store
    from feeds.social.pipeline import ClusterPublisher
    from feeds.social.service import RulesWatcher, store_sink

    store = await open_store(settings.resolved_store_url())
    holder = RulesHolder()
    watcher = RulesWatcher(store, holder)
    await watcher.refresh()
    pipeline = SocialPipeline(holder, region=_region(args.region))
    publisher = ClusterPublisher(pipeline, store_sink(store))
    poll = asyncio.create_task(watcher.run(settings.social_rules_poll_s))
    flusher = asyncio.create_task(_flush_every(publisher, settings.social_flush_s))
    n = 0
    adapter = _adapter(settings, args)
    posts = adapter.posts()
    try:
        async for post in posts:
            pipeline.process(post)
            n += 1
            if args.limit and n >= args.limit:
                break
    finally:
        await posts.aclose()
        for task in (poll, flusher):
            task.cancel()
        await asyncio.gather(poll, flusher, return_exceptions=True)
        await publisher.flush()
        await store.close()
    print("emergency: posts " + str(n) + ", " + ", ".join(f"{k} {v}" for k, v in
          {**pipeline.counts, **publisher.stats, "reconnects": adapter.stats.reconnects}.items())
          + ("; skipped " + ", ".join(f"{k} {v}" for k, v in adapter.stats.skipped.items())
             if adapter.stats.skipped else ""), file=sys.stderr)
    return 0


async def _flush_every(publisher, interval_s: float) -> None:
    """Journal changed clusters every ``interval_s`` seconds, even when the stream is quiet."""
    import logging

    while True:
        await asyncio.sleep(interval_s)
        try:
            await publisher.flush()
        except Exception as exc:  # noqa: BLE001 - the store may be briefly away; clusters stay dirty
            logging.getLogger(__name__).warning("social flush failed: %s", exc)


def _adapter(settings: Settings, args: argparse.Namespace):
    """The adapter for ``args.network`` (it has ``posts()`` and ``stats``)."""
    if args.network == "twitter":
        from feeds.social.adapters.twitter import TwitterStreamAdapter

        return TwitterStreamAdapter(args.url, settings.twitter_bearer_token)
    if args.network == "jetstream":
        from feeds.social.adapters.jetstream import JetstreamAdapter

        return JetstreamAdapter(args.url, cursor=int(args.cursor) if args.cursor else None)
    from feeds.social.adapters.mastodon import MastodonAdapter

    return MastodonAdapter(args.url, transport=args.transport, cursor=args.cursor)
