"""``emergency social ...``: filter a post file, or run a live stream adapter into raw.social."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from pydantic import SecretStr

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
                         "EMERGENCY_SOCIAL_RULES_POLL_S), journal clusters to raw.social and store the resume "
                         "cursor after them (to run streams inside `emergency serve`, see EMERGENCY_SOCIAL_STREAMS)")
    st.add_argument("network", choices=["jetstream", "mastodon", "twitter"], help="which protocol")
    st.add_argument("url", help="jetstream: ws(s)://host/subscribe; mastodon: https://host or its streaming URL "
                    "(https://host/api/v1/streaming/public); "
                    "twitter: the filtered-stream URL (token from EMERGENCY_TWITTER_BEARER_TOKEN)")
    st.add_argument("--transport", choices=["sse", "websocket"], help="mastodon transport (default: websocket for "
                    "a ws(s):// URL, else sse)")
    st.add_argument("--access-token", help="mastodon access token, sent as Authorization: Bearer (default: "
                    "EMERGENCY_MASTODON_ACCESS_TOKEN; prefer the variable: a command-line argument is visible to "
                    "other local users)")
    st.add_argument("--cursor", help="start here (jetstream time_us, mastodon status id) instead of the cursor "
                    "stored by the last run of this stream")
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
    from emergency.collector import tune_collector
    from emergency.progress import Progress
    from feeds.social.posts import read_posts

    if not args.file.is_file():
        raise EmergencyError(f"{args.file}: no such file")
    pipeline = SocialPipeline(RulesHolder(_rules_file(args.rules)), region=_region(args.region))
    tune_collector(settings.gc_gen0_threshold)
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
    from feeds.social.service import RulesWatcher, store_sink
    from feeds.social.streams import StreamRunner, StreamSpec, parse_streams

    parse_streams(f"{args.network}={args.url}", field="url")  # a clear error for a bad URL
    if args.access_token is not None:
        if args.network != "mastodon":
            raise EmergencyError(f"--access-token: only for mastodon streams (the {args.network} stream does not "
                                 "use it)")
        settings = settings.model_copy(update={"mastodon_access_token": SecretStr(args.access_token)})
    store = await open_store(settings.resolved_store_url())
    holder = RulesHolder()
    watcher = RulesWatcher(store, holder)
    runner = StreamRunner(StreamSpec(args.network, args.url), store=store, holder=holder, sink=store_sink(store),
                          settings=settings, region=_region(args.region), cursor=args.cursor,
                          transport=args.transport)
    poll = None
    n = 0
    try:
        await watcher.refresh()
        poll = asyncio.create_task(watcher.run(settings.social_rules_poll_s))
        n = await runner.run(args.limit)
    finally:
        if poll is not None:
            poll.cancel()
            await asyncio.gather(poll, return_exceptions=True)
        await store.close()
    adapter, pipeline, publisher = runner.adapter, runner.pipeline, runner.publisher
    print("emergency: posts " + str(n) + ", " + ", ".join(f"{k} {v}" for k, v in
          {**pipeline.counts, **publisher.stats, "reconnects": adapter.stats.reconnects}.items())
          + ("; skipped " + ", ".join(f"{k} {v}" for k, v in adapter.stats.skipped.items())
             if adapter.stats.skipped else ""), file=sys.stderr)
    return 0
