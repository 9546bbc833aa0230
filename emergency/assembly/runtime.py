"""The running system in one process: store, broker (embedded or external), relay, processors, gateways.

``Runtime`` is the composition root used by ``emergency serve``, ``emergency rebuild``, the
benchmarks and the tests. Components:

- outbox relay: journal -> raw.* / alerts.issued
- normaliser (group ``normaliser``): raw.* -> cop.reports (keyed by H3 cell)
- correlator (group ``correlator``): cop.reports, cop.actions -> cop.incidents (incidents, reports with their
  incident, everything else passed through)
- projector (group ``projector``): cop.incidents, alerts.issued -> store
- expiry sweeper (with the workers): closures and alerts past their end -> ended, with a new seq
- live picture (API processes): the store's change sequence -> live map clients (``/ws/cop``), woken by
  this process's projector and sweeper, polling every ``live_poll_s`` otherwise
- gateway tail (no group): alerts.issued -> alert subscribers (the WebSocket channel, alerts/delivery/channels)
- photo sweep (API processes: where photos are written): orphan photo files past a grace age -> removed
- watchdog: topics exist as configured; re-queue the journal after a broker restart
- broker supervisor (embedded broker only): a broker process that died is reaped and started again on its port;
  the outage is logged once (``emergency.stream.outage``) and /readyz says not ready until the topics are back
- subscriptions marker (group ``subscriptions``, with the workers): alerts.subscriptions journal rows -> applied
  (their effect is the subscription repository, written before they were journaled)
- social stream runners (API processes only, when EMERGENCY_SOCIAL_STREAMS is set): posts -> journal
- social stream runners (``EMERGENCY_SOCIAL_STREAMS``, none by default): live posts -> raw.social
- feed poller (with the workers, one per system): external feeds (``EMERGENCY_FEEDS`` and the admin API) ->
  raw.feeds, only new, changed and ended items (``feeds/external/poller.py``)
- alert delivery (with the workers, ``EMERGENCY_RUN_DELIVERY``, when a subscription ``directory`` is wired): the
  fan-out (group ``fanout``: alerts.issued, alerts.subscriptions -> ledger + alerts.deliveries.p0..p5) with its
  subscriber index (rebuilt from the directory, kept current by a tail of alerts.subscriptions), and one channel
  worker (group ``channel.<type>``) per channel that is on (``alerts.delivery.registry``); with it the groups
  ``registry`` (alerts.issued -> registrants' check-ins) and ``facilities`` (alerts.issued, cop.incidents ->
  facility notifications), both sending Notice jobs, and their timer loops (silent check-ins -> needs-help
  reports; unacknowledged notifications -> the next contact); and ``reporter-updates`` (cop.incidents ->
  reporters' confirmations and status messages, feeds/citizen/updates, with its timer for held-back messages)
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from alerts.delivery.channels.sms import callback_key
from alerts.delivery.channels.vapid import ensure_vapid
from alerts.delivery.channels.websocket import WebSocketChannel
from alerts.delivery.fanout import FanOut, SubscriberIndex, rebuild_index
from alerts.delivery.models import SUBSCRIPTIONS_TOPIC, Channel, ChannelType, Directory, Receipt, Target
from alerts.delivery.notices import RoutedDirectory
from alerts.delivery.registry import ChannelRegistry, default_registry
from alerts.delivery.service import LedgerReceipts
from alerts.delivery.worker import ChannelRunner
from alerts.facilities.flows import run_timer as run_escalation_timer
from alerts.facilities.repository import FACILITIES
from alerts.facilities.worker import make_facilities_processor
from alerts.optouts import SmsOptOuts
from alerts.push import AlertPush
from alerts.registry.flows import run_timer as run_checkin_timer
from alerts.registry.repository import REGISTRY
from alerts.registry.worker import make_registry_processor
from alerts.subscriptions.repository import SUBSCRIPTIONS as SUBSCRIPTION_REPOSITORY
from alerts.subscriptions.worker import make_applied_marker
from emergency.collector import tune_collector
from emergency.config import Settings
from emergency.cop.expiry import sweep_expired
from emergency.cop.history import keep_checkpoints
from emergency.cop.incidents.service import make_correlator
from emergency.cop.live import CopLive
from emergency.cop.normalise import make_normaliser
from emergency.cop.project import make_projector
from emergency.events import Envelope, Kind
from emergency.geocoding import Geocoder
from emergency.http import keep_urls_out_of_logs
from emergency.metrics import Registry
from emergency.ratelimit import IntakeLimits
from emergency.store import open_store
from emergency.store.base import Accepted, OnConflict, Store
from emergency.store.errors import store_unreachable_is_store_error
from emergency.stream.abilities import group_lag
from emergency.stream.broker import EmbeddedBroker
from emergency.stream.consumer import GroupWorker
from emergency.stream.outage import BrokerOutage
from emergency.stream.producer import publish_all, start_producer, stop_producer
from emergency.stream.relay import OutboxRelay
from emergency.stream.tail import Tail
from emergency.stream.topics import (
    ALERT_DRAFTS,
    ALERTS_ISSUED,
    ALERTS_RECEIPTS,
    COP_ACTIONS,
    COP_INCIDENTS,
    COP_REPORTS,
    RAW_TOPICS,
    SUBSCRIPTIONS,
)
from emergency.stream.watchdog import BrokerWatchdog
from feeds.citizen.updates.flows import ReporterOwner
from feeds.citizen.updates.flows import run_timer as run_reporter_timer
from feeds.citizen.updates.flows import set_number_opt_out as reporter_opt_out
from feeds.citizen.updates.worker import make_updates_processor
from feeds.messaging.mail import start_listener
from feeds.messaging.service import MessageDesk
from feeds.photos.repository import PHOTOS
from feeds.photos.sweep import run_sweeper as run_photo_sweeper
from mapping.geocode import region_geocoder

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    metrics: Registry = field(default_factory=Registry)
    store: Store | None = None
    broker: EmbeddedBroker | None = None
    bootstrap: str = ""
    relay: OutboxRelay | None = None
    watchdog: BrokerWatchdog | None = None
    outage: BrokerOutage | None = None  # the broker's connection state, shared by every component that uses it
    workers: list[GroupWorker] = field(default_factory=list)
    tail: Tail | None = None
    cop_live: CopLive | None = None
    alert_push: AlertPush | None = None
    websocket: WebSocketChannel | None = None  # the WebSocket delivery channel over alert_push (API processes)
    geocoder: Geocoder | None = None  # the region's (EMERGENCY_REGION_DIR), loaded once at start; None if it cannot load
    social_rules: Any = None  # feeds.social RulesHolder shared by the social API and the stream runners
    social_runners: list[Any] = field(default_factory=list)
    delivery_receipts: Any = None  # alerts.delivery ReceiptSink: where channel callbacks (SMS DLRs) put receipts
    sms_opt_outs: Any = None  # alerts.delivery.channels.sms OptOuts (the subscription repository): inbound STOP
    feed_poller: Any = None  # feeds.external FeedPoller, where the workers run
    messaging: Any = None  # feeds.messaging MessageDesk: citizen reports by SMS and email (issue 13)
    report_mail: Any = None  # feeds.messaging ReportListener (SMTP) when EMERGENCY_REPORTS_SMTP_PORT is set
    directory: Directory | None = None  # the subscription repository (alerts.subscriptions); None: no delivery
    channel_registry: ChannelRegistry = field(default_factory=default_registry)
    channels: dict[ChannelType, Channel] | None = None  # None: built from channel_registry and the settings
    channels_off: dict[str, str] = field(default_factory=dict)  # channel type -> why it is off (for /readyz)
    fanout: FanOut | None = None
    channel_runners: list[ChannelRunner] = field(default_factory=list)
    intake_limits: IntakeLimits | None = None  # rate limits of every intake path (emergency/ratelimit.py), this process
    _receipts: Any = None  # a producer for receipts published by this process's API (acknowledgements)
    _tasks: list[asyncio.Task] = field(default_factory=list)

    def __post_init__(self) -> None:
        keep_urls_out_of_logs()  # outbound URLs carry phone numbers and gateway passwords: never logged
        if self.intake_limits is None:
            self.intake_limits = IntakeLimits.from_settings(self.settings)

    async def start(self, *, workers: bool | None = None, gateways: bool = True, feeds: bool = True) -> Runtime:
        """Open the store, start or reach the broker, and start the background tasks (``feeds``: the feed
        poller with the workers; ``emergency rebuild`` replays the journal without taking in anything new)."""
        s = self.settings
        streams = _social_streams(s)  # a bad EMERGENCY_SOCIAL_STREAMS fails before anything starts
        if self.geocoder is None:  # loading a region takes about 0.5 s: off the event loop, once per process
            self.geocoder = await asyncio.to_thread(region_geocoder, s.region_dir)
        tune_collector(s.gc_gen0_threshold)
        self.store = await open_store(s.resolved_store_url())
        self.store.repository(SUBSCRIPTION_REPOSITORY).public_url = s.public_base_url()  # for unsubscribe links
        self.sms_opt_outs = SmsOptOuts(  # inbound SMS STOP/START: subscriptions, registry, facilities, reporters
            store=self.store, submit=self.submit,
            also=(lambda number, stopped: reporter_opt_out(store=self.store, number=number, stopped=stopped),))
        registry, facilities = self.store.repository(REGISTRY), self.store.repository(FACILITIES)
        registry.public_url = facilities.public_url = s.public_base_url()  # check-in and acknowledgement links
        registry.checkin_minutes = max(1, round(s.registry_checkin_timeout_s / 60))
        if self.directory is None:  # the fan-out's and channel workers' view of the subscriptions (and notices)
            self.directory = RoutedDirectory(self.store.repository(SUBSCRIPTION_REPOSITORY),
                                             {"registrant": registry, "facility": facilities,
                                              "reporter": ReporterOwner(store=self.store,  # issue 13
                                                                        public_url=s.public_base_url())})
        self.delivery_receipts = LedgerReceipts(store=self.store, publish=self.publish_receipt)
        self.messaging = MessageDesk.build(settings=s, store=self.store, intake=self, key=callback_key(s))
        try:
            await ensure_vapid(self.store)  # the Web Push key pair exists from the first start on
            if s.kafka_bootstrap:
                self.bootstrap = s.kafka_bootstrap
            else:
                self.broker = EmbeddedBroker()
                self.bootstrap = await self.broker.start()
                log.info("embedded broker listening on %s", self.bootstrap)
            broker = self.broker
            self.outage = BrokerOutage(self.bootstrap, metrics=self.metrics, cause=lambda: _died(broker))
            self.watchdog = BrokerWatchdog(settings=s, bootstrap=self.bootstrap, store=self.store,
                                           metrics=self.metrics, on_recovered=self._broker_recovered,
                                           outage=self.outage)
            self.relay = OutboxRelay(settings=s, bootstrap=self.bootstrap, store=self.store, metrics=self.metrics,
                                     topics_ready=self.watchdog.topics_ready, outage=self.outage)
            try:
                await self.watchdog.check()
            except Exception as exc:  # an external cluster may come later; the watchdog keeps trying
                log.warning("broker %s not reachable at start: %s", self.bootstrap, exc or type(exc).__name__)
            self._spawn(self.watchdog.run(), "watchdog")
            if broker is not None:
                self._spawn(broker.supervise(on_exit=self.watchdog.broker_lost, on_back=self._broker_back),
                            "broker-supervisor")
            if s.run_relay:
                self._spawn(self.relay.run(), "relay")
            if s.run_workers if workers is None else workers:
                self.start_workers(feeds=feeds)
            if streams and gateways:  # only an API process (serve, demo): not rebuild, not scaled-out workers
                from feeds.social.streams import stream_tasks

                for name, coro in stream_tasks(self, streams):
                    self._spawn(coro, name)
            if gateways:
                self.cop_live = CopLive(self.store, self.metrics, poll_s=s.live_poll_s)
                self._spawn(self.cop_live.run(), "cop-live")
                self.alert_push = AlertPush(self.metrics)
                alert_push = self.alert_push
                self.websocket = WebSocketChannel(alert_push)
                self.tail = Tail(settings=s, bootstrap=self.bootstrap, topics=[ALERTS_ISSUED],
                                 handler=self._to_gateways, listening=lambda: bool(len(alert_push.hub)),
                                 outage=self.outage)
                self._spawn(self.tail.run(), "gateway-tail")
                self._spawn(run_photo_sweeper(  # orphan photo files (their report never stored), issue 13
                    data_dir=s.data_dir, repository=self.store.repository(PHOTOS), grace_s=s.photo_sweep_grace_s,
                    interval_s=s.photo_sweep_interval_s), "photo-sweep")
                if s.reports_smtp_port:  # reports by email: the SMTP listener (feeds/messaging/mail.py)
                    self.report_mail = await start_listener(desk=self.messaging, settings=s)
        except BaseException:
            await self.stop()
            raise
        return self

    def start_workers(self, *, feeds: bool = True) -> None:
        """Start the stream processors (normaliser, correlator, projector, subscriptions marker), the expiry sweeper
        and (``feeds``) the feed poller as tasks of this process."""
        s, store = self.settings, self.store
        assert store is not None and not self.workers
        self.workers = [
            GroupWorker(settings=s, bootstrap=self.bootstrap, group="normaliser", topics=list(RAW_TOPICS),
                        process=make_normaliser(s, self.metrics, self.geocoder), metrics=self.metrics,
                        journal=store, outage=self.outage),
            GroupWorker(settings=s, bootstrap=self.bootstrap, group="correlator", topics=[COP_REPORTS, COP_ACTIONS],
                        process=make_correlator(settings=s, store=store, metrics=self.metrics, bootstrap=self.bootstrap),
                        metrics=self.metrics,
                        journal=store, outage=self.outage),
            GroupWorker(settings=s, bootstrap=self.bootstrap, group="projector",
                        topics=[COP_INCIDENTS, ALERTS_ISSUED], process=make_projector(store, self._wake_live),
                        metrics=self.metrics, journal=store, outage=self.outage),
            GroupWorker(settings=s, bootstrap=self.bootstrap, group="subscriptions", topics=[SUBSCRIPTIONS],
                        process=make_applied_marker(store), metrics=self.metrics, journal=store, outage=self.outage),
            # alert drafts (alerts.drafts) are read from the journal itself: their rows only need marking applied
            GroupWorker(settings=s, bootstrap=self.bootstrap, group="alert-drafts", topics=[ALERT_DRAFTS],
                        process=make_applied_marker(store), metrics=self.metrics, journal=store, outage=self.outage),
        ]
        for w in self.workers:
            self._spawn(w.run(), f"worker-{w.group}")
        self._spawn(sweep_expired(store=store, interval_s=s.expiry_sweep_s, on_ended=self._wake_live), "expiry")
        self._spawn(keep_checkpoints(store=store, geocoder=self.geocoder, every=s.history_checkpoint_every,
                                     keep=s.history_checkpoint_keep, interval_s=s.history_checkpoint_s), "history")
        if feeds:
            self.feed_poller = self.make_feed_poller()
            self._spawn(self.feed_poller.run(), "feed-poller")

        if s.run_delivery:
            self.start_delivery()

    def make_feed_poller(self):
        """The external feed poller on this runtime's store, journal and region zones (NWS zone codes)."""
        from feeds.external.poller import FeedPoller
        from feeds.external.service import region_zones

        assert self.store is not None
        region = getattr(self.geocoder, "region", None)
        zones = region_zones(region=region) if region is not None else None
        return FeedPoller(settings=self.settings, store=self.store, submitter=self, metrics=self.metrics,
                          zones=lambda: zones)

    def start_delivery(self) -> None:
        """Start the fan-out (its index first: a tail of alerts.subscriptions, then the rebuild from the
        directory) and one channel worker per channel that is on; say once which channels are off."""
        s, store, directory = self.settings, self.store, self.directory
        assert store is not None
        if directory is None:
            log.info("alert delivery is off: no subscription directory is wired into this runtime")
            return
        if self.channels is None:
            self.channels, self.channels_off = self.channel_registry.build(s, store=store)
        for name, why in sorted(self.channels_off.items()):
            log.info("delivery channel %s is off: %s", name, why)
        index = SubscriberIndex()
        broadcast = frozenset(c for c in self.channels if c in (ChannelType.mqtt, ChannelType.mastodon))
        self.fanout = FanOut(settings=s, store=store, directory=directory, index=index, broadcast=broadcast)

        async def apply(topic: str, event: Envelope) -> None:
            if event.kind is Kind.subscription:
                index.apply(Target.model_validate(event.attributes))

        tail = Tail(settings=s, bootstrap=self.bootstrap, topics=[SUBSCRIPTIONS_TOPIC], handler=apply,
                    outage=self.outage)
        self._spawn(tail.run(), "subscriptions-tail")
        fanout = GroupWorker(settings=s, bootstrap=self.bootstrap, group="fanout",
                             topics=[ALERTS_ISSUED, SUBSCRIPTIONS_TOPIC], process=self.fanout.process(),
                             metrics=self.metrics, outage=self.outage)

        async def run_fanout() -> None:
            await tail.ready.wait()  # every change from here on reaches the index; the rebuild gives the rest
            n = await rebuild_index(directory=directory, index=index)
            log.info("fan-out index: %d subscriptions", n)
            await fanout.run()

        self.workers.append(fanout)
        self._spawn(run_fanout(), "worker-fanout")
        # issue 15: registrants' check-ins and critical facilities' notifications, sent as Notice jobs
        for group, topics, process in (
                ("registry", [ALERTS_ISSUED], make_registry_processor(store=store, settings=s)),
                ("facilities", [ALERTS_ISSUED, COP_INCIDENTS], make_facilities_processor(store=store, settings=s)),
                # issue 13: reporters' confirmations and status messages, sent as Notice jobs
                ("reporter-updates", [COP_INCIDENTS], make_updates_processor(store=store, settings=s))):
            worker = GroupWorker(settings=s, bootstrap=self.bootstrap, group=group, topics=topics, process=process,
                                 metrics=self.metrics, outage=self.outage)
            self.workers.append(worker)
            self._spawn(worker.run(), f"worker-{group}")
        self._spawn(run_checkin_timer(store=store, intake=self, settings=s, bootstrap=self.bootstrap,
                                      base_url=s.public_base_url()), "registry-timer")
        self._spawn(run_escalation_timer(store=store, settings=s, bootstrap=self.bootstrap), "facilities-timer")
        self._spawn(run_reporter_timer(store=store, settings=s, bootstrap=self.bootstrap), "reporter-updates-timer")
        for channel in self.channels.values():
            if channel.per_process:
                continue  # e.g. WebSocket: every API process delivers to its own sessions
            runner = ChannelRunner(settings=s, bootstrap=self.bootstrap, channel=channel, store=store,
                                   directory=directory, metrics=self.metrics, outage=self.outage)
            self.channel_runners.append(runner)
            self._spawn(runner.run(), f"worker-{runner.group}")

    def _wake_live(self) -> None:
        """The projection changed in this process: the live picture reads it now, not at its next poll."""
        if self.cop_live is not None:
            self.cop_live.wake()

    async def _broker_back(self) -> None:
        """The embedded broker runs again (empty): count it and let the watchdog re-create topics and re-queue now."""
        assert self.watchdog
        self.metrics.embedded_broker_restarts.inc()
        try:
            await self.watchdog.check()
        except Exception as exc:  # its periodic look tries again
            log.debug("first look at the restarted broker failed: %s", exc)

    def _broker_recovered(self) -> None:
        """The watchdog re-created the topics and re-queued the journal: publish at once."""
        if self.relay:
            self.relay.wake()

    async def _to_gateways(self, topic: str, event: Envelope) -> None:
        assert self.websocket
        await self.websocket.on_event(topic, event)

    def _spawn(self, coro, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_log_crash)
        self._tasks.append(task)

    async def submit(self, event: Envelope, topic: str, *, on_conflict: OnConflict = "keep") -> Accepted:
        """Journal an input (event + outbox row in one transaction) and wake the relay.

        Returns once the input is durable in the store; publication happens in the background. StoreError
        (answered 503 with Retry-After) when the store cannot be reached: nothing was journaled.
        """
        assert self.store is not None
        with store_unreachable_is_store_error("the journal cannot be written"):
            accepted = await self.store.accept(event, topic, event.id, on_conflict)
        if accepted.created:
            self.metrics.accepted.inc(kind=event.kind.value)
            if self.relay:
                self.relay.wake()
        return accepted

    async def wait_applied(self, timeout_s: float = 60.0, poll_s: float = 0.05) -> bool:
        """Wait until every journal row is applied to the projection (or failed: dead-lettered, waiting for an
        operator's retry); False on timeout."""
        assert self.store is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            counts = await self.store.journal_counts()
            self.metrics.outbox_pending.set(counts.total - counts.applied)
            self.metrics.journal_failed.set(counts.failed)
            if counts.finished == counts.total:
                return True
            await asyncio.sleep(poll_s)
        return False

    async def ready(self) -> dict[str, bool]:
        """Whether the store and the broker answer (for /readyz); the broker not while an outage is open (the
        embedded one died or is restarting), until the watchdog has its topics back."""
        store_ok = False
        if self.store is not None:
            try:
                await asyncio.wait_for(self.store.ping(), 2)
                store_ok = True
            except Exception:
                store_ok = False
        broker_ok = bool(self.watchdog and self.watchdog.reachable) and (self.broker is None or self.broker.running)
        return {"store": store_ok, "broker": broker_ok}

    async def broker_lag(self) -> bool:
        """Read the consumer groups' lag from the broker (committed vs end offsets) into ``emergency_broker_consumer_lag``;
        False (and the gauge left as it was) when the broker does not answer within ``lag_scrape_s``."""
        if not self.workers or not self.bootstrap:
            return False
        groups = {w.group: w.logical_topics for w in self.workers}
        try:
            lag = await asyncio.wait_for(group_lag(self.settings, self.bootstrap, groups), self.settings.lag_scrape_s)
        except Exception as exc:  # the broker is down or slow: the scrape answers without it
            log.debug("broker lag not available: %s", exc)
            return False
        for (group, topic), n in lag.items():
            self.metrics.broker_lag.set(n, group=group, topic=topic)
        return True

    async def journal_failed(self) -> int | None:
        """Journal rows a processor gave up on (dead-lettered, not applied), also set as the
        ``emergency_journal_failed`` gauge; None when the store does not answer."""
        if self.store is None:
            return None
        try:
            counts = await asyncio.wait_for(self.store.journal_counts(), 2)
        except Exception:
            return None
        self.metrics.journal_failed.set(counts.failed)
        return counts.failed

    async def retry_failed(self, seqs: list[int] | None = None) -> list[int]:
        """Clear the failure of these journal rows (all when None) and wake the relay to publish them again."""
        assert self.store is not None
        retried = await self.store.retry_failed(seqs)
        if retried and self.relay:
            self.relay.wake()
        await self.journal_failed()
        return retried

    async def publish_receipt(self, receipt: Receipt) -> None:
        """Put a delivery receipt on alerts.receipts (from the API: an acknowledgement); waits for the broker."""
        if self._receipts is None:
            self._receipts = await start_producer(self.settings, self.bootstrap)
        await publish_all(self._receipts, [(self.settings.topic(ALERTS_RECEIPTS), receipt.delivery_id.encode(),
                                            receipt.model_dump_json().encode(), None)], self.settings.broker_timeout_s)

    async def api_producer(self) -> Any:
        """This API process's producer (the receipts' one, started on first use, stopped with the runtime): for
        notices sent from a request, such as a self-registration's confirmation codes (alerts.registry)."""
        if self._receipts is None:
            self._receipts = await start_producer(self.settings, self.bootstrap)
        return self._receipts

    async def stop(self) -> None:
        """Cancel tasks, stop the embedded broker, close the store. Safe to call twice."""
        if self.report_mail is not None:
            await self.report_mail.close()
            self.report_mail = None
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        for worker in self.workers:  # the correlator's tail of cop.incidents
            aclose = getattr(worker.process, "aclose", None)
            if aclose is not None:
                await aclose()
        if self._receipts is not None:
            await stop_producer(self._receipts)
            self._receipts = None
        channels, self.channels = self.channels or {}, None
        for channel in channels.values():
            try:
                await channel.close()
            except Exception as exc:
                log.warning("closing channel %s: %s", channel.type.value, exc)
        if self.broker is not None:
            await self.broker.stop()
        if self.store is not None:
            await self.store.close()
            self.store = None


def _social_streams(settings: Settings) -> list[Any]:
    """The parsed ``EMERGENCY_SOCIAL_STREAMS`` (feeds.social is imported only when it is set)."""
    if not settings.social_streams.strip():
        return []
    from feeds.social.streams import parse_streams

    return parse_streams(settings.social_streams)


def _died(broker: EmbeddedBroker | None) -> str | None:
    """Why the embedded broker is gone (it is being restarted), None when it runs or there is none."""
    reason = broker.exit_status() if broker is not None else None
    return f"{reason}; restarting it on {broker.bootstrap}" if reason and broker else None


def _log_crash(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s crashed", task.get_name(), exc_info=task.exception())
