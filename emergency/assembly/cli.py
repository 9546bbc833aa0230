"""The ``emergency`` command line: serve, demo, ingest-posts, rebuild, token."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import json
import logging
import sys
from pathlib import Path

from emergency.config import PROJECT_ROOT, Settings, get_settings
from emergency.errors import BrokerError, EmergencyError
from emergency.http import keep_urls_out_of_logs

DEFAULT_SCENARIO = PROJECT_ROOT / "sample_data" / "scenarios" / "portland_demo.jsonl"

# Command groups that live with their package. Each module has
#   register(sub: argparse._SubParsersAction) -> None
# which adds one sub-command whose parser sets ``run=callable(settings, args) -> int``.
COMMAND_GROUPS = ("mapping.cli", "alerts.cli", "feeds.social.cli", "feeds.agency.cli", "emergency.assembly.journal")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="emergency", description="Emergency common operating picture: "
                                "intake -> Kafka -> live map -> public alerts. Settings come from EMERGENCY_* "
                                "environment variables (see README).")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("serve", help="run the API, the embedded broker (unless EMERGENCY_KAFKA_BOOTSTRAP is set) "
                       "and the workers in one process; Ctrl-C stops everything")
    s.add_argument("--host", help="listen address (default EMERGENCY_HOST or 127.0.0.1)")
    s.add_argument("--port", type=int, help="listen port (default EMERGENCY_PORT or 8000)")

    sub.add_parser("worker", help="run only the outbox relay and the stream processors (no HTTP): scale out "
                   "by starting more of these against a Kafka cluster and PostGIS")

    d = sub.add_parser("demo", help="serve, and replay the bundled Portland scenario so the live map fills "
                       "over about a minute and a half")
    d.add_argument("--host")
    d.add_argument("--port", type=int)
    d.add_argument("--speed", type=float, default=1.0, help="replay speed factor (default 1.0)")
    d.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO, help="scenario JSONL file")
    d.add_argument("--keep", action="store_true", help="keep the previous demo picture instead of starting empty")

    i = sub.add_parser("ingest-posts", help="journal posts from a JSONL file through the social pipeline (rules, "
                       "relevance, places, near-duplicate collapse); a running server publishes them to raw.social")
    i.add_argument("file", type=Path, help="one post per line: id, text, created_at, lat, lon, author, lang")
    i.add_argument("--source", default="jsonl", help="source name used in event ids (default: jsonl)")

    r = sub.add_parser("rebuild", help="drop the projection and replay the journal through the topics and "
                       "processors (stop the server first)")
    r.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds")
    r.add_argument("--from-topics", action="store_true",
                   help="replay the broker's retained topics (cop.incidents, alerts.issued) instead of the journal; "
                   "needs EMERGENCY_KAFKA_BOOTSTRAP of a cluster that retains them (Apache Kafka)")

    t = sub.add_parser("token", help="create an API token (printed once)")
    t.add_argument("--name", help="the token holder (default: the agency's name)")
    t.add_argument("--role", action="append", required=True,
                   help="agency | coordinator | alert_originator | amber | national_authority | admin | "
                   "collector | alert_approver (repeatable)")
    t.add_argument("--person", help="the person who holds the token (needed to draft or approve presidential alerts)")
    t.add_argument("--agency", help="agency name (agency tokens): a registered agency's exact name gives its "
                   "agency_id and jurisdiction")
    t.add_argument("--jurisdiction", type=Path, help="GeoJSON file with the agency's jurisdiction polygon "
                   "(default for a registered agency: its registered jurisdiction)")

    for module in COMMAND_GROUPS:
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module).register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    keep_urls_out_of_logs()  # -v must not log outbound URLs (phone numbers, gateway passwords)
    settings = get_settings()
    try:
        if hasattr(args, "run"):
            return args.run(settings, args)
        if args.command == "serve":
            asyncio.run(_serve(_with_listen(settings, args)))
        elif args.command == "worker":
            asyncio.run(_worker(settings))
        elif args.command == "demo":
            asyncio.run(_demo(_with_listen(settings, args), args))
        elif args.command == "ingest-posts":
            asyncio.run(_ingest_posts(settings, args.file, args.source))
        elif args.command == "rebuild":
            if args.from_topics:
                return asyncio.run(_rebuild_from_topics(settings))
            return asyncio.run(_rebuild(settings, args.timeout))
        elif args.command == "token":
            asyncio.run(_token(settings, args))
    except KeyboardInterrupt:
        return 130
    except (EmergencyError, OSError, ValueError) as exc:
        print(f"emergency: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _with_listen(settings: Settings, args: argparse.Namespace) -> Settings:
    update = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    return settings.model_copy(update=update) if update else settings


async def _run_server(runtime, on_started=None) -> None:
    """Serve the app on a started runtime until Ctrl-C; the server's shutdown stops the runtime."""
    import uvicorn

    from emergency.assembly.app import create_app
    from emergency.stream.broker import port_is_taken

    s = runtime.settings
    if port_is_taken(s.host, s.port):
        raise EmergencyError(f"cannot listen on {s.host}:{s.port}: the port is in use (set --port or EMERGENCY_PORT)")
    app = create_app(runtime=runtime, stop_runtime=True, on_startup=on_started)
    server = uvicorn.Server(uvicorn.Config(app, host=s.host, port=s.port, log_level="warning", lifespan="on"))
    await server.serve()


