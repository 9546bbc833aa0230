"""The one settings object. Every value comes from an ``EMERGENCY_``-prefixed environment variable."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Runtime configuration; defaults run everything embedded on one machine.

    Secrets (``admin_token``, ``twitter_bearer_token``, ``mastodon_access_token``) are
    ``SecretStr``: hidden in repr and logs, read with ``.get_secret_value()``.
    """

    model_config = SettingsConfigDict(env_prefix="EMERGENCY_", extra="ignore")

    # stream
    kafka_bootstrap: str = Field("", description="host:port list; empty starts the embedded Tansu broker")
    topic_prefix: str = Field("", description="prepended to every topic name")
    topic_partitions: int = Field(3, ge=1, le=256)
    session_timeout_ms: int = Field(
        2000, ge=1000, description="consumer-group session timeout; group joins take half of it on Tansu"
    )
    broker_timeout_s: float = Field(10.0, gt=0, description="upper bound on any single broker call")
    republish_after_s: float = Field(
        30.0, gt=0, description="an outbox row published but not applied after this long is published again"
    )
    fetch_max_wait_ms: int = Field(
        25, ge=1, le=5000, description="longest a consumer fetch waits at the broker; Tansu answers a waiting "
        "fetch only at this deadline, so it bounds per-hop latency"
    )
    broker_check_interval_s: float = Field(2.0, gt=0, description="how often the broker-restart watchdog looks")
    apply_retries: int = Field(
        3, ge=0, le=20, description="a processor tries a failing batch (then each of its messages) this many "
        "more times before it dead-letters the failing message and marks its journal row failed"
    )
    apply_retry_backoff_s: float = Field(
        0.2, ge=0, le=10, description="first pause between those tries; it doubles after each"
    )
    gc_gen0_threshold: int = Field(
        50_000, ge=0, description="young-generation size before the garbage collector runs (Python's default "
        "is 700; 0 keeps it); see emergency/collector.py"
    )

    # store
    data_dir: Path = Field(Path("./data"), description="where the embedded SQLite file lives")
    store_url: str = Field("", description="sqlite:///path or postgresql://...; empty = SQLite file in data_dir")

    # HTTP
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    admin_token: SecretStr = Field(SecretStr(""), description="initial admin bearer token; empty = none is created")
    max_body_bytes: int = Field(256 * 1024, ge=1024, description="request bodies larger than this get 413")
    body_timeout_s: float = Field(
        10.0, gt=0, description="a request body not received in full this many seconds after the request "
        "started gets 408 and the connection is closed (half-sent bodies never hold a connection for ever)")
    anon_max_limit: int = Field(
        5000, ge=1, description="largest `limit` a read of the picture accepts without a coordinator or admin "
        "token (those may use the layer's own maximum); a larger one gets 422 naming `limit`")
    read_budget: str = Field(
        "100000/minute", description="items of the picture one anonymous client (by address) may ask for in a "
        "moving window, each read counting its `limit`; beyond it reads get 429 with Retry-After "
        "(the `limits` package's notation, e.g. 100000/minute)")
    read_budget_authenticated: str = Field(
        "1000000/minute", description="the same per token, for reads that carry a valid token")
    read_concurrency: int = Field(
        1, ge=1, le=64, description="pages of the picture read and encoded at once; further reads wait their turn "
        "(each one competes with intake for the interpreter while it is encoded)")

    # map
    region_dir: Path = Field(PROJECT_ROOT / "sample_data" / "regions" / "portland")
    tile_url: str = Field("", description="XYZ tile URL template; empty = offline street layer only")
    tile_attribution: str = ""

    # live picture
    live_poll_s: float = Field(
        0.5, gt=0, description="how often /ws/cop reads the store's change sequence when no projector in this "
        "process woke it (API processes without workers see changes this late at most)")
    expiry_sweep_s: float = Field(
        5.0, gt=0, description="how often the expiry sweeper (with the workers) records closures past their end "
        "and alerts past their expiry as ended, so open maps get a remove")

    # workers
    run_workers: bool = Field(True, description="run the stream processors in this process")
    run_relay: bool = Field(True, description="run the outbox relay in this process")

    # social signal (feeds/social)
    social_rules_poll_s: float = Field(1.0, gt=0, description="how often a stream runner re-reads the stored "
                                       "social filter rules")
    social_flush_s: float = Field(1.0, gt=0, description="how often a stream runner journals changed clusters")
    twitter_bearer_token: SecretStr = Field(SecretStr(""), description="bearer token for `emergency social stream "
                                            "twitter`")
    mastodon_access_token: SecretStr = Field(SecretStr(""), description="access token sent as `Authorization: Bearer` "
                                       "to every Mastodon stream and back-fill (many instances require one); "
                                       "empty = none")
    social_streams: str = Field("", description="streams the system runs itself, comma-separated NETWORK=URL "
                                "(jetstream=wss://host/subscribe, mastodon=https://host/api/v1/streaming/public, "
                                "twitter=https://host/2/tweets/search/stream); empty = none")

    # alert delivery (alerts.delivery): the fan-out and one channel worker per configured channel
    public_url: str = Field("", description="the public base URL put in links of delivered messages "
                            "(acknowledge, CAP, confirm); empty = http://host:port")
    run_delivery: bool = Field(True, description="run the alert fan-out and the channel workers with the stream "
                               "processors (they start only when a subscription directory is wired)")
    delivery_concurrency: int = Field(32, ge=1, le=10_000, description="sends in flight per channel worker")
    delivery_retry_base_s: float = Field(1.0, gt=0, description="first retry delay of a failed send; doubles "
                                         "each try (full jitter), until the alert expires")
    delivery_retry_max_s: float = Field(300.0, gt=0, description="longest delay between two tries of a send")

    @field_validator("read_budget", "read_budget_authenticated")
    @classmethod
    def _rate(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError:
            raise ValueError(f"expected an amount per period such as 100000/minute, got {value!r}") from None
        return value

    def public_base(self) -> str:
        """``public_url`` without a trailing slash, or ``http://host:port``."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def resolved_store_url(self) -> str:
        """The store URL, defaulting to a SQLite file under ``data_dir``.

        The one resolution every command uses (serve, demo, worker, token, ingest-posts, rebuild,
        social), so commands run with the same settings reach the same store.
        """
        if self.store_url:
            return self.store_url
        return f"sqlite:///{(self.data_dir / 'emergency.sqlite3').resolve()}"

    def sqlite_file(self) -> Path | None:
        """The file of a SQLite store (None for PostGIS)."""
        url = self.resolved_store_url()
        return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None

    def public_store_url(self) -> str:
        """The store URL without a password, for printing."""
        url = self.resolved_store_url()
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = f"{parts.username}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))

    def topic(self, name: str) -> str:
        """Full topic name for a logical name such as ``raw.citizen``."""
        return f"{self.topic_prefix}{name}"

    def group(self, name: str) -> str:
        """Full consumer-group id for a logical name such as ``normaliser`` (same prefix as topics)."""
        return f"{self.topic_prefix}{name}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once from the environment."""
    return Settings()
