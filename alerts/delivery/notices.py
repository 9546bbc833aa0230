"""Notices: a message to one person that is not an alert version, sent through the same delivery path as alerts.

A registrant's check-in request (``alerts.registry``) and a critical-facility operator's notification
(``alerts.facilities``) are ``Notice`` jobs: one ledger row per (notice, person, channel) written first (the
unique key keeps a re-run from sending twice), then one :class:`~alerts.delivery.models.DeliveryJob` per row on
``alerts.deliveries.p<priority>`` and a ``queued`` receipt, exactly as the fan-out does for an alert. The
channel workers send them (claim, contact, retries, receipts, dead letters), reading the contact and the text
from the :class:`RoutedDirectory`: a subscription id ``registrant:<id>`` or ``facility:<id>:<n>`` is answered by
the domain repository registered for its prefix, every other one by the subscription repository.

Nothing personal travels: a job names the person's id and channel id; the text is rendered by the owning
repository just before the send.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from aiokafka import AIOKafkaProducer

from alerts.delivery.fanout import produce_jobs
from alerts.delivery.ledger import DELIVERIES, Delivery, delivery_id
from alerts.delivery.models import ChannelType, Contact, DeliveryJob, Directory, Rendered, Target
from emergency.config import Settings
from emergency.store.base import Store
from emergency.stream.producer import start_producer, stop_producer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notice:
    """One notice to one person's channel. ``thread``: the ledger's ``alert_id`` (``registry:<alert id>``,
    ``facility:<facility id>``); ``key``: the notice's own id, its ledger ``alert_version``."""

    thread: str
    key: str
    person: str        # the job's subscription_id: "registrant:<id>" or "facility:<id>:<contact index>"
    channel_id: str
    channel: ChannelType
    priority: int
    expires: datetime

    @property
    def delivery_id(self) -> str:
        return delivery_id(self.key, self.person, self.channel_id)


async def send_notices(*, store: Store, settings: Settings, producer: AIOKafkaProducer, notices: list[Notice],
                       now: datetime) -> list[str]:
    """Ledger rows, then jobs (and ``queued`` receipts) for the notices; a notice already sent is not sent again.
    The delivery ids of every notice given, in order."""
    if not notices:
        return []
    rows = [Delivery(n.delivery_id, n.thread, n.key, n.person, n.channel_id, n.channel.value, n.priority, "queued", 0,
                     now, now) for n in notices]
    new, existing = await store.repository(DELIVERIES).add(rows)
    send = set(new) | {d for d, state in existing.items() if state == "queued"}
    jobs = [DeliveryJob(delivery_id=n.delivery_id, alert_id=n.thread, alert_version=n.key, msg_type="Notice",
                        subscription_id=n.person, channel_id=n.channel_id, channel=n.channel, priority=n.priority,
                        expires=n.expires, created_at=now) for n in notices if n.delivery_id in send]
    await produce_jobs(settings=settings, producer=producer, jobs=jobs, receipts=set(new), now=now)
    return [n.delivery_id for n in notices]


class NoticeOwner(Protocol):
    """A repository that owns the people of one prefix: their contacts and the text of their notices."""

    async def contact(self, subscription_id: str, channel_id: str, *, pending: bool = False) -> Contact | None: ...

    async def notice(self, job: DeliveryJob) -> Rendered | None: ...


class RoutedDirectory:
    """The channel workers' directory: subscriptions from ``default``, ``<prefix>:…`` people from their owner."""

    def __init__(self, default: Directory, owners: dict[str, NoticeOwner]) -> None:
        self.default, self.owners = default, owners

    def _owner(self, subscription_id: str) -> NoticeOwner | None:
        return self.owners.get(subscription_id.partition(":")[0]) if ":" in subscription_id else None

    async def targets(self) -> list[Target]:
        return await self.default.targets()

    async def contact(self, subscription_id: str, channel_id: str, *, pending: bool = False) -> Contact | None:
        owner = self._owner(subscription_id)
        if owner is not None:
            return None if pending else await owner.contact(subscription_id, channel_id)
        return await self.default.contact(subscription_id, channel_id, pending=pending)

    async def confirmation(self, subscription_id: str, channel_id: str) -> str | None:
        confirmation = getattr(self.default, "confirmation", None)
        if self._owner(subscription_id) is not None or confirmation is None:
            return None
        return await confirmation(subscription_id, channel_id)

    async def notice(self, job: DeliveryJob) -> Rendered | None:
        owner = self._owner(job.subscription_id)
        return None if owner is None else await owner.notice(job)


GetProducer = Callable[[], Awaitable[AIOKafkaProducer]]


async def run_rounds(*, settings: Settings, bootstrap: str, name: str,
                     step: Callable[[GetProducer], Awaitable[object]]) -> None:
    """A notice timer loop: ``step`` every ``EMERGENCY_NOTICE_TIMER_S`` seconds, given a getter of this loop's one
    producer (started on first use, kept across rounds, stopped at the end). A failed round (the store or the
    broker down) is logged and its rows wait for the next round: they are rows, so a restart loses none."""
    producer: AIOKafkaProducer | None = None

    async def get() -> AIOKafkaProducer:
        nonlocal producer
        if producer is None:
            producer = await start_producer(settings, bootstrap)
        return producer

    try:
        while True:
            try:
                await step(get)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s: %s", name, exc or type(exc).__name__)
            await asyncio.sleep(settings.notice_timer_s)
    finally:
        if producer is not None:
            await stop_producer(producer)
