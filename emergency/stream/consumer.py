"""Consumer helpers: a supervised group consumer with manual commits and a dead-letter topic.

Offsets are committed only after the batch's effect is durable (``process`` returned, and
every rejected message was acknowledged by the dead-letter topic). A failure of the
infrastructure (broker, store, network: ``is_transient``) closes the consumer and starts a new
one from the last committed offset after a back-off, so a broker restart or a store outage
delays work but never skips it.

No single message can stop a processor: when ``process`` raises anything else, the batch is
tried again ``EMERGENCY_APPLY_RETRIES`` times (short doubling back-off), then item by item, and
each message that still fails alone goes to the dead-letter topic with the reason, its journal
rows are marked failed (``Store.mark_failed``: not republished until an operator retries them),
and the rest of the batch is applied and committed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from emergency.config import Settings
from emergency.errors import BrokerError
from emergency.events import Envelope, utcnow
from emergency.metrics import Registry
from emergency.store.base import JournalFailure
from emergency.store.errors import UNREACHABLE as STORE_UNREACHABLE
from emergency.stream.bounded import BrokerCallCancelled, bounded, keep_running
from emergency.stream.outage import BrokerOutage
from emergency.stream.producer import publish_all, start_producer, stop_producer
from emergency.stream.topics import DEAD_LETTER

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Incoming:
    """A decoded message with where it came from."""

    topic: str
    event: Envelope


@dataclass(frozen=True)
class Rejected:
    """A message the processor refuses for good, with the reason sent to the dead-letter topic."""

    incoming: Incoming
    reason: str


Process = Callable[[list[Incoming], AIOKafkaProducer], Awaitable[list[Rejected]]]
"""A batch processor: gets valid envelopes and the worker's producer, returns what it rejects for good."""


class FailureJournal(Protocol):
    """Where a worker records the journal rows of the messages it gave up on (the store)."""

    async def mark_failed(self, failures: list[JournalFailure], at: datetime) -> int: ...


TRANSIENT: tuple[type[BaseException], ...] = (
    BrokerError, KafkaError, BrokerCallCancelled, asyncpg.exceptions.TransactionRollbackError, *STORE_UNREACHABLE,
)


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure of the infrastructure (broker, store, network) rather than of the
    messages: those restart the consumer from the committed offset and never dead-letter anything."""
    return isinstance(exc, TRANSIENT)


def failure_reason(exc: BaseException, tries: int) -> str:
    """The dead-letter reason for a message whose processing raised ``exc`` on each of ``tries`` tries."""
    return f"processing failed {tries} times: {type(exc).__name__}: {exc}"[:1000]


def decode(record: ConsumerRecord) -> Envelope:
    """Envelope from a record's value; raises ValueError with a readable reason (and nothing else)."""
    try:
        return _decode(record)
    except ValueError:
        raise
    except Exception as exc:  # a validator that raised something other than ValueError must not halt a reader
        raise ValueError(f"invalid envelope: {type(exc).__name__}: {exc}"[:1000]) from None


def _decode(record: ConsumerRecord) -> Envelope:
    if record.value is None:
        raise ValueError("empty message value")
    try:  # fast path: pydantic parses and validates the JSON in one go
        return Envelope.model_validate_json(record.value)
    except ValidationError:
        pass  # diagnose below, to give the dead-letter topic a readable reason
    try:
        text = record.value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"value is not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"value is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    try:
        return Envelope.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "envelope"
        raise ValueError(f"invalid envelope: {field}: {first['msg']} ({exc.error_count()} error(s))") from None


def dead_letter_value(*, topic: str, partition: int, offset: int, group: str, reason: str, value: bytes | None) -> bytes:
    """The JSON document written to the dead-letter topic for one failed message."""
    doc: dict[str, object] = {
        "reason": reason, "topic": topic, "partition": partition, "offset": offset,
        "group": group, "failed_at": utcnow().isoformat(),
    }
    if value is not None:
        try:
            doc["value"] = value.decode("utf-8")
        except UnicodeDecodeError:
            doc["value_base64"] = base64.b64encode(value).decode("ascii")
    return json.dumps(doc).encode("utf-8")