async def _serve(settings: Settings) -> None:
    from emergency.assembly.runtime import Runtime

    runtime = await Runtime(settings).start()
    try:
        _banner(runtime)
        await _run_server(runtime)
    finally:
        await runtime.stop()


async def _worker(settings: Settings) -> None:
    import signal

    from emergency.assembly.runtime import Runtime

    runtime = await Runtime(settings.model_copy(update={"run_workers": True})).start(gateways=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"emergency: worker running against {runtime.bootstrap}; Ctrl-C stops it", file=sys.stderr)
    try:
        await stop.wait()
    finally:
        await runtime.stop()


def _banner(runtime, note: str = "") -> None:
    s = runtime.settings
    base = f"http://{s.host}:{s.port}"
    broker = f"embedded broker on {runtime.bootstrap}" if runtime.broker else f"Kafka at {runtime.bootstrap}"
    print(f"emergency: serving {base}  (live map {base}/map, API docs {base}/docs)", file=sys.stderr)
    print(f"emergency: {broker}", file=sys.stderr)
    _print_store(s, note)
    print("emergency: press Ctrl-C to stop", file=sys.stderr)


async def _demo(settings: Settings, args: argparse.Namespace) -> None:
    from emergency.assembly.demo import demo_mail, demo_mqtt, demo_secret, empty_previous_demo
    from feeds.scenario import load_scenario
    from mapping.live_map.views import region_info

    items = load_scenario(args.scenario)
    secret = demo_secret(settings.data_dir)
    emptied = False if args.keep else await empty_previous_demo(settings, secret=secret)
    region = region_info(settings.region_dir)
    agency = region.get("jurisdiction_agency", "Demo agency")
    settings, mqtt_peer, mqtt_line = demo_mqtt(settings)
    settings, mail_sink, mail_line = demo_mail(settings)
    try:
        await _demo_run(settings, args, items=items, secret=secret, emptied=emptied, agency=agency, region=region,
                        peer_lines=[mqtt_line, mail_line])
    finally:
        if mqtt_peer is not None:
            mqtt_peer.stop()
        if mail_sink is not None:
            mail_sink.stop()


