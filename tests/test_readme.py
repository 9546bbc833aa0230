"""Every command the README shows in a code block runs and succeeds: ``emergency ...`` as a subprocess,
``curl`` as the same request with httpx, against a started ``emergency demo`` (itself one of the
README's commands), in a scratch folder laid out like the repository.

Two commands are not run, by name: ``pip install -e .`` (this suite runs in that installed
environment) and ``bash .ci/run`` (it is this suite)."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import httpx
import pytest

from emergency.config import PROJECT_ROOT
from emergency.stream.broker import free_port

NOT_RUN = {"pip install -e .": "the suite runs in the installed package", "bash .ci/run": "it is this suite"}
LONG_RUNNING = {"emergency demo", "emergency serve"}


def readme_commands(text: str) -> list[str]:
    """The commands of the README's ```bash blocks: continuation lines joined, comments dropped, ``&&`` split."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if not words:
                continue
            joined = shlex.join(words)
            commands += [c.strip() for c in joined.split(" '&&' ")] if "'&&'" in joined else [joined]
    return commands


def curl_request(words: list[str], port: int) -> tuple[str, str, dict[str, str], str | None]:
    """(method, url, headers, body) of a curl command line (the options the README uses)."""
    method, headers, body, url = "GET", {}, None, None
    it = iter(words[1:])
    for w in it:
        if w == "-X":
            method = next(it)
        elif w == "-H":
            k, v = next(it).split(":", 1)
            headers[k.strip()] = v.strip()
        elif w in ("-d", "--data"):
            body = next(it)
            method = "POST" if method == "GET" else method
        elif w in ("-s", "-S", "-f", "-sS"):
            continue
        elif w.startswith("-"):
            raise AssertionError(f"curl option {w} is not understood by this test: teach it")
        else:
            url = w
    assert url is not None
    return method, url.replace("127.0.0.1:8000", f"127.0.0.1:{port}"), headers, body


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A scratch folder with the repository's data folders linked in, so relative paths in the README work."""
    for name in ("sample_data", "tests"):
        (tmp_path / name).symlink_to(PROJECT_ROOT / name)
    return tmp_path


def test_the_quick_start_is_two_commands():
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = [b.strip() for b in re.findall(r"```bash\n(.*?)```", quick, re.S)]
    assert blocks[0] == "pip install -e . && emergency demo"
    assert blocks[-1] == "bash .ci/run"


def test_every_readme_command_runs(workdir: Path):
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    commands = readme_commands(text)
    assert metadata.version("emergency")  # what `pip install -e .` gives: the package is installed
    port = free_port()
    data = workdir / "data"
    env = {**os.environ, "EMERGENCY_DATA_DIR": str(data), "EMERGENCY_PORT": str(port), "EMERGENCY_STORE_URL": "",
           "EMERGENCY_KAFKA_BOOTSTRAP": "", "EMERGENCY_ADMIN_TOKEN": "",
           "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p)}
    ran: list[str] = []
    server = None
    base = f"http://127.0.0.1:{port}"
    http = httpx.Client(base_url=base, timeout=30)
    try:
        for command in commands:
            if command in NOT_RUN:
                continue
            words = shlex.split(command)
            if words[0] == "emergency" and command in LONG_RUNNING:
                assert server is None, "one server at a time"
                server = subprocess.Popen([sys.executable, "-m", "emergency.assembly.cli", *words[1:]], cwd=workdir,
                                          env=env, stderr=subprocess.PIPE, text=True, start_new_session=True)
                eventually_sync(lambda: _get(http, "/readyz") == 200, server)
                assert http.get("/map").status_code == 200 and http.get("/docs").status_code == 200
            elif words[0] == "emergency":
                done = subprocess.run([sys.executable, "-m", "emergency.assembly.cli", *words[1:]], cwd=workdir,
                                      env=env, capture_output=True, text=True, timeout=300)
                assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
                assert "Traceback" not in done.stderr
                if words[1] == "token":
                    token = done.stdout.strip()
                    assert f"store sqlite:///{(data / 'emergency.sqlite3').resolve()}" in done.stderr
                    assert http.get("/api/v1/social/rules", headers={"Authorization": f"Bearer {token}"}) \
                        .status_code == 200  # the demo reads the store the command wrote
                if words[1] == "ingest-posts":
                    eventually_sync(lambda: any(f["id"].startswith("social:jsonl:") for f in http.get(
                        "/api/v1/reports", params={"kind": "social_post"}).json()["features"]), server)
            elif words[0] == "curl":
                method, url, headers, body = curl_request(words, port)
                r = http.request(method, url, headers=headers, content=body)
                assert r.status_code < 400, f"{command}: {r.status_code} {r.text}"
            else:  # other tools the README uses (openssl)
                done = subprocess.run(command, shell=True, cwd=workdir, env=env, capture_output=True, text=True,
                                      timeout=120)
                assert done.returncode == 0, f"{command}\n{done.stderr}"
            ran.append(command)
    finally:
        http.close()
        if server is not None:
            os.killpg(server.pid, signal.SIGINT)
            server.communicate(timeout=60)
    assert "emergency demo" in ran and any(c.startswith("curl ") for c in ran)
    assert {c.split()[1] for c in ran if c.startswith("emergency ")} >= {"demo", "token", "ingest-posts", "geo", "cap"}


def _get(http: httpx.Client, path: str) -> int:
    try:
        return http.get(path).status_code
    except httpx.HTTPError:
        return 0


def eventually_sync(check, server, timeout: float = 60.0) -> None:
    """Poll ``check()`` until true; fail early with the server's output if it exited."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            raise AssertionError(f"the server exited: {server.stderr.read()}")
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")
