"""docker-compose.yml (the production shape) is valid and configured through the same settings."""

from __future__ import annotations

import os
import re
import subprocess

import yaml

from emergency.config import PROJECT_ROOT, Settings

COMPOSE = PROJECT_ROOT / "docker-compose.yml"


def test_compose_file_validates_offline():
    done = subprocess.run(["docker-compose", "-f", str(COMPOSE), "config", "--quiet"], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "EMERGENCY_ADMIN_TOKEN": "compose-test-token"})
    assert done.returncode == 0, done.stderr
    missing = subprocess.run(["docker-compose", "-f", str(COMPOSE), "config", "--quiet"], cwd=PROJECT_ROOT,
                             capture_output=True, text=True, timeout=60,
                             env={k: v for k, v in os.environ.items() if k != "EMERGENCY_ADMIN_TOKEN"})
    assert missing.returncode != 0 and "EMERGENCY_ADMIN_TOKEN" in missing.stderr


def test_compose_has_kafka_postgis_api_and_worker_on_our_settings():
    doc = yaml.safe_load(COMPOSE.read_text())
    assert "name" not in doc  # docker-compose v1 rejects it
    services = doc["services"]
    assert set(services) == {"kafka", "postgis", "api", "worker"}
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    assert services["postgis"]["image"].startswith("postgis/postgis:")
    fields = set(Settings.model_fields)
    for name in ("api", "worker"):
        env = services[name]["environment"]
        assert env["EMERGENCY_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert env["EMERGENCY_STORE_URL"].startswith("postgresql://")
        for key in env:
            assert key.startswith("EMERGENCY_") and key.removeprefix("EMERGENCY_").lower() in fields, key
    assert services["worker"]["command"] == ["emergency", "worker"]
    assert services["api"]["command"] == ["emergency", "serve"]


def test_dockerfile_copies_what_exists():
    for line in (PROJECT_ROOT / "Dockerfile").read_text().splitlines():
        m = re.match(r"COPY (.+) \S+$", line)
        if m:
            for src in m.group(1).split():
                assert (PROJECT_ROOT / src).exists(), src
