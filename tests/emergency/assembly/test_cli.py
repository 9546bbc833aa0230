"""The command line: help, one-line errors, social replay through the stream, clean shutdown."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import httpx
import pytest

from emergency.assembly.runtime import Runtime
from emergency.config import PROJECT_ROOT
from emergency.cop.features import to_feature
from emergency.store import EventQuery
from emergency.stream.broker import free_port, port_is_taken
from tests.conftest import make_settings

POSTS = PROJECT_ROOT / "sample_data" / "social" / "demo_posts.jsonl"


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emergency.assembly.cli", *args], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("command", [[], ["serve"], ["demo"], ["ingest-posts"], ["rebuild"], ["token"], ["worker"]])
def test_every_command_has_help(command):
    done = cli(*command, "--help")
    assert done.returncode == 0
    assert done.stdout.startswith("usage: emergency")


def test_errors_are_one_clear_line(tmp_path):
    done = cli("ingest-posts", str(tmp_path / "missing.jsonl"), env={"EMERGENCY_DATA_DIR": str(tmp_path)})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"emergency: error: {tmp_path / 'missing.jsonl'}: no such file"]
    done = cli("token", "--name", "x", "--role", "wizard", env={"EMERGENCY_DATA_DIR": str(tmp_path)})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().endswith("'wizard' is not a valid Role")
    done = cli("serve", env={"EMERGENCY_DATA_DIR": str(tmp_path), "EMERGENCY_STORE_URL": "mysql://x"})
    assert done.returncode == 2
    assert done.stderr.strip() == "emergency: error: store URL must start with sqlite:/// or postgresql://, got 'mysql'"


async def test_ingest_posts_filters_and_the_located_ones_reach_the_map(broker, sqlite_url, tmp_path):
    posts = [json.loads(line) for line in POSTS.read_text().splitlines() if line.strip()]
    lines = POSTS.read_text() + "{not json\n" + json.dumps({"id": "p", "text": "fire", "created_at": "x"}) + "\n"
    file = tmp_path / "posts.jsonl"
    file.write_text(lines)
    done = cli("ingest-posts", str(file), "--source", "test", env={"EMERGENCY_STORE_URL": sqlite_url})
    assert done.returncode == 0, done.stderr
    assert "skipped line 26: not JSON" in done.stderr
    assert "skipped line 27: created_at:" in done.stderr
    summary = re.search(r"read (\d+), invalid (\d+), no keyword (\d+), journaled (\d+), with location (\d+)", done.stderr)
    read, invalid, no_keyword, journaled, located = map(int, summary.groups())
    assert (read, invalid) == (len(posts) + 2, 2)
    assert no_keyword + journaled == len(posts)
    assert 0 < located < journaled
    again = cli("ingest-posts", str(file), "--source", "test", env={"EMERGENCY_STORE_URL": sqlite_url})
    assert f"journaled 0, with location 0, duplicates {journaled}" in again.stderr

    runtime = await Runtime(make_settings(broker, sqlite_url, tmp_path)).start(gateways=False)
    try:
        assert await runtime.wait_applied(timeout_s=30)
        social = await runtime.store.query_events(EventQuery(kinds=("social_post",)))
        assert len(social) == journaled
        mapped = await runtime.store.query_events(EventQuery(kinds=("social_post",), bbox=(-123, 45, -122, 46)))
        # posts with coordinates keep them; two more are geocoded from their text by the normaliser
        assert len([e for e in mapped if e.geo_precision.value == "exact"]) == located
        assert all(e.geo_precision.value in ("exact", "street") for e in mapped)
        assert all(e.category in {"spot_fire", "smoke", "flooding", "blocked_road", "damage", "needs_help", "other"}
                   for e in social)
        assert all(e.attributes["private"]["author"].startswith("demo_user_") for e in social)
        assert all("demo_user_" not in json.dumps(to_feature(e)) for e in social)  # authors are never public
    finally:
        await runtime.stop()


def test_serve_stops_cleanly_on_ctrl_c_without_an_orphan_broker(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "emergency.assembly.cli", "serve"], cwd=PROJECT_ROOT,
                            env={**os.environ, "EMERGENCY_PORT": str(port), "EMERGENCY_DATA_DIR": str(tmp_path),
                                 "EMERGENCY_KAFKA_BOOTSTRAP": ""},
                            stderr=subprocess.PIPE, text=True)
    try:
        banner = ""
        deadline = time.monotonic() + 60
        while "Ctrl-C" not in banner and time.monotonic() < deadline:
            banner += proc.stderr.readline()
        broker_port = int(re.search(r"embedded broker on 127\.0\.0\.1:(\d+)", banner).group(1))
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        assert httpx.get(f"http://127.0.0.1:{port}/map", timeout=5).status_code == 200
        assert port_is_taken("127.0.0.1", broker_port)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        assert "Traceback" not in proc.stderr.read()
        assert not port_is_taken("127.0.0.1", port)
        assert not port_is_taken("127.0.0.1", broker_port)
    finally:
        if proc.poll() is None:
            proc.kill()
