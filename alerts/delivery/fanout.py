"""One fan-out: each alert version on ``alerts.issued`` becomes ledger rows and delivery jobs, once system-wide.

The fan-out runs as the consumer group ``fanout`` (``emergency.stream.consumer.GroupWorker``), so however many
processes run it, each alert version is fanned out by one of them. For a version it:

1. targets the subscriptions whose areas intersect the version's delivery area (``alerts.push.delivery_area``:
   the circle while the thread covered only that circle, else the polygon, or the union an Update reaches),
   using :class:`SubscriberIndex`;
2. keeps those whose tiers take the alert's tier (``alerts.tiers.delivers``) and their confirmed channels;
   for an Update or Cancel adds everyone the ledger says an earlier version of the thread was written for,
   also people who have since left the area;
3. writes one ledger row per (alert version, subscription, channel) in one batch (the unique key makes a
   re-run after a crash write nothing twice);
4. produces one :class:`DeliveryJob` per new row (and per row still ``queued`` from a run that crashed before
   producing) to ``alerts.deliveries.p<priority>`` keyed by subscription, then a ``queued`` receipt each;
5. returns, and the worker commits the offset.

Subscription changes (``alerts.subscriptions``) reach the group too: a channel waiting for confirmation
gets a ``Confirmation`` job (the code itself stays in the subscription repository).

Every fan-out process keeps a full :class:`SubscriberIndex`: read from ``Directory.targets()`` at start and
kept current by a tail (no group) of ``alerts.subscriptions`` started before that read; each change carries a
version and the index keeps the highest, so the order in which the read and the tail apply them is irrelevant.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiokafka import AIOKafkaProducer

from alerts.delivery.ledger import DELIVERIES, Delivery, DeliveryLedger, delivery_id
from alerts.delivery.models import (
    DELIVERY_TOPICS,
    PRIORITIES,
    SUBSCRIPTIONS_TOPIC,
    ChannelType,
    Contact,
    DeliveryJob,
    Directory,
    Receipt,
    Target,
    priority,
)
from alerts.push import delivery_area, is_active
from alerts.tiers import delivers
from emergency.config import Settings
from emergency.events import Envelope, Kind, utcnow
from emergency.geometry import circle_polygon
from emergency.store.base import Store
from emergency.stream.consumer import Incoming, Process, Rejected
from emergency.stream.producer import publish_all
from emergency.stream.topics import ALERTS_ISSUED, ALERTS_RECEIPTS
from mapping.targeting import Area, TargetIndex

log = logging.getLogger(__name__)

CIRCLE_SEGMENTS = 64
# A point + radius is indexed as the polygon circumscribing its geodesic circle: its vertices lie at
# radius / cos(pi / n), so the polygon contains the circle and reaches at most 0.12 % of the radius beyond it
# (60 m at the 50 km maximum), inside WEA's 0.1-mile (161 m) overshoot allowance; it never falls short.
CIRCUMSCRIBE = 1.0 / math.cos(math.pi / CIRCLE_SEGMENTS)
CONFIRMATION_PRIORITY = PRIORITIES - 1  # after every alert class but test's peers: alerts go first
CONFIRMATION_TTL = timedelta(hours=24)
DEFAULT_LANGUAGE = "en-US"  # the language of the info block of alerts issued here (alerts.cap.build)


class SubscriberIndex:
    """Targets by subscription id (highest version wins), and their areas in a ``TargetIndex``.

    Areas (WGS 84 degrees): a GeoJSON Polygon/MultiPolygon is targeted when it intersects the alert area; a
    ``Point`` with ``radius_m`` > 0 is treated as an area, the polygon circumscribing its geodesic circle (see
    ``CIRCUMSCRIBE``), so the subscriber is targeted when the alert area comes within ``radius_m`` metres
    of the point (up to 0.12 % more); a Point without radius is targeted when it lies inside the alert area.
    """

    def __init__(self) -> None:
        self.index = TargetIndex()
        self.targets: dict[str, Target] = {}
        self._versions: dict[str, int] = {}  # deleted subscriptions too, so an older change cannot revive one
        self._keys: dict[str, list[Hashable]] = {}
        self._pending: list[Target] | None = None  # changes that arrived during a rebuild in a thread

    def __len__(self) -> int:
        return len(self.targets)

    def apply(self, target: Target) -> bool:
        """Take a change unless an equal or newer version was seen; True when taken (or held for after a rebuild
        that is running in a thread: see ``rebuild_index``)."""
        if self._pending is not None:
            self._pending.append(target)
            return True
        return self._apply(target)

    def _apply(self, target: Target) -> bool:
        sid = target.subscription_id
        if self._versions.get(sid, -1) >= target.version:
            return False
        self._versions[sid] = target.version
        for key in self._keys.pop(sid, ()):
            self.index.remove(key)
        self.targets.pop(sid, None)
        if target.deleted:
            return True
        keys: list[Hashable] = []
        for n, area in enumerate(target.areas):
            key = (sid, n)
            try:
                self._add(key, area)
            except (ValueError, KeyError, TypeError) as exc:  # the repository validated it; never stop the index
                log.warning("subscription %s: area %d not indexed: %s", sid, n, exc)
                continue
            keys.append(key)
        self._keys[sid] = keys
        self.targets[sid] = target
        return True

    def load(self, targets: list[Target]) -> int:
        """Apply many (a rebuild); point subscribers without radius go in with one bulk add. How many taken."""
        bulk_keys: list[Hashable] = []
        lats: list[float] = []
        lons: list[float] = []
        taken = 0
        for t in targets:
            sid = t.subscription_id
            plain = (sid not in self._versions and not t.deleted and len(t.areas) == 1
                     and t.areas[0].get("type") == "Point" and not t.areas[0].get("radius_m"))
            if not plain:
                taken += self._apply(t)
                continue
            lon, lat = t.areas[0]["coordinates"][:2]
            self._versions[sid] = t.version
            self._keys[sid] = [(sid, 0)]
            self.targets[sid] = t
            bulk_keys.append((sid, 0))
            lats.append(lat)
            lons.append(lon)
            taken += 1
        if bulk_keys:
            self.index.add_points(bulk_keys, lats, lons)
        return taken

    def _add(self, key: Hashable, area: dict) -> None:
        if area.get("type") == "Point":
            lon, lat = area["coordinates"][:2]
            radius = float(area.get("radius_m") or 0)
            if radius > 0:
                self.index.add_area(key, circle_polygon(lat, lon, radius * CIRCUMSCRIBE / 1000.0, CIRCLE_SEGMENTS))
            else:
                self.index.add_point(key, lat, lon)
        else:
            self.index.add_area(key, area)

    def query(self, area: Area) -> list[Target]:
        """The live targets with an area intersecting ``area`` (WGS 84; see ``mapping.targeting.parse_area``)."""
        seen: dict[str, Target] = {}
        for sid, _ in self.index.query(area):
            if sid not in seen:
                seen[sid] = self.targets[sid]
        return list(seen.values())

    def deleted(self, subscription_id: str) -> bool:
        """True when this index saw the subscription deleted."""
        return subscription_id in self._versions and subscription_id not in self.targets


def choose_language(*, wanted: list[str], available: list[str]) -> str | None:
    """The subscriber's first language among the alert's info blocks (BCP 47; a bare "es" matches "es-MX"),
    else None: the first block."""
    low = [a.lower() for a in available]
    for w in wanted:
        w = w.lower()
        for a, orig in zip(low, available, strict=True):
            if a == w or a.split("-")[0] == w.split("-")[0]:
                return orig
    return None


def alert_languages(event: Envelope) -> list[str]:
    """The languages of an alert version's info blocks, the first first (``attributes["languages"]``: the alert's
    language and its translations, ``alerts.service.alert_languages_of``)."""
    langs = event.attributes.get("languages")
    return list(langs) if langs else [event.attributes.get("language") or DEFAULT_LANGUAGE]


def targeted(*, index: SubscriberIndex, event: Envelope) -> dict[tuple[str, str], tuple[str, str | None]]:
    """The subscribers' channels an alert version reaches by area and tier: (subscription, channel id) ->
    (channel type, the info block language chosen for the subscriber, None = the first). Confirmed channels
    only, WebSocket left out (it is pushed to live connections); a draft's preview counts the same way."""
    area = delivery_area(event)
    languages = alert_languages(event)
    tier = event.attributes["tier"]
    chosen: dict[tuple[str, str], tuple[str, str | None]] = {}
    for t in (index.query(area) if area is not None else []):
        if not delivers(tier, t.tiers):
            continue
        lang = choose_language(wanted=t.languages, available=languages)
        for ch in t.channels:
            if ch.confirmed and ch.channel is not ChannelType.websocket:
                chosen[(t.subscription_id, ch.channel_id)] = (ch.channel.value, lang)
    return chosen