def dead_letter_message(settings: Settings, rec: ConsumerRecord, *, group: str,
                        reason: str) -> tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]:
    """(topic, key, value, headers) of the dead letter for ``rec``, which group ``group`` gave up on for ``reason``:
    the one shape every consumer writes to the dead-letter topic (the reason also as a header)."""
    value = dead_letter_value(topic=rec.topic.removeprefix(settings.topic_prefix), partition=rec.partition,
                              offset=rec.offset, group=group, reason=reason, value=rec.value)
    return settings.topic(DEAD_LETTER), rec.key, value, [("reason", reason.encode("utf-8")[:1000])]


async def topic_partitions(consumer: AIOKafkaConsumer, topics: list[str], timeout_s: float,
                           ) -> dict[str, list[TopicPartition]]:
    """The partitions of each of ``topics`` (broker names), in order; an empty list for a topic the broker does
    not hold. The cluster's metadata is fetched now: Apache Kafka sends a client with no subscription no topics
    at all in its own metadata, so ``consumer.partitions_for_topic`` would stay None there."""
    cluster = await bounded(consumer._client.fetch_all_metadata(), timeout_s, "metadata")
    return {t: [TopicPartition(t, p) for p in sorted(cluster.partitions_for_topic(t) or ())] for t in topics}


def group_consumer(settings: Settings, bootstrap: str, *, group: str, topics: list[str],
                   **options: object) -> AIOKafkaConsumer:
    """A consumer of ``topics`` (broker names) in group ``group``: manual commits, from the earliest offset
    when the group has none, the house's session and request timeouts. ``options`` add aiokafka settings."""
    timeout = settings.broker_timeout_s
    return AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap, group_id=settings.group(group),
        fetch_max_wait_ms=settings.fetch_max_wait_ms, enable_auto_commit=False, auto_offset_reset="earliest",
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=max(100, settings.session_timeout_ms // 3),
        request_timeout_ms=int(timeout * 1000) + 1000, metadata_max_age_ms=5000, **options,
    )


