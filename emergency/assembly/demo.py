"""The demo's setup: the store every command uses, emptied at start, and stable tokens for every role.

The demo uses ``Settings.resolved_store_url()`` like every other command, so ``emergency token``
and ``emergency ingest-posts`` run beside it (with the same settings) reach its store. Unless
``--keep``, it starts empty by deleting the SQLite file of a previous demo; a store that holds
inputs not from a demo is never deleted (the demo refuses to start and says why), and a store
given by ``EMERGENCY_STORE_URL`` is never deleted either.

Demo tokens stay the same across starts: each is derived (HMAC-SHA256) from a secret created
once in ``$EMERGENCY_DATA_DIR/demo-secret`` (mode 0600) and stored (hashed) in the demo's store
at every start. Deleting that file gives new tokens at the next start.

When Debian's ``mosquitto`` is installed, the demo starts one on a free loopback port (``LocalMosquitto``:
anonymous, no persistence) and points ``EMERGENCY_MQTT_URL`` at it, unless that is set already, so a new user
watches alerts arrive with ``mosquitto_sub -h 127.0.0.1 -p PORT -t 'alerts/#' -v``. The tests start their
MQTT peer the same way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emergency.auth.tokens import Role, ensure_token, find_token
from emergency.config import Settings
from emergency.errors import EmergencyError
from emergency.store import open_store
from emergency.store.base import Store
from emergency.stream.broker import free_port, port_is_taken

SECRET_FILE = "demo-secret"
ALERT_SENDER = "Demo emergency management"


@dataclass(frozen=True)
class DemoRole:
    """One token the demo prints: its label, roles, and whether it acts for the region's agency."""

    label: str
    roles: tuple[Role, ...]
    name: str
    agency_scoped: bool = False  # carries the region's jurisdiction polygon
    person: str | None = None  # the person holding the token (alert drafts: the approver is another person)


DEMO_ROLES: tuple[DemoRole, ...] = (
    DemoRole("agency", (Role.agency,), "", agency_scoped=True),  # name: the region's agency
    DemoRole("alert_originator", (Role.alert_originator, Role.amber), ALERT_SENDER, agency_scoped=True,
             person="Demo alert originator"),
    # the second person who approves the originator's drafts (AMBER alerts need one by default: alerts.drafts)
    DemoRole("alert_approver", (Role.alert_approver,), "Demo duty officer", person="Demo duty officer"),
    DemoRole("coordinator", (Role.coordinator,), "Demo coordinator"),
    DemoRole("collector", (Role.collector,), "Demo social collector"),
    DemoRole("admin", (Role.admin,), "Demo admin"),
)


def demo_secret(data_dir: Path) -> bytes:
    """The demo's persisted secret (``data_dir/demo-secret``), created on first use."""
    path = data_dir / SECRET_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text(encoding="ascii").strip().encode("ascii")


