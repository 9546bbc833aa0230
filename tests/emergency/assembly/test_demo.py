"""``emergency demo``: a token for every role it needs, the same at every start, the store it uses
printed, and a store holding someone else's inputs is never emptied."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from emergency.config import PROJECT_ROOT
from emergency.stream.broker import free_port

ROLES = {"agency", "alert_originator", "coordinator", "collector", "admin", "alert_approver"}


def demo_env(data: Path, port: int) -> dict[str, str]:
    return {**os.environ, "EMERGENCY_DATA_DIR": str(data), "EMERGENCY_PORT": str(port), "EMERGENCY_STORE_URL": "",
            "EMERGENCY_KAFKA_BOOTSTRAP": "", "EMERGENCY_ADMIN_TOKEN": ""}


def start_demo(data: Path, port: int, *extra: str) -> tuple[subprocess.Popen, list[str], dict[str, str]]:
    """Start the demo; return it, its first stderr lines (up to the tokens) and the tokens by role."""
    proc = subprocess.Popen([sys.executable, "-m", "emergency.assembly.cli", "demo", "--speed", "50", *extra],
                            cwd=PROJECT_ROOT, env=demo_env(data, port), stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    lines: list[str] = []
    while True:
        line = proc.stderr.readline()
        assert line, "the demo ended early:\n" + "".join(lines)
        lines.append(line)
        if "use this store" in line:
            break
    wait_until_serving(port, proc)
    tokens = dict(m.groups() for m in (re.match(r"emergency:   (\w+) +([A-Za-z0-9_-]{40,})$", x.rstrip()) for x in lines) if m)
    return proc, lines, tokens


def wait_until_serving(port: int, proc: subprocess.Popen) -> None:
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the demo exited"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("the demo did not start serving")


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGINT)
    proc.communicate(timeout=60)


def test_demo_prints_every_role_and_its_store_and_tokens_survive_a_restart(tmp_path):
    port = free_port()
    proc, lines, first = start_demo(tmp_path, port)
    try:
        assert set(first) == ROLES
        assert any(f"store sqlite:///{(tmp_path / 'emergency.sqlite3').resolve()}" in x for x in lines)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as http:
            for role, method, path in (("coordinator", "GET", "/api/v1/social/rules"),
                                       ("admin", "POST", "/api/v1/admin/tokens"),
                                       ("collector", "POST", "/api/v1/social/posts"),
                                       ("agency", "POST", "/api/v1/agency/road-closures"),
                                       ("alert_originator", "POST", "/api/v1/alerts"),
                                       ("alert_approver", "GET", "/api/v1/alerts/drafts")):
                r = http.request(method, path, headers={"Authorization": f"Bearer {first[role]}"},
                                 json={} if method == "POST" else None)
                assert r.status_code not in (401, 403), (role, r.text)  # let in (an empty body is then a 422)
    finally:
        stop(proc)
    assert (tmp_path / "demo-secret").stat().st_mode & 0o077 == 0  # readable by its owner only
    proc, lines, again = start_demo(tmp_path, port)
    try:
        assert again == first  # the same tokens: scripts and bookmarks keep working
        assert any("previous demo's store was emptied" in x for x in lines)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as http:
            r = http.get("/api/v1/social/rules", headers={"Authorization": f"Bearer {again['coordinator']}"})
            assert r.status_code == 200
    finally:
        stop(proc)


def test_demo_never_empties_a_store_with_inputs_that_are_not_a_demos(tmp_path):
    env = demo_env(tmp_path, free_port())
    ingest = subprocess.run([sys.executable, "-m", "emergency.assembly.cli", "ingest-posts",
                             str(PROJECT_ROOT / "sample_data" / "social" / "demo_posts.jsonl")], cwd=PROJECT_ROOT,
                            env=env, capture_output=True, text=True, timeout=120)
    assert ingest.returncode == 0, ingest.stderr
    store = tmp_path / "emergency.sqlite3"
    size = store.stat().st_size
    done = subprocess.run([sys.executable, "-m", "emergency.assembly.cli", "demo"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().startswith(f"emergency: error: the store {store} holds ")
    assert "emergency demo --keep" in done.stderr
    assert store.stat().st_size >= size


def test_demo_starts_a_local_mqtt_peer_and_says_where_to_watch(tmp_path):
    import asyncio

    import aiomqtt

    port = free_port()
    proc, lines, _ = start_demo(tmp_path, port)
    try:
        [line] = [x for x in lines if "MQTT:" in x]
        m = re.search(r"mqtt://127\.0\.0\.1:(\d+); watch alerts arrive with mosquitto_sub -h 127\.0\.0\.1 -p (\d+) "
                      r"-t 'alerts/#' -v", line)
        assert m and m.group(1) == m.group(2), line

        async def connect() -> None:
            async with aiomqtt.Client("127.0.0.1", int(m.group(1))) as client:
                await client.publish("alerts/portland/hello", b"demo", qos=1)

        asyncio.run(connect())  # a real broker answers there
    finally:
        stop(proc)
    from emergency.stream.broker import port_is_taken

    assert not port_is_taken("127.0.0.1", int(m.group(1)))  # the demo's broker ended with it


def test_demo_keeps_the_mails_it_sends_in_a_local_sink(tmp_path):
    import smtplib
    from email.message import EmailMessage

    port = free_port()
    proc, lines, _ = start_demo(tmp_path, port)
    try:
        [line] = [x for x in lines if "email:" in x]
        m = re.search(r"smtp://127\.0\.0\.1:(\d+) keeps every mail the system sends in (\S+) ", line)
        assert m, line
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "alerts@example.org", "someone@example.org", "Demo check"
        msg.set_content("hello from the test")
        with smtplib.SMTP("127.0.0.1", int(m.group(1)), timeout=10) as smtp:  # a real SMTP server answers there
            smtp.send_message(msg)
        [kept] = sorted(Path(m.group(2)).glob("*.eml"))
        assert b"Subject: Demo check" in kept.read_bytes()
    finally:
        stop(proc)