class GroupWorker:
    """Consume ``topics`` in consumer group ``group`` and hand valid envelopes to ``process``."""

    def __init__(self, *, settings: Settings, bootstrap: str, group: str, topics: list[str],
                 process: Process, metrics: Registry, max_records: int = 500,
                 journal: FailureJournal | None = None, outage: BrokerOutage | None = None) -> None:
        """``journal`` (the store) gets the journal rows of dead-lettered messages marked failed; ``outage`` is
        where broker failures are reported (once for the process)."""
        self.settings, self.bootstrap, self.group = settings, bootstrap, group
        self.topics = [settings.topic(t) for t in topics]
        self.logical_topics = list(topics)
        self._logical = {settings.topic(t): t for t in topics}
        self.process, self.metrics, self.max_records = process, metrics, max_records
        self.journal, self.outage = journal, outage
        self.dead_letter_topic = settings.topic(DEAD_LETTER)
        self.healthy = False

    async def run(self) -> None:
        """Run until cancelled, re-creating the consumer after any failure."""

        def unhealthy() -> None:
            self.healthy = False

        await keep_running(self._run_once, name=f"consumer group {self.group}", log=log, on_failure=unhealthy,
                           outage=self.outage)

    async def _run_once(self) -> None:
        s = self.settings
        timeout = s.broker_timeout_s
        consumer = group_consumer(s, self.bootstrap, group=self.group, topics=self.topics)
        producer = None
        try:
            await bounded(consumer.start(), timeout, "consumer start")
            producer = await start_producer(s, self.bootstrap)
            while True:
                batches = await bounded(consumer.getmany(timeout_ms=500, max_records=self.max_records),
                                        timeout + 5, "fetch")
                self.healthy = True
                if not batches:
                    continue
                await self._handle(consumer, producer, batches)
                await bounded(consumer.commit({tp: recs[-1].offset + 1 for tp, recs in batches.items()}),
                              timeout, "offset commit", finish_on_cancel=True)
                for tp in batches:
                    high = consumer.highwater(tp)
                    pos = await bounded(consumer.position(tp), timeout, "position")
                    if high is not None:
                        self.metrics.consumer_lag.set(max(0, high - pos), group=self.group,
                                                      topic=self._logical.get(tp.topic, tp.topic))
        finally:
            self.healthy = False
            if producer is not None:
                await stop_producer(producer)
            try:
                await bounded(consumer.stop(), 5, "consumer stop")
            except Exception:
                pass

    async def _handle(self, consumer: AIOKafkaConsumer, producer, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        good: list[Incoming] = []
        records: dict[int, ConsumerRecord] = {}
        # (record, reason, reason class for the metric, the envelope when it decoded)
        dead: list[tuple[ConsumerRecord, str, str, Envelope | None]] = []
        for tp, recs in batches.items():
            self.metrics.events_in.inc(len(recs), topic=self._logical.get(tp.topic, tp.topic), group=self.group)
            for rec in recs:
                try:
                    inc = Incoming(self._logical.get(rec.topic, rec.topic), decode(rec))
                except ValueError as exc:
                    dead.append((rec, str(exc), "undecodable", None))
                    continue
                records[id(inc)] = rec
                good.append(inc)
        if good:
            refused, failed = await self._apply(good, producer)
            dead += [(records[id(r.incoming)], r.reason, "refused", r.incoming.event) for r in refused]
            dead += [(records[id(r.incoming)], r.reason, "failed", r.incoming.event) for r in failed]
        if dead:
            await publish_all(producer, [dead_letter_message(self.settings, rec, group=self.group, reason=reason)
                                         for rec, reason, _, _ in dead], self.settings.broker_timeout_s)
            if self.journal is not None:  # after the dead letter is durable: a failed row is always findable there
                await self.journal.mark_failed([_journal_failure(rec, reason, event) for rec, reason, _, event in dead
                                                if event is not None or rec.key], utcnow())
            for rec, reason, why, _ in dead:
                self.metrics.dead_letters.inc(topic=self._logical.get(rec.topic, rec.topic), reason=why)
                log.warning("dead-lettered %s[%d]@%d: %s", rec.topic, rec.partition, rec.offset, reason)

    async def _apply(self, batch: list[Incoming], producer) -> tuple[list[Rejected], list[Rejected]]:
        """``process`` the batch with bounded retries; when it keeps raising, process it item by item.
        Returns (what ``process`` refused, what failed on its own every try); infrastructure errors propagate."""
        try:
            return await self._tries(batch, producer), []
        except Exception as exc:
            if is_transient(exc):
                raise
            if len(batch) == 1:
                return [], [Rejected(batch[0], failure_reason(exc, self.tries))]
            log.warning("group %s: a batch of %d keeps failing (%s: %s); applying it one message at a time",
                        self.group, len(batch), type(exc).__name__, exc)
        refused: list[Rejected] = []
        failed: list[Rejected] = []
        for inc in batch:
            try:
                refused += await self._tries([inc], producer)
            except Exception as exc:
                if is_transient(exc):
                    raise
                failed.append(Rejected(inc, failure_reason(exc, self.tries)))
        return refused, failed

    @property
    def tries(self) -> int:
        return 1 + self.settings.apply_retries

    async def _tries(self, batch: list[Incoming], producer) -> list[Rejected]:
        """``process(batch)``, tried up to ``tries`` times while it raises a non-transient error."""
        delay = self.settings.apply_retry_backoff_s
        for attempt in range(1, self.tries + 1):
            try:
                return await self.process(batch, producer)
            except Exception as exc:
                if is_transient(exc) or attempt == self.tries:
                    raise
                log.info("group %s: processing %d message(s) failed (try %d of %d): %s: %s", self.group,
                         len(batch), attempt, self.tries, type(exc).__name__, exc)
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")


def _journal_failure(rec: ConsumerRecord, reason: str, event: Envelope | None) -> JournalFailure:
    """The journal rows a dead letter stands for: the event's rows up to its ``received_at``, or (undecodable)
    every unapplied row of the record's key, which is the event id."""
    if event is not None:
        return JournalFailure(event.id, event.received_at, reason)
    return JournalFailure(rec.key.decode("utf-8", "replace"), None, reason)