async def _demo_run(settings: Settings, args: argparse.Namespace, *, items, secret: bytes, emptied: bool,
                    agency: str, region: dict, peer_lines: list[str]) -> None:
    from emergency.assembly.demo import store_demo_tokens
    from emergency.assembly.runtime import Runtime
    from emergency.auth.tokens import find_token
    from emergency.progress import Progress
    from feeds.scenario import replay

    runtime = await Runtime(settings).start()
    try:
        assert runtime.store is not None
        tokens = await store_demo_tokens(runtime.store, secret=secret, agency=agency,
                                         jurisdiction=region.get("jurisdiction"))
        _banner(runtime, note="the previous demo's store was emptied; --keep keeps it" if emptied else "")
        print(f"emergency: demo tokens (the same at every start; from {settings.data_dir / 'demo-secret'}):",
              file=sys.stderr)
        for label, token in tokens.items():
            print(f"emergency:   {label:<17} {token}", file=sys.stderr)
        for line in peer_lines:
            print(f"emergency: {line}", file=sys.stderr)
        print("emergency: commands run with the same settings (emergency token, emergency ingest-posts, ...) "
              "use this store", file=sys.stderr)

        alerter = await find_token(runtime.store, tokens["alert_originator"])
        assert alerter is not None
        agency_rec = await find_token(runtime.store, tokens["agency"])
        assert agency_rec is not None

        async def play(_runtime) -> None:
            with Progress(f"replaying {args.scenario.name}", len(items)) as bar:
                n = await replay(runtime, items, speed=args.speed, agency=agency, alerter=alerter,
                                 principal=agency_rec, on_item=bar.update)
            print(f"emergency: scenario replayed ({n} inputs); the server keeps running, Ctrl-C stops it",
                  file=sys.stderr)

        await _run_server(runtime, on_started=play)
    finally:
        await runtime.stop()


def _print_store(settings: Settings, note: str = "") -> None:
    """Say which store a command uses (every command resolves it the same way: Settings.resolved_store_url)."""
    print(f"emergency: store {settings.public_store_url()}" + (f" ({note})" if note else ""), file=sys.stderr)


async def _ingest_posts(settings: Settings, path: Path, source: str) -> None:
    from emergency.progress import Progress
    from emergency.store import open_store
    from feeds.social.pipeline import ClusterPublisher, SocialPipeline
    from feeds.social.posts import read_posts
    from feeds.social.service import RulesWatcher, store_sink

    if not path.is_file():
        raise EmergencyError(f"{path}: no such file")
    total = sum(1 for line in path.open(encoding="utf-8", errors="replace") if line.strip())
    _print_store(settings)
    store = await open_store(settings.resolved_store_url())
    stats = {"read": 0, "invalid": 0, "no keyword": 0}
    problems: list[str] = []
    pipeline = SocialPipeline()  # coordinates only: the normaliser geocodes place mentions downstream
    publisher = ClusterPublisher(pipeline, store_sink(store))
    try:
        await RulesWatcher(store, pipeline.rules).refresh()  # the rules set through the API, if any
        with Progress(f"ingesting {path.name}", total) as bar:
            for lineno, post in read_posts(path, source=source):
                stats["read"] += 1
                bar.advance()
                if isinstance(post, str):
                    stats["invalid"] += 1
                    problems.append(f"line {lineno}: {post}")
                elif pipeline.process(post.model_copy(update={"source": source})).dropped:
                    stats["no keyword"] += 1
        await publisher.flush()
    finally:
        await store.close()
    for line in problems[:20]:
        print(f"emergency: skipped {line}", file=sys.stderr)
    stats.update(publisher.stats)
    stats["folded"] = pipeline.counts.get("kept", 0) - stats["journaled"] - stats["duplicates"]
    print("emergency: " + ", ".join(f"{k} {v}" for k, v in stats.items() if k != "updated"), file=sys.stderr)
    print("emergency: journaled posts are published to raw.social by the running server "
          "(emergency serve); those with a location appear on the map", file=sys.stderr)