def alert_version(event: Envelope) -> str:
    """The CAP identifier of an alert version (the event id, or ``<id>:<n>`` for its Updates and Cancel)."""
    return event.attributes.get("cap_id") or event.id


BROADCAST_CHANNEL_ID = "broadcast"


def broadcast_subscription(channel: ChannelType) -> str:
    """The pseudo-subscriber of a broadcast channel (``mqtt:broadcast``, ``mastodon:broadcast``): no person."""
    return f"{channel.value}:broadcast"


def broadcast_contact(job: DeliveryJob) -> Contact | None:
    """The contact of a broadcast job (it names nobody), None for a subscriber's job."""
    if job.subscription_id != broadcast_subscription(job.channel):
        return None
    return Contact(subscription_id=job.subscription_id, channel_id=job.channel_id, channel=job.channel)


@dataclass
class FanOut:
    """The fan-out of one process: its index, the ledger, the directory (for confirmations) and settings."""

    settings: Settings
    store: Store
    directory: Directory
    index: SubscriberIndex
    broadcast: frozenset[ChannelType] = frozenset()  # channels with one system-wide delivery per version (MQTT, Mastodon)

    @property
    def ledger(self) -> DeliveryLedger:
        return self.store.repository(DELIVERIES)

    def process(self) -> Process:
        """The GroupWorker batch processor (topics ``alerts.issued`` and ``alerts.subscriptions``)."""

        async def process(batch: list[Incoming], producer: AIOKafkaProducer) -> list[Rejected]:
            for inc in batch:
                if inc.topic == ALERTS_ISSUED:
                    await self.fan_out(event=inc.event, producer=producer)
                elif inc.topic == SUBSCRIPTIONS_TOPIC and inc.event.kind is Kind.subscription:
                    target = Target.model_validate(inc.event.attributes)
                    self.index.apply(target)  # this process's tail applies it too; versions make that harmless
                    await self.confirmations(target=target, producer=producer)
            return []

        return process

    async def fan_out(self, *, event: Envelope, producer: AIOKafkaProducer, now: datetime | None = None) -> int:
        """Ledger rows and jobs for one alert version; how many jobs were produced."""
        now = now or utcnow()
        a = event.attributes
        if event.kind is not Kind.alert or "tier" not in a or not is_active(event, now):
            return 0
        version = alert_version(event)
        msg_type = a.get("msg_type") or "Alert"
        tier = a["tier"]
        prio = priority(tier, a.get("severity"))
        expires = datetime.fromisoformat(a["expires"])
        languages = alert_languages(event)
        chosen = targeted(index=self.index, event=event)  # (subscription, channel id) -> (type, language)
        for ch in sorted(self.broadcast, key=lambda c: c.value):  # one system-wide delivery per version and channel
            chosen[(broadcast_subscription(ch), BROADCAST_CHANNEL_ID)] = (ch.value, languages[0] if languages else None)
        if msg_type in ("Update", "Cancel"):
            for r in await self.ledger.recipients(event.id):
                key = (r.subscription_id, r.channel_id)
                if key in chosen or self.index.deleted(r.subscription_id):
                    continue
                t = self.index.targets.get(r.subscription_id)
                chosen[key] = (r.channel, choose_language(wanted=t.languages, available=languages) if t else None)
        rows = [Delivery(delivery_id(version, sid, cid), event.id, version, sid, cid, channel, prio, "queued", 0,
                         now, now) for (sid, cid), (channel, _) in chosen.items()]
        if not rows:
            log.info("alert %s (%s): nobody to deliver to", version, msg_type)
            return 0
        new, existing = await self.ledger.add(rows)
        send = set(new) | {d for d, state in existing.items() if state == "queued"}
        jobs = [DeliveryJob(delivery_id=r.delivery_id, alert_id=event.id, alert_version=version, msg_type=msg_type,
                            subscription_id=r.subscription_id, channel_id=r.channel_id, channel=ChannelType(r.channel),
                            language=chosen[(r.subscription_id, r.channel_id)][1], priority=prio, expires=expires,
                            created_at=now)
                for r in rows if r.delivery_id in send]
        await self.produce(producer=producer, jobs=jobs, receipts=set(new), now=now)
        log.info("alert %s (%s): %d deliveries, %d jobs produced", version, msg_type, len(rows), len(jobs))
        return len(jobs)

    async def confirmations(self, *, target: Target, producer: AIOKafkaProducer, now: datetime | None = None) -> int:
        """A ``Confirmation`` job for each channel of ``target`` waiting for confirmation (the directory has a
        code for it); one per channel and subscription version. How many jobs were produced."""
        confirmation = getattr(self.directory, "confirmation", None)
        if target.deleted or confirmation is None:
            return 0
        now = now or utcnow()
        sid = target.subscription_id
        rows = []
        for ch in target.channels:
            if ch.confirmed or await confirmation(sid, ch.channel_id) is None:
                continue
            version = f"confirmation:{sid}:{ch.channel_id}:{target.version}"
            rows.append(Delivery(delivery_id(version, sid, ch.channel_id), f"confirmation:{sid}", version, sid,
                                 ch.channel_id, ch.channel.value, CONFIRMATION_PRIORITY, "queued", 0, now, now))
        if not rows:
            return 0
        new, existing = await self.ledger.add(rows)
        send = set(new) | {d for d, state in existing.items() if state == "queued"}
        jobs = [DeliveryJob(delivery_id=r.delivery_id, alert_id=r.alert_id, alert_version=r.alert_version,
                            msg_type="Confirmation", subscription_id=sid, channel_id=r.channel_id,
                            channel=ChannelType(r.channel), language=(target.languages or [None])[0],
                            priority=CONFIRMATION_PRIORITY, expires=now + CONFIRMATION_TTL, created_at=now)
                for r in rows if r.delivery_id in send]
        await self.produce(producer=producer, jobs=jobs, receipts=set(new), now=now)
        return len(jobs)

    async def produce(self, *, producer: AIOKafkaProducer, jobs: list[DeliveryJob], receipts: set[str],
                      now: datetime) -> None:
        """The jobs on their priority topics (see :func:`produce_jobs`)."""
        await produce_jobs(settings=self.settings, producer=producer, jobs=jobs, receipts=receipts, now=now)


