"""Channel workers: one consumer group per channel type (``channel.<type>``) over the six priority topics.

Priority: the runner keeps a small buffer per partition and pauses a partition whose buffer is full, so
fetching never stops for the higher classes; every free send slot goes to the highest class waiting (buffered
records and retries alike, :class:`PrioritySlots`). A presidential job queued behind 100,000 public-safety
jobs is therefore sent as soon as a slot frees, after at most the sends already in flight.

Each job: the ledger is claimed first (a row already sent, delivered, acknowledged or failed is skipped: the
redelivery dedupe; its receipt is published again, so receipts are at least once), then the message is
rendered, the contact read from the directory (gone → failed for good), and the channel sends. A send that
may succeed later (``SendFailed(retry=True)``, or any unexpected error of the channel) is tried again after
an exponential back-off with full jitter until the job's ``expires``, then failed and dead-lettered with the
reason; ``retry=False`` fails it at once (dead-lettered too). A ``Notice`` job whose owner has nothing to send
any more (an answered check-in, an acknowledged facility notification) is ``skipped``: done, with its reason
in the ledger and on its receipt, neither a failure nor a dead letter. Offsets are committed up to the lowest
record not finished, so a crash re-reads only unfinished jobs.

What remains in the crash window: a process that dies after the channel's peer accepted a message and before
the ledger says ``sent`` leaves the row ``sending``; the job is read again and sent again with the same
delivery id, which each channel passes as its idempotency key (email Message-ID, webhook-id, Web Push
Topic, Mastodon Idempotency-Key, MQTT message id), so a peer that honours it shows the person one message.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import datetime

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from pydantic import ValidationError

from alerts.delivery.fanout import broadcast_contact
from alerts.delivery.ledger import DELIVERIES, Delivery
from alerts.delivery.models import (
    DELIVERY_TOPICS,
    Channel,
    DeliveryJob,
    Directory,
    NothingToSend,
    Receipt,
    Rendered,
    SendFailed,
)
from alerts.delivery.render import ack_url, render
from emergency.config import Settings
from emergency.events import utcnow
from emergency.metrics import Registry
from emergency.store.base import Store
from emergency.stream.bounded import bounded, keep_running
from emergency.stream.consumer import dead_letter_message, group_consumer, is_transient
from emergency.stream.outage import BrokerOutage
from emergency.stream.producer import start_producer, stop_producer
from emergency.stream.topics import ALERTS_RECEIPTS

log = logging.getLogger(__name__)

GONE = "no longer subscribed or confirmed"


class PrioritySlots:
    """At most ``n`` holders; a released slot goes to the waiter with the lowest priority number (then FIFO)."""

    def __init__(self, n: int) -> None:
        self.free = n
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    async def acquire(self, priority: int) -> None:
        if self.free > 0 and not self._waiters:
            self.free -= 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._order), fut))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()
            raise

    def release(self) -> None:
        while self._waiters:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)
                return
        self.free += 1

    def best_waiting(self) -> int | None:
        live = [p for p, _, f in self._waiters if not f.done()]
        return min(live) if live else None


def backoff_s(*, attempt: int, base_s: float, max_s: float, rand: Callable[[], float] = random.random) -> float:
    """Full-jitter exponential back-off before try ``attempt + 1``: uniform in [0, min(max, base * 2^(attempt-1))]."""
    return rand() * min(max_s, base_s * 2 ** max(0, attempt - 1))


def receipt_of(row: Delivery, state: str, at: datetime, *, reason: str | None = None,
               remote_id: str | None = None) -> Receipt:
    return Receipt(delivery_id=row.delivery_id, alert_id=row.alert_id, alert_version=row.alert_version,
                   channel=row.channel, state=state, at=at, reason=reason, remote_id=remote_id)


class ChannelRunner:
    """Deliver the jobs of one channel type (group ``channel.<type>``), highest priority first."""

    def __init__(self, *, settings: Settings, bootstrap: str, channel: Channel, store: Store, directory: Directory,
                 metrics: Registry, outage: BrokerOutage | None = None, concurrency: int | None = None) -> None:
        self.settings, self.bootstrap, self.channel = settings, bootstrap, channel
        self.store, self.directory, self.metrics, self.outage = store, directory, metrics, outage
        self.group = f"channel.{channel.type.value}"
        self.concurrency = concurrency or settings.delivery_concurrency
        self.buffer_per_partition = max(50, 2 * self.concurrency)
        self.topics = [settings.topic(t) for t in DELIVERY_TOPICS]
        self._priority = {t: p for p, t in enumerate(self.topics)}
        self.healthy = False
        self._rendered: OrderedDict[tuple[str, str, str | None], Rendered] = OrderedDict()
        self.sent = 0  # sends that the peer accepted, this process (for tests and metrics)

    @property
    def ledger(self):
        return self.store.repository(DELIVERIES)

    async def run(self) -> None:
        """Run until cancelled, re-creating the consumer after any failure (from the committed offsets)."""

        def unhealthy() -> None:
            self.healthy = False

        await keep_running(self._run_once, name=f"channel worker {self.group}", log=log, on_failure=unhealthy,
                           outage=self.outage)

    async def _run_once(self) -> None:
        s = self.settings
        timeout = s.broker_timeout_s
        consumer = group_consumer(s, self.bootstrap, group=self.group, topics=self.topics,
                                  max_partition_fetch_bytes=256 * 1024)
        producer: AIOKafkaProducer | None = None
        buffers: dict[TopicPartition, deque[ConsumerRecord]] = {}
        unfinished: dict[TopicPartition, set[int]] = {}
        fetched: dict[TopicPartition, int] = {}
        committed: dict[TopicPartition, int] = {}
        slots = PrioritySlots(self.concurrency)
        tasks: set[asyncio.Task] = set()
        fatal: list[BaseException] = []
        arrived = asyncio.Event()

        def best() -> TopicPartition | None:
            ready = [tp for tp, q in buffers.items() if q]
            return min(ready, key=lambda tp: (self._priority[tp.topic], tp.partition)) if ready else None

        async def fetch_loop() -> None:
            while True:
                batches = await bounded(consumer.getmany(timeout_ms=200, max_records=500), timeout + 5, "fetch")
                self.healthy = True
                assigned = consumer.assignment()
                for tp in list(buffers):
                    if tp not in assigned:  # revoked: another member reads it from the committed offset
                        buffers.pop(tp)
                        unfinished.pop(tp, None)
                        fetched.pop(tp, None)
                        committed.pop(tp, None)
                for tp, recs in batches.items():
                    q = buffers.setdefault(tp, deque())
                    q.extend(recs)
                    unfinished.setdefault(tp, set()).update(r.offset for r in recs)
                    fetched[tp] = recs[-1].offset + 1
                for tp in assigned:
                    full = len(buffers.get(tp, ())) >= self.buffer_per_partition
                    if full and tp not in consumer.paused():
                        consumer.pause(tp)
                    elif not full and tp in consumer.paused():
                        consumer.resume(tp)
                if batches:
                    arrived.set()
                await commit()

        async def commit() -> None:
            offsets = {}
            for tp, upto in fetched.items():
                pending = unfinished.get(tp)
                offset = min(pending) if pending else upto
                if committed.get(tp) != offset:
                    offsets[tp] = offset
            if offsets:
                await bounded(consumer.commit(offsets), timeout, "offset commit", finish_on_cancel=True)
                committed.update(offsets)

        def finished(tp: TopicPartition, offset: int, task: asyncio.Task) -> None:
            tasks.discard(task)
            if tp in unfinished:
                unfinished[tp].discard(offset)
            if not task.cancelled() and task.exception() is not None:
                fatal.append(task.exception())
                arrived.set()

        fetcher: asyncio.Task | None = None
        try:
            await bounded(consumer.start(), timeout, "consumer start")
            producer = await start_producer(s, self.bootstrap)
            fetcher = asyncio.create_task(fetch_loop(), name=f"{self.group}-fetch")
            fetcher.add_done_callback(lambda t: (fatal.append(t.exception()) if not t.cancelled()
                                                 and t.exception() else None, arrived.set()))
            while True:
                if fatal:
                    raise fatal[0]
                tp = best()
                if tp is None:
                    arrived.clear()
                    await arrived.wait()
                    continue
                await slots.acquire(self._priority[tp.topic])
                tp = best()  # a higher class may have arrived while waiting for the slot
                if tp is None or fatal:
                    slots.release()
                    continue
                rec = buffers[tp].popleft()
                task = asyncio.create_task(self._handle(rec, self._priority[tp.topic], slots, producer))
                tasks.add(task)
                task.add_done_callback(lambda t, tp=tp, off=rec.offset: finished(tp, off, t))
        finally:
            self.healthy = False
            if fetcher is not None:
                fetcher.cancel()
            for t in list(tasks):
                t.cancel()
            await asyncio.gather(*tasks, *( [fetcher] if fetcher else []), return_exceptions=True)
            if producer is not None:
                await stop_producer(producer)
            try:
                await bounded(consumer.stop(), 5, "consumer stop")
            except Exception:
                pass

    async def _handle(self, rec: ConsumerRecord, prio: int, slots: PrioritySlots, producer: AIOKafkaProducer) -> None:
        """One record, holding a slot (released while waiting to retry; the receipts' acknowledgements are awaited
        after the slot is given back). Infrastructure errors propagate."""
        held = True
        acks: list[asyncio.Future] = []
        try:
            try:
                job = DeliveryJob.model_validate_json(rec.value or b"")
            except ValidationError as exc:
                await self._dead_letter(producer, rec, f"invalid delivery job: {exc.errors()[0]['msg']}")
                return
            if job.channel is not self.channel.type:
                return  # another channel's job: every channel's group reads the priority topics (see docs)
            attempt = 0
            while True:
                retry_in = await self._try(job, producer, rec, acks)
                if retry_in is None:
                    return
                attempt += 1
                slots.release()
                held = False
                await asyncio.sleep(retry_in)
                await slots.acquire(prio)
                held = True
        finally:
            if held:
                slots.release()
        if acks:  # the offset is committed only after this task ends: a receipt lost in a crash is published again
            await bounded(asyncio.gather(*acks), self.settings.broker_timeout_s, "receipts")

    async def _try(self, job: DeliveryJob, producer: AIOKafkaProducer, rec: ConsumerRecord,
                   acks: list[asyncio.Future]) -> float | None:
        """One try of a job; the delay before the next try, or None when it is finished."""
        now = utcnow()
        row = await self.ledger.claim(job.delivery_id, now)
        if row is None:  # done already (a redelivered job) or unknown: never sent twice
            done = await self.ledger.get(job.delivery_id)
            if done is not None:
                acks.append(await self._receipt(producer, receipt_of(done, done.state, done.updated_at,
                                                                     reason=done.failure, remote_id=done.remote_id)))
            return None
        try:
            code = None
            if job.msg_type == "Confirmation":
                code = await self.directory.confirmation(job.subscription_id, job.channel_id)
            if job.msg_type == "Notice":
                message = await self._notice(job)
            else:
                message = await self._render(job, code)
            contact = broadcast_contact(job) or await self.directory.contact(
                job.subscription_id, job.channel_id, pending=job.msg_type == "Confirmation")
            if contact is None:
                raise SendFailed(GONE, retry=False)
            receipt = await self.channel.send(job, contact, message)
        except NothingToSend as nothing:
            return await self._skipped(job, row, nothing.reason, producer, acks)
        except Exception as exc:
            if is_transient(exc) and not isinstance(exc, SendFailed):
                raise
            failure = exc if isinstance(exc, SendFailed) else SendFailed(f"{type(exc).__name__}: {exc}", retry=True)
            return await self._failed(job, row, failure, producer, rec, acks)
        state = "delivered" if receipt.state == "delivered" else "sent"
        done_at = utcnow()
        marked = await self.ledger.mark(job.delivery_id, state, done_at, remote_id=receipt.remote_id)
        self.sent += 1
        acks.append(await self._receipt(producer, receipt_of(marked or row, state, done_at, remote_id=receipt.remote_id)))
        return None

    async def _render(self, job: DeliveryJob, code: str | None) -> Rendered:
        """The job's message; an alert version's is rendered once per language and reused (with this job's ack
        link), so a run of 100,000 deliveries reads the journal and writes the CAP XML once."""
        base = self.settings.public_base_url()
        if job.msg_type == "Confirmation":
            return await render(store=self.store, job=job, base=base, code=code)
        key = (job.alert_id, job.alert_version, job.language)
        cached = self._rendered.get(key)
        if cached is None:
            cached = await render(store=self.store, job=job, base=base)
            self._rendered[key] = cached
            while len(self._rendered) > 64:
                self._rendered.popitem(last=False)
        return cached.model_copy(update={"ack_url": ack_url(base=base, delivery_id=job.delivery_id)})

    async def _notice(self, job: DeliveryJob) -> Rendered:
        """A ``Notice`` job's message, from the directory that owns its person (``alerts.delivery.notices``)."""
        notice = getattr(self.directory, "notice", None)
        message = await notice(job) if notice is not None else None
        if message is None:
            raise NothingToSend("nothing to send: the notice is answered or gone")
        return message

    async def _skipped(self, job: DeliveryJob, row: Delivery, reason: str, producer: AIOKafkaProducer,
                       acks: list[asyncio.Future]) -> None:
        """A notice with nothing left to send: ``skipped`` in the ledger and on its receipt (no dead letter)."""
        now = utcnow()
        marked = await self.ledger.mark(job.delivery_id, "skipped", now, failure=reason)
        acks.append(await self._receipt(producer, receipt_of(marked or row, "skipped", now, reason=reason)))
        log.info("%s: delivery %s skipped: %s", self.group, job.delivery_id[:12], reason)

    async def _failed(self, job: DeliveryJob, row: Delivery, failure: SendFailed, producer: AIOKafkaProducer,
                      rec: ConsumerRecord, acks: list[asyncio.Future]) -> float | None:
        s = self.settings
        now = utcnow()
        reason = failure.reason[:500]
        if failure.retry:
            delay = backoff_s(attempt=row.attempts, base_s=s.delivery_retry_base_s, max_s=s.delivery_retry_max_s)
            if now.timestamp() + delay < job.expires.timestamp():
                await self.ledger.mark(job.delivery_id, "queued", now, failure=reason)
                log.info("%s: delivery %s try %d failed (%s); again in %.1f s", self.group, job.delivery_id[:12],
                         row.attempts, reason, delay)
                return delay
            reason = f"alert expired after {row.attempts} tries; last: {reason}"
        await self.ledger.mark(job.delivery_id, "failed", now, failure=reason)
        acks.append(await self._receipt(producer, receipt_of(row, "failed", now, reason=reason)))
        await self._dead_letter(producer, rec, reason)
        return None

    async def _receipt(self, producer: AIOKafkaProducer, receipt: Receipt) -> asyncio.Future:
        """Queue a receipt on alerts.receipts; the future of the broker's acknowledgement."""
        return await producer.send(self.settings.topic(ALERTS_RECEIPTS), key=receipt.delivery_id.encode(),
                                   value=receipt.model_dump_json().encode())

    async def _dead_letter(self, producer: AIOKafkaProducer, rec: ConsumerRecord, reason: str) -> None:
        topic, key, value, headers = dead_letter_message(self.settings, rec, group=self.group, reason=reason)
        fut = await producer.send(topic, key=key, value=value, headers=headers)
        await bounded(fut, self.settings.broker_timeout_s, "dead letter")
        log.warning("%s: dead-lettered delivery at %s[%d]@%d: %s", self.group, rec.topic, rec.partition, rec.offset,
                    reason)
