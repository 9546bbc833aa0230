"""``emergency social filter`` and ``emergency social stream``: one decision line per post, bad
lines skipped with a counted reason, one-line errors, and a live adapter journaling to raw.social."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime

import pytest
from websockets.asyncio.server import serve

from emergency.config import PROJECT_ROOT
from emergency.store import open_store
from emergency.stream.broker import free_port
from feeds.social.adapters.jetstream import parse_event
from feeds.social.rules import Rules
from feeds.social.service import save_rules
from tests.emergency.assembly.test_cli import cli
from tests.feeds.social.test_adapters import CAPTURE, STATUSES, TOKEN, mastodon_app, serve_app


@pytest.mark.parametrize("command", [["social"], ["social", "filter"], ["social", "stream"]])
def test_social_commands_have_help(command):
    done = cli(*command, "--help")
    assert done.returncode == 0 and done.stdout.startswith("usage: emergency social")


def test_filter_writes_one_decision_per_post_and_counts_bad_lines(tmp_path):
    lines = [
        json.dumps({"id": "a", "text": "Flooding on Naito Pkwy, water over the road, avoid the area", "lat": 45.51,
                    "lon": -122.67}),
        json.dumps({"id": "b", "text": "RT @x: Flooding on Naito Pkwy, water over the road, avoid the area"}),
        json.dumps({"id": "c", "text": "🌧️🌊🆘"}),
        json.dumps({"id": "d", "text": ""}),
        json.dumps({"id": "e", "text": "flood " * 17_000}),  # about 100 kB
        "{not json",
        json.dumps({"id": "f"}) .replace("}", ', "lat": 1}'),
        json.dumps(["a list"]),
        json.dumps({"text": "no id"}),
    ]
    src = tmp_path / "posts.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = cli("social", "filter", str(src))
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert [d["id"] for d in out] == ["a", "b", "c", "d", "e"]
    a, b, c, d, e = out
    assert a["related"] and a["informative"] and a["category"] == "caution_advice" and a["cluster"] == "a"
    assert a["places"][0]["precision"] == "exact"
    assert b["cluster"] == "a" and "near_duplicate" in b["flags"]
    assert not c["related"] and not d["related"] and d["cluster"] is None
    assert e["related"]
    assert "skipped not JSON 1" in done.stderr and "skipped line 6: not JSON" in done.stderr
    assert "post: Value error, lat and lon must be given together" in done.stderr
    assert "post 1, not a JSON object 1, id 1" in done.stderr


def test_filter_rules_file_and_its_errors(tmp_path):
    src = tmp_path / "posts.jsonl"
    src.write_text(json.dumps({"id": "a", "text": "lahar coming down the valley"}) + "\n")
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"keywords": ["lahar"], "default_lexicon": False}))
    done = cli("social", "filter", str(src), "--rules", str(rules))
    assert json.loads(done.stdout)["keywords"] == ["lahar"] and json.loads(done.stdout)["related"]
    rules.write_text(json.dumps({"region": {"bbox": [5, 0, 1, 1]}}))
    done = cli("social", "filter", str(src), "--rules", str(rules))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("emergency: error: --rules: region.bbox:")
    done = cli("social", "filter", str(tmp_path / "none.jsonl"))
    assert done.returncode == 2 and done.stderr.strip().endswith("none.jsonl: no such file")


async def test_stream_command_journals_jetstream_posts_to_raw_social(sqlite_url, tmp_path):
    store = await open_store(sqlite_url)
    try:  # the capture is everyday chatter: the operator's rules pick some of it
        await save_rules(store, Rules(keywords=["band", "government", "election"]), updated_by="test")
    finally:
        await store.close()

    async def handler(ws):
        for line in CAPTURE:
            await ws.send(line)
        await ws.wait_closed()

    port = free_port()
    async with serve(handler, "127.0.0.1", port):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "emergency.assembly.cli", "social", "stream", "jetstream", f"ws://127.0.0.1:{port}/subscribe",
            "--limit", "32", cwd=PROJECT_ROOT, env={**os.environ, "EMERGENCY_STORE_URL": sqlite_url},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    events = [parse_event(json.loads(line)) for line in CAPTURE]
    last_post = max(i for i, p in enumerate(events) if p is not None)
    others = sum(1 for p in events[:last_post] if p is None)  # likes, follows... before the 32nd post
    assert "emergency: posts 32" in err.decode() and f"skipped not a post {others}" in err.decode()
    store = await open_store(sqlite_url)
    try:
        rows = await store.due_for_publication(1000, republish_before=datetime.now(UTC))
    finally:
        await store.close()
    kept = int(err.decode().split("journaled ")[1].split(",")[0])
    assert kept >= 3 and len(rows) == kept
    assert all(r.topic == "raw.social" and r.event_id.startswith("social:bluesky:at:") for r in rows)
    assert not any(b"did:plc" in r.payload.split(b'"private"')[0] for r in rows)  # the DID only under private


async def test_stream_command_sends_the_mastodon_access_token_from_option_or_setting(tmp_path):
    state = {"stream_connections": 0, "live_from": 0, "drop_at": -1, "resume_at": len(STATUSES), "backfills": [],
             "token": TOKEN}
    server, task, port = await serve_app(mastodon_app(state))
    try:
        for name, extra, env in [("option", ["--access-token", TOKEN], {}),
                                 ("setting", [], {"EMERGENCY_MASTODON_ACCESS_TOKEN": TOKEN})]:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "emergency.assembly.cli", "social", "stream", "mastodon", f"http://127.0.0.1:{port}",
                "--limit", "4", *extra, cwd=PROJECT_ROOT,
                env={**os.environ, "EMERGENCY_STORE_URL": f"sqlite:///{tmp_path / name}.sqlite3", **env},
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            _, err = await asyncio.wait_for(proc.communicate(), 60)
            assert proc.returncode == 0, err.decode()
            assert "emergency: posts 4," in err.decode() and TOKEN not in err.decode()
    finally:
        server.should_exit = True
        await task
    assert state["stream_connections"] == 2 and state.get("refused", 0) == 0  # accepted each time


def test_stream_access_token_is_only_for_mastodon():
    done = cli("social", "stream", "jetstream", "ws://127.0.0.1:9/subscribe", "--access-token", "x")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == "emergency: error: --access-token: only for mastodon streams (the jetstream " \
                                  "stream does not use it)"