async def produce_jobs(*, settings: Settings, producer: AIOKafkaProducer, jobs: list[DeliveryJob], receipts: set[str],
                       now: datetime) -> None:
    """The jobs on their priority topics keyed by subscription, then a ``queued`` receipt for each new row (ids in
    ``receipts``); returns once the broker acknowledged all of them."""
    s = settings
    topics = [s.topic(t) for t in DELIVERY_TOPICS]
    receipts_topic = s.topic(ALERTS_RECEIPTS)
    messages = [(topics[j.priority], j.subscription_id.encode(), j.model_dump_json().encode(), None) for j in jobs]
    messages += [(receipts_topic, j.delivery_id.encode(),
                  Receipt(delivery_id=j.delivery_id, alert_id=j.alert_id, alert_version=j.alert_version,
                          channel=j.channel, state="queued", at=now).model_dump_json().encode(), None)
                 for j in jobs if j.delivery_id in receipts]
    await publish_all(producer, messages, max(s.broker_timeout_s, len(messages) / 5000))


async def rebuild_index(*, directory: Directory, index: SubscriberIndex) -> int:
    """Load every live subscription from the directory into ``index`` (after the tail started); how many.
    The load runs in a thread (a million subscriptions take seconds; the event loop keeps heartbeating);
    changes arriving meanwhile are held and applied after it, the highest version winning as always."""
    targets = await directory.targets()
    index._pending = []
    try:
        n = await asyncio.to_thread(index.load, targets)
    finally:
        held, index._pending = index._pending, None
        for t in held:
            index.apply(t)
    return n