async def _rebuild(settings: Settings, timeout: float) -> int:
    from emergency.assembly.runtime import Runtime
    from emergency.cop.checkpoints import drop_checkpoints
    from emergency.cop.incidents.service import mark_rebuild
    from emergency.progress import Progress

    runtime = Runtime(settings)
    await runtime.start(workers=False, gateways=False)
    try:
        assert runtime.store is not None
        before = await runtime.store.count_events()
        await runtime.store.clear_projection()
        dropped = await drop_checkpoints(runtime.store)  # made by the rules of before the rebuild
        # the incident states already on cop.incidents were made before: the correlators' tails start after them
        await mark_rebuild(settings=settings, bootstrap=runtime.bootstrap, store=runtime.store)
        total = (await runtime.store.journal_counts()).total
        print(f"emergency: projection dropped ({before} events) and {dropped} history checkpoints; replaying {total} "
              "journal rows", file=sys.stderr)
        await runtime.stop()
        runtime = await Runtime(settings).start(workers=True, gateways=False, feeds=False)  # replay, no intake
        assert runtime.store is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        with Progress("replaying journal", total) as bar:
            while loop.time() < deadline:
                counts = await runtime.store.journal_counts()
                bar.update(counts.finished)
                if counts.finished == counts.total:  # failed rows wait for `emergency journal retry`
                    break
                await asyncio.sleep(0.2)
        counts = await runtime.store.journal_counts()
        if counts.finished < counts.total:
            print(f"emergency: error: only {counts.applied} of {counts.total} journal rows applied "
                  f"after {timeout:.0f} s", file=sys.stderr)
            return 1
        print(f"emergency: rebuilt: {await runtime.store.count_events()} events in the picture", file=sys.stderr)
        return 0
    finally:
        await runtime.stop()


async def _rebuild_from_topics(settings: Settings) -> int:
    """Drop the projection and give it the projector's topics again, from their first message (stop the server first)."""
    from emergency.cop.checkpoints import drop_checkpoints
    from emergency.store import open_store
    from emergency.stream.replay import replay_topics
    from emergency.stream.topics import ALERTS_ISSUED, COP_INCIDENTS

    if not settings.kafka_bootstrap:
        raise BrokerError("rebuild --from-topics needs EMERGENCY_KAFKA_BOOTSTRAP: the embedded broker keeps its "
                          "topics in memory only, so a new one has nothing to replay; `emergency rebuild` "
                          "replays the journal")
    _print_store(settings)
    store = await open_store(settings.resolved_store_url())
    try:
        before = await store.count_events()
        topics = [COP_INCIDENTS, ALERTS_ISSUED]  # what the projector reads (the correlator's output, alerts)
        # first a dry pass that only checks the topics are whole, so a refusal leaves the projection as it was
        await replay_topics(settings=settings, bootstrap=settings.kafka_bootstrap, topics=topics, apply=None)
        await store.clear_projection()
        await drop_checkpoints(store)
        print(f"emergency: projection dropped ({before} events); replaying topics "
              f"{', '.join(settings.topic(t) for t in topics)} from {settings.kafka_bootstrap}", file=sys.stderr)
        done = await replay_topics(settings=settings, bootstrap=settings.kafka_bootstrap, topics=topics,
                                   apply=store.upsert_events)
        print(f"emergency: rebuilt from topics: {done['messages']} messages"
              + (f" ({done['undecodable']} undecodable, skipped)" if done["undecodable"] else "")
              + f", {await store.count_events()} events in the picture", file=sys.stderr)
        return 0
    finally:
        await store.close()


async def _token(settings: Settings, args: argparse.Namespace) -> None:
    from emergency.auth.audit import AUDIT, audit_entry
    from emergency.auth.tokens import Role, create_token, token_id
    from emergency.store import open_store

    if not args.name and not args.agency:
        raise ValueError("--name: give the token holder's name (or --agency, whose name it then takes)")
    try:
        roles = [Role(r) for r in args.role]
    except ValueError as exc:
        raise ValueError(f"--role: {exc}") from None
    jurisdiction = None
    if args.jurisdiction:
        doc = json.loads(args.jurisdiction.read_text(encoding="utf-8"))
        jurisdiction = doc.get("geometry", doc) if doc.get("type") == "Feature" else doc
    _print_store(settings)
    store = await open_store(settings.resolved_store_url())
    try:
        token, rec = await create_token(store, name=args.name or args.agency, roles=roles, agency=args.agency,
                                        jurisdiction=jurisdiction, person=args.person)
        if rec.agency_id:
            await store.repository(AUDIT).add(audit_entry(principal=None, agency_id=rec.agency_id,
                                                          action="token.create", target=token_id(rec.token_hash),
                                                          detail={"roles": rec.roles}))
    finally:
        await store.close()
    print(token)
    print(f"emergency: token {token_id(rec.token_hash)} for {rec.name} with roles {', '.join(rec.roles)}; "
          "it is shown only this once", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
