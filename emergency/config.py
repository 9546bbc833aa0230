"""The one settings object. Every value comes from an ``EMERGENCY_``-prefixed environment variable."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator
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
    topic_replication: int = Field(
        0, ge=0, le=16, description="replication factor of the topics created at start; 0: min(3, brokers in the cluster)"
    )
    topic_min_insync: int = Field(
        0, ge=0, le=16, description="min.insync.replicas of those topics; 0: one less than the replication factor (>= 1)"
    )
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
    bulk_max_bytes: int = Field(50 * 1024 * 1024, ge=1024, description=(
        "largest file POST /api/v1/agency/bulk accepts (bytes); larger gets 413"))
    bulk_max_rows: int = Field(100_000, ge=1, description="most rows one bulk upload may hold; more gets 422 naming file")
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

    # history checkpoints (emergency/cop/checkpoints.py): GET /api/v1/cop?at= starts from the newest one that fits
    history_checkpoint_every: int = Field(1000, ge=0, description=(
        "journal rows a history replay may read past the newest checkpoint before it writes a new one (0: never "
        "write; checkpoints already stored are still used)"))
    history_checkpoint_keep: int = Field(4, ge=1, le=1000, description=(
        "history checkpoints kept (the newest by journal seq); each holds the replay state, about 0.2 kB per journal row"))
    history_checkpoint_s: float = Field(60.0, gt=0, description=(
        "how often the workers look whether EMERGENCY_HISTORY_CHECKPOINT_EVERY rows came since the newest history "
        "checkpoint, and write one at the journal's head if so"))

    # workers
    run_workers: bool = Field(True, description="run the stream processors in this process")
    run_relay: bool = Field(True, description="run the outbox relay in this process")
    lag_scrape_s: float = Field(5.0, gt=0, le=60, description="how long a /metrics scrape waits for the broker's "
                                "consumer-group offsets (emergency_broker_consumer_lag); past it the gauge keeps its last values")

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

    # alert delivery channels (alerts/delivery/channels): a channel without its setting is off
    public_url: str = Field("", description="the address people reach this server at (links in messages, the Web "
                            "Push VAPID subject); empty = http://HOST:PORT")
    webhook_allow_hosts: str = Field("", description="hosts (comma-separated) outbound calls may reach despite the "
                                     "private-address rule of emergency/netguard.py (subscriber webhooks, Web Push "
                                     "endpoints, feeds added through the admin API); tests put 127.0.0.1 here")
    vapid_subject: str = Field("", description="the VAPID `sub` claim push services may contact (mailto: or https:); "
                               "empty = EMERGENCY_PUBLIC_URL")
    mqtt_url: str = Field("", description="mqtt://host:port of the MQTT broker alerts are published to; empty = off")
    mqtt_topic_prefix: str = Field("", description="prepended to every MQTT topic (alerts/<region>/...)")
    mqtt_cell_resolution: int = Field(5, ge=0, le=15, description="H3 resolution of the per-cell MQTT topics")
    mastodon_url: str = Field("", description="https://instance of the account public alerts are posted to; "
                              "empty = off")
    mastodon_post_token: SecretStr = Field(
        SecretStr(""), validation_alias=AliasChoices("EMERGENCY_MASTODON_TOKEN", "mastodon_post_token"),
        description="EMERGENCY_MASTODON_TOKEN: access token (scope write:statuses) of that account; a setting of its "
        "own, apart from EMERGENCY_MASTODON_ACCESS_TOKEN, which the social streams read with")
    webhook_timeout_s: float = Field(10.0, gt=0, description="connect/read/write budget of one webhook call")
    smtp_url: str = Field("", description="smtp://[user:password@]host:port (STARTTLS when the server offers it), "
                          "smtps://host:port (TLS from the start); empty = email off")
    smtp_from: str = Field("", description="From address of alert mails; empty = alerts@<host of public_url>")
    smtp_timeout_s: float = Field(30.0, gt=0, description="budget of one SMTP conversation")
    sms_gateway_url: str = Field("", description="Kannel sendsms URL with its credentials, "
                                 "http://host:13013/cgi-bin/sendsms?username=..&password=.., or a Twilio-shaped "
                                 "REST API as twilio+https://ACCOUNT_SID:AUTH_TOKEN@host; empty = SMS off")
    sms_from: str = Field("", description="sender number or short code of alert SMS (Kannel `from`)")
    sms_callback_secret: SecretStr = Field(SecretStr(""), description="key of the HMAC signatures on the SMS "
                                           "delivery-report and inbound URLs (every process must share it); empty = "
                                           "a random key kept in data_dir/sms_callback.key")

    # citizen reports by SMS and email (feeds/messaging, issue 13)
    message_report_rate: str = Field(
        "10/hour", description="messages one phone number or sender address may send to the SMS and email report "
        "intake in a moving window (the `limits` package's notation); beyond it one polite answer, then silence")
    message_conversation_ttl_s: float = Field(1800.0, gt=0, le=86_400, description="how long an SMS or email "
                                              "conversation waits for the missing place or category")
    reports_smtp_port: int = Field(0, ge=0, le=65535, description="port of the SMTP listener for reports by "
                                   "email (aiosmtpd); 0 = off")
    reports_smtp_host: str = Field("127.0.0.1", description="interface the reports SMTP listener binds")
    reports_address: str = Field("", description="the one address the reports SMTP listener accepts mail for; "
                                 "empty = reports@<host of EMERGENCY_PUBLIC_URL>")
    reports_mail_max_bytes: int = Field(12 * 1024 * 1024, ge=1024, description="largest mail the reports "
                                        "listener takes (SMTP SIZE / data_size_limit); larger gets 552")
    reports_attachment_max_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="largest image attachment "
                                              "of a report mail; a larger one refuses the mail (552)")
    reports_max_attachments: int = Field(4, ge=0, le=20, description="image attachments one report mail may carry")

    # alert subscriptions (alerts/subscriptions)
    subscribe_rate: str = Field(
        "10/minute", description="subscriptions one client address may create in a moving window; beyond it "
        "POST /api/v1/subscriptions gets 429 with Retry-After (the `limits` package's notation)")

    # citizen intake rate limits (emergency/ratelimit.py; every intake path: /api/v1/reports, Open311, SMS, email)
    intake_rate: str = Field(
        "60/minute", description="reports one client address may send in a moving window, over every intake path "
        "(the JSON and multipart report API, Open311 POST requests); beyond it 429 with Retry-After. Generous: many "
        "phones share one carrier address (the `limits` package's notation)")
    intake_contact_rate: str = Field(
        "10/minute", description="reports one contact (email address, phone number, SMS sender) may send in a moving "
        "window, over every intake path; beyond it 429 with Retry-After (or the SMS/email path's refusal)")
    intake_partner_rate: str = Field(
        "600/minute", description="Open311 service requests one partner application (an api_key of role partner) may "
        "send in a moving window; its requests are counted by key, not by its server's address")

    # Open311 GeoReport v2 (feeds/open311)
    open311_jurisdiction_id: str = Field(
        "", description="the jurisdiction_id Open311 clients may send (any other is 404); empty = the host name of "
        "EMERGENCY_PUBLIC_URL (or EMERGENCY_HOST)")
    open311_max_body_bytes: int = Field(
        16 * 1024, ge=1024, description="an Open311 POST requests body larger than this is refused (400 naming body)")

    # alert delivery (alerts/delivery): the fan-out and one channel worker per channel that is on
    run_delivery: bool = Field(True, description="run the alert fan-out and the channel workers with the stream "
                               "processors (they start only when a subscription directory is wired)")
    delivery_concurrency: int = Field(32, ge=1, le=10_000, description="sends in flight per channel worker")
    delivery_retry_base_s: float = Field(1.0, gt=0, description="first retry delay of a failed send; doubles "
                                         "each try (full jitter), until the alert expires")
    delivery_retry_max_s: float = Field(300.0, gt=0, description="longest delay between two tries of a send")

    # vulnerable-persons registry and critical facilities (issue 15: alerts/registry, alerts/facilities)
    registry_checkin_timeout_s: float = Field(3600.0, gt=0, description="how long a registrant covered by an alert "
                                              "has to answer the check-in before silence opens a needs-help report")
    facility_escalation_s: float = Field(900.0, gt=0, description="how long a critical facility's contact has to "
                                         "acknowledge a notification before the next contact is notified")
    notice_timer_s: float = Field(5.0, gt=0, description="how often the workers look for check-ins and facility "
                                  "notifications past their due time (the due times are rows: they survive restarts)")
    # public self-registration for the vulnerable-persons registry (issue 15: alerts/registry/selfservice)
    registry_unconfirmed_ttl_s: float = Field(
        259200.0, ge=3600, description="how long a self-registration none of whose contacts was ever confirmed is "
        "kept; then the registry timer erases it with its personal data (the audit trail keeps its id). Its answer "
        "says when (unconfirmed_expires_at)")
    registry_register_rate: str = Field(
        "30/hour", description="self-registrations one client address may create in a moving window; beyond it "
        "POST /api/v1/registry/registrations gets 429 with Retry-After (the `limits` package's notation)")
    # alert drafts and approval (alerts/drafts, issue 15)
    alert_approval: str = Field(
        "child_abduction=one", description="approvals an alert draft needs before it is issued, per tier, "
        "comma-separated TIER=none|one (imminent_threat_extreme, imminent_threat_severe, child_abduction, "
        "public_safety, test); a tier not named needs none. Presidential alerts always need one approval by a "
        "second person (role alert_approver) and cannot be set here. A tier that needs an approval can no longer "
        "be issued directly by POST /api/v1/alerts")

    # external feeds (feeds/external)
    feeds: str = Field("", description="feeds the system polls itself, comma-separated NAME=URL "
                       "(usgs=https://host/all_day.geojson,gdacs=https://host/rss.xml); the format is recognised "
                       "from the content; these are the operator's own and not checked against the outbound-URL "
                       "guard (feeds added through the admin API are); empty = none")
    feed_interval_s: float = Field(60.0, ge=1, le=86_400, description="how often each feed of EMERGENCY_FEEDS "
                                   "is polled (feeds added through the admin API carry their own)")
    feed_timeout_s: float = Field(10.0, gt=0, le=300, description="upper bound on one feed request (connect, "
                                  "read, whole body)")
    feed_max_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="a feed body larger than this is refused "
                                "(counted as an error of the feed)")
    feed_backoff_max_s: float = Field(900.0, ge=1, description="longest pause before polling a failing feed again "
                                      "(the pause doubles from the feed's interval after each failure)")

    # photos (feeds/photos): citizen report and damage report photos, stored under data_dir/photos
    photo_max_bytes: int = Field(10 * 1024 * 1024, ge=1024, description=(
        "largest photo accepted (bytes, each); larger gets 413 naming photo"))
    photo_max_pixels: int = Field(50_000_000, ge=1, description=(
        "most pixels (width x height, read from the header before decoding) a photo may declare; more gets 413 "
        "naming photo (decompression bombs)"))
    photos_per_report: int = Field(3, ge=1, le=10, description="most photo parts one report may carry")
    # the orphan photo sweep (feeds/photos/sweep.py, issue 13)
    photo_sweep_grace_s: float = Field(3600.0, ge=60, description="a photo file no report references is removed "
                                       "once it is this old (seconds); younger ones may still be being attached")
    photo_sweep_interval_s: float = Field(3600.0, gt=0, description="how often each process that takes photos "
                                          "sweeps its data directory for orphan photo files (and once at start)")

    # reporters' status messages (feeds/citizen/updates, issue 13)
    reporter_update_interval_s: float = Field(300.0, ge=0, description="the least time between two status "
                                              "messages to one report's reporter; changes within it wait and only "
                                              "the latest state is sent (a busy incident does not spam)")

    @field_validator("feeds")
    @classmethod
    def _feeds(cls, value: str) -> str:
        parse_feed_list(value)  # ValueError naming the bad entry: refused at start
        return value

    @field_validator("alert_approval")
    @classmethod
    def _approval(cls, value: str) -> str:
        for item in filter(None, (x.strip() for x in value.split(","))):
            tier, sep, need = item.partition("=")
            if not sep or not re.fullmatch(r"[a-z_]+", tier.strip()) or need.strip() not in ("none", "one"):
                raise ValueError(f"expected TIER=none|one entries, comma-separated, got {item!r}")
            if tier.strip() == "presidential":
                raise ValueError("presidential alerts always need a second person's approval: leave it out")
        return value

    @field_validator("read_budget", "read_budget_authenticated", "subscribe_rate", "message_report_rate", "intake_rate",
                     "intake_contact_rate", "intake_partner_rate", "registry_register_rate")
    @classmethod
    def _rate(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError:
            raise ValueError(f"expected an amount per period such as 100000/minute, got {value!r}") from None
        return value

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

    def public_base_url(self) -> str:
        """Where people reach this server, for links in messages: ``public_url``, else http://HOST:PORT."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

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


FEED_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
"""A feed's name: lower-case letters, digits, ``_`` and ``-``, 1-40 characters (it is part of item ids)."""


def parse_feed_list(text: str) -> list[tuple[str, str]]:
    """``"usgs=https://h/a.geojson, gdacs=https://h/rss.xml"`` -> ``[(name, url), ...]``.

    Raises ValueError naming the entry that is not ``NAME=URL`` with a valid name and an http(s) URL
    with a host, or a name given twice.
    """
    out: list[tuple[str, str]] = []
    for raw in (e.strip() for e in text.split(",")):
        if not raw:
            continue
        name, sep, url = (part.strip() for part in raw.partition("="))
        if not sep or not name or not url:
            raise ValueError(f"feed entry {raw[:80]!r} is not NAME=URL")
        if not FEED_NAME.match(name):
            raise ValueError(f"feed entry {raw[:80]!r}: the name must be 1-40 lower-case letters, digits, _ or -")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"feed entry {raw[:80]!r}: the URL must be http(s) and name a host")
        if any(name == seen for seen, _ in out):
            raise ValueError(f"feed entry {raw[:80]!r}: the name {name!r} is given twice")
        out.append((name, url))
    return out


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once from the environment."""
    return Settings()