def demo_token(secret: bytes, label: str) -> str:
    """The demo's bearer token for ``label`` (43 URL-safe characters, the same for the same secret)."""
    digest = hmac.new(secret, f"emergency demo token: {label}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


async def store_demo_tokens(store: Store, *, secret: bytes, agency: str,
                            jurisdiction: dict[str, Any] | None) -> dict[str, str]:
    """Store every demo token (idempotent) and return them by label."""
    out: dict[str, str] = {}
    for role in DEMO_ROLES:
        token = demo_token(secret, role.label)
        scoped = role.agency_scoped
        await ensure_token(store, token=token, name=role.name or agency, roles=list(role.roles),
                           agency=(agency if role.label == "agency" else role.name) if scoped else None,
                           jurisdiction=jurisdiction if scoped else None, person=role.person)
        out[role.label] = token
    return out


async def empty_previous_demo(settings: Settings, *, secret: bytes) -> bool:
    """Delete the SQLite store of a previous demo so this one starts empty; True if one was deleted.

    Nothing is deleted for a store named by ``EMERGENCY_STORE_URL``, a missing file, or a store
    with no inputs (its tokens are kept). A store with inputs but without the demo's tokens is
    someone's data: EmergencyError, saying how to go on.
    """
    path = settings.sqlite_file()
    if settings.store_url or path is None or not path.exists():
        return False
    store = await open_store(settings.resolved_store_url())
    try:
        inputs = (await store.journal_counts()).total
        ours = await find_token(store, demo_token(secret, DEMO_ROLES[0].label)) is not None
    finally:
        await store.close()
    if inputs == 0:
        return False
    if not ours:
        raise EmergencyError(f"the store {path} holds {inputs} inputs that are not from a demo, and the demo "
                             "empties its store at start: run `emergency demo --keep` to add the demo to it, or "
                             "set EMERGENCY_DATA_DIR to another folder")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return True


MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto")


def mosquitto_binary() -> str | None:
    """The ``mosquitto`` broker's executable, or None when it is not installed."""
    return shutil.which("mosquitto") or next((p for p in MOSQUITTO_PATHS if Path(p).exists()), None)


class LocalMosquitto:
    """A mosquitto broker on 127.0.0.1 (a free port, anonymous, no persistence) in a folder of its own."""

    def __init__(self, folder: Path, *, binary: str | None = None) -> None:
        self.folder = folder
        self.binary = binary or mosquitto_binary()
        self.port = 0
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 10.0) -> LocalMosquitto:
        """Start the broker and wait until it listens; EmergencyError if it is not installed or does not start."""
        if self.binary is None:
            raise EmergencyError("mosquitto is not installed (Debian: apt-get install mosquitto)")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        conf = self.folder / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                        "log_dest stderr\n", encoding="utf-8")
        log = (self.folder / "mosquitto.log").open("ab")
        self.process = subprocess.Popen([self.binary, "-c", str(conf)], stdout=log, stderr=log,
                                        stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout_s
        while not port_is_taken("127.0.0.1", self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise EmergencyError(f"mosquitto did not start; see {self.folder / 'mosquitto.log'}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after 5 s) and reap it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def demo_mqtt(settings: Settings) -> tuple[Settings, LocalMosquitto | None, str]:
    """The demo's MQTT peer: a LocalMosquitto under ``data_dir/mosquitto`` when mosquitto is installed and
    ``EMERGENCY_MQTT_URL`` is not set; returns the settings to run with, the broker (None when none was
    started) and the line to print."""
    if settings.mqtt_url:
        return settings, None, f"MQTT: alerts are published to {settings.mqtt_url} (EMERGENCY_MQTT_URL)"
    if mosquitto_binary() is None:
        return settings, None, "MQTT: off (install mosquitto and the demo starts a local broker to watch alerts on)"
    peer = LocalMosquitto(settings.data_dir / "mosquitto").start()
    line = (f"MQTT: local mosquitto at {peer.url}; watch alerts arrive with "
            f"mosquitto_sub -h 127.0.0.1 -p {peer.port} -t '{settings.mqtt_topic_prefix}alerts/#' -v")
    return settings.model_copy(update={"mqtt_url": peer.url}), peer, line


class MailSink:
    """The demo's local mail server: an ``aiosmtpd`` SMTP server on 127.0.0.1 (a free port) that keeps each
    message it receives as ``<folder>/<n>.eml`` (n counting up), so a new user opens the alert mails and the
    confirmation codes the email channel sends; nothing leaves the machine."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = 0
        self._controller: Any = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> MailSink:
        """Start the server (in its own thread, aiosmtpd's ``Controller``)."""
        from aiosmtpd.controller import Controller

        self.folder.mkdir(parents=True, exist_ok=True)
        folder = self.folder

        class Keep:
            async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
                n = len(list(folder.glob("*.eml"))) + 1
                (folder / f"{n:05d}.eml").write_bytes(envelope.original_content or envelope.content)
                return "250 kept"

        self.port = free_port()
        self._controller = Controller(Keep(), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def messages(self) -> list[Path]:
        """The kept messages, oldest first."""
        return sorted(self.folder.glob("*.eml"))

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def demo_mail(settings: Settings) -> tuple[Settings, MailSink | None, str]:
    """The demo's mail peer: a MailSink under ``data_dir/demo-mail`` unless ``EMERGENCY_SMTP_URL`` is set;
    returns the settings to run with, the sink (None when none was started) and the line to print."""
    if settings.smtp_url:
        return settings, None, f"email: alert mails go to {settings.smtp_url} (EMERGENCY_SMTP_URL)"
    sink = MailSink(settings.data_dir / "demo-mail").start()
    line = (f"email: a local mail sink at {sink.url} keeps every mail the system sends in "
            f"{sink.folder.resolve()} (one .eml file each)")
    return settings.model_copy(update={"smtp_url": sink.url}), sink, line
