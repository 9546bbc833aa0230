"""Topic names and their creation.

Logical names are fixed here; the full name on the broker is ``settings.topic_prefix + name``.
A sentinel topic (``control.epoch``) that nothing writes to tells whether the broker forgot
everything since we last looked (the embedded broker keeps topics only in memory).
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from emergency.config import Settings
from emergency.stream.abilities import detect
from emergency.stream.bounded import bounded

log = logging.getLogger(__name__)

RAW_SOCIAL = "raw.social"
RAW_CITIZEN = "raw.citizen"
RAW_AGENCY = "raw.agency"
RAW_FEEDS = "raw.feeds"
COP_REPORTS = "cop.reports"
COP_INCIDENTS = "cop.incidents"
COP_ACTIONS = "cop.actions"  # coordinators' actions on incidents (journaled), applied by the correlator
ALERTS_ISSUED = "alerts.issued"
ALERTS_RECEIPTS = "alerts.receipts"
SUBSCRIPTIONS = "alerts.subscriptions"  # subscription changes (Target payloads) for every fan-out index
DELIVERY_PRIORITIES = 6  # priority classes of alert deliveries, 0 first (alerts.delivery.models.priority)
ALERTS_DELIVERIES = tuple(f"alerts.deliveries.p{p}" for p in range(DELIVERY_PRIORITIES))
DEAD_LETTER = "deadletter"
EPOCH = "control.epoch"
ALERT_DRAFTS = "alerts.drafts"  # alert drafts, their approvals and audit trail (alerts.drafts): the drafts' journal

RAW_TOPICS = (RAW_SOCIAL, RAW_CITIZEN, RAW_AGENCY, RAW_FEEDS)
ALL_TOPICS = RAW_TOPICS + (COP_REPORTS, COP_INCIDENTS, COP_ACTIONS, ALERTS_ISSUED, ALERTS_RECEIPTS, SUBSCRIPTIONS,
                           *ALERTS_DELIVERIES, DEAD_LETTER, EPOCH, ALERT_DRAFTS)


def admin_client(settings: Settings, bootstrap: str) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(settings.broker_timeout_s * 1000)
    )


async def ensure_topics(settings: Settings, bootstrap: str, *, after_restart: bool = False) -> dict[str, str]:
    """Create missing topics with ``settings.topic_partitions`` partitions, the replication factor and
    ``min.insync.replicas`` of ``Abilities.replication`` / ``min_insync`` (configured, or from the broker count).

    A topic that exists with a different partition count (the embedded broker re-creates
    topics with 4 partitions when a producer writes to a forgotten topic) is deleted and
    created again as configured; what it held is re-published from the outbox.
    Returns {topic: "created" | "recreated" | "ok"}. Every call is bounded by the broker timeout.
    """
    timeout = settings.broker_timeout_s
    admin = admin_client(settings, bootstrap)
    result: dict[str, str] = {}
    await bounded(admin.start(), timeout, "start")
    try:
        wanted = {settings.topic(t): (1 if t == EPOCH else settings.topic_partitions) for t in ALL_TOPICS}
        existing = set(await bounded(admin.list_topics(), timeout, "list_topics"))
        present = [t for t in wanted if t in existing]
        wrong: list[str] = []
        if present:
            described = await bounded(admin.describe_topics(present), timeout, "describe_topics")
            for d in described:
                name = d.get("topic")
                if name in wanted and len(d.get("partitions", [])) != wanted[name]:
                    wrong.append(name)
        if wrong:
            # after a restart of the embedded broker a client that asked for a topic before the watchdog re-created
            # it got one auto-created with 4 partitions (empty: the relay holds its sends): an expected step of the
            # recovery, which the outage's own lines report, so not a warning of its own then
            log.log(logging.INFO if after_restart else logging.WARNING,
                    "re-creating topics with wrong partition counts: %s", wrong)
            await bounded(admin.delete_topics(wrong), timeout, "delete_topics")
            await asyncio.sleep(0.2)
        missing = [t for t in wanted if t not in existing or t in wrong]
        if missing:
            abilities = await detect(settings, bootstrap)
            rf, isr = abilities.replication(settings), abilities.min_insync(settings)
            configs = {"min.insync.replicas": str(isr)}
            await bounded(admin.create_topics([NewTopic(t, wanted[t], rf, topic_configs=configs) for t in missing]),
                          timeout, "create_topics")
        for t in wanted:
            result[t] = "recreated" if t in wrong else "created" if t in missing else "ok"
        return result
    finally:
        await bounded(admin.close(), timeout, "close")


async def epoch_present(settings: Settings, bootstrap: str) -> bool:
    """True while the broker still knows the sentinel topic created by ``ensure_topics``."""
    timeout = settings.broker_timeout_s
    admin = admin_client(settings, bootstrap)
    await bounded(admin.start(), timeout, "start")
    try:
        return settings.topic(EPOCH) in set(await bounded(admin.list_topics(), timeout, "list_topics"))
    finally:
        await bounded(admin.close(), timeout, "close")
