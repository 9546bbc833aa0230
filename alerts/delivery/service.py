"""Receipts people can look at: the delivery report of an alert thread, and acknowledging one delivery."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from alerts.delivery.fanout import alert_version
from alerts.delivery.ledger import DELIVERIES, Progress
from alerts.delivery.models import Receipt
from alerts.journal import ALERT_JOURNAL
from alerts.service import issued_alert, sender_of
from emergency.auth.models import TokenRecord
from emergency.errors import Conflict, Forbidden, NotFound, ValidationFailed
from emergency.events import utcnow
from emergency.store.base import Store

DELIVERY_ID = re.compile(r"[0-9a-f]{64}")
PERCENTILES = (50, 90, 99)
CURVE_POINTS = 200
WATCHERS = frozenset({"coordinator", "admin"})  # see every alert's deliveries; an originator only its own

Publish = Callable[[Receipt], Awaitable[None]]


async def alert_thread(*, store: Store, alert_id: str) -> list:
    """Every journaled version of an issued alert thread, oldest first; 404 ``alert_id`` when there is none."""
    versions = await store.repository(ALERT_JOURNAL).versions(alert_id)
    issued_alert(versions[-1] if versions else None, alert_id)
    return versions


def authorise_report(*, principal: TokenRecord, original) -> None:
    """Coordinators and admins see every alert's deliveries; an originator only the alerts it sent (403)."""
    if WATCHERS & set(principal.roles):
        return
    if original.attributes.get("sender") != sender_of(principal=principal):
        raise Forbidden("alert_id", f"only {original.attributes.get('sender')}, coordinators and admins may see "
                                    "the deliveries of this alert")


def reached_at(p: Progress) -> datetime | None:
    """When a delivery reached the person as far as its channel tells: delivered, else sent (acknowledged
    implies one of them)."""
    return p.delivered_at or p.sent_at


def percentile_times(*, elapsed: list[float], targeted: int) -> dict[str, float | None]:
    """Seconds from issue until ``q`` % of the ``targeted`` deliveries had reached people (None: not yet)."""
    out: dict[str, float | None] = {}
    ordered = sorted(elapsed)
    for q in PERCENTILES:
        need = max(1, math.ceil(targeted * q / 100))
        out[f"p{q}"] = round(ordered[need - 1], 3) if targeted and len(ordered) >= need else None
    return out


def curve(*, elapsed: list[float]) -> list[list[float]]:
    """The cumulative curve [[seconds since issue, deliveries reached], ...], at most ``CURVE_POINTS`` points."""
    ordered = sorted(elapsed)
    if not ordered:
        return []
    step = max(1, math.ceil(len(ordered) / CURVE_POINTS))
    points = [[round(ordered[i - 1], 3), i] for i in range(step, len(ordered) + 1, step)]
    if points[-1][1] != len(ordered):
        points.append([round(ordered[-1], 3), len(ordered)])
    return [[0.0, 0], *points]


def summarise(*, rows: list[Progress], issued: dict[str, datetime]) -> dict[str, Any]:
    """Counts per state and the delivery curve of some deliveries; times from each one's version's issue."""
    targeted = len(rows)
    counts = {"targeted": targeted, "queued": 0, "sent": 0, "delivered": 0, "failed": 0, "acknowledged": 0,
              "skipped": 0}
    elapsed: list[float] = []
    for p in rows:
        counts["queued"] += p.state in ("queued", "sending")
        counts["failed"] += p.state == "failed"
        counts["skipped"] += p.state == "skipped"  # a notice answered before its turn: not a failure
        counts["sent"] += p.sent_at is not None
        counts["delivered"] += p.delivered_at is not None
        counts["acknowledged"] += p.acknowledged_at is not None
        at = reached_at(p)
        start = issued.get(p.alert_version)
        if at is not None and start is not None:
            elapsed.append(max(0.0, (at - start).total_seconds()))
    return {**counts, "time_to_reached_s": percentile_times(elapsed=elapsed, targeted=targeted),
            "curve": curve(elapsed=elapsed)}


async def delivery_report(*, store: Store, alert_id: str, principal: TokenRecord) -> dict[str, Any]:
    """Per channel (and per version) of an alert thread: targeted, queued, sent, delivered, failed, acknowledged,
    the seconds from issue to 50/90/99 % reached (delivered, or sent where the channel reports no delivery)
    and the cumulative curve. No subscription ids, no contacts."""
    versions = await alert_thread(store=store, alert_id=alert_id)
    authorise_report(principal=principal, original=versions[0])
    issued = {alert_version(v): datetime.fromisoformat(v.attributes["sent"]) for v in versions}
    rows = await store.repository(DELIVERIES).progress(alert_id)
    by_channel: dict[str, list[Progress]] = defaultdict(list)
    by_version: dict[str, dict[str, list[Progress]]] = defaultdict(lambda: defaultdict(list))
    for p in rows:
        by_channel[p.channel].append(p)
        by_version[p.alert_version][p.channel].append(p)
    return {
        "alert_id": alert_id,
        "issued_at": versions[0].attributes["sent"],
        "generated_at": utcnow().isoformat(),
        "channels": {ch: summarise(rows=rs, issued=issued) for ch, rs in sorted(by_channel.items())},
        "versions": [{"alert_version": alert_version(v), "msg_type": v.attributes.get("msg_type", "Alert"),
                      "issued_at": v.attributes["sent"],
                      "channels": {ch: summarise(rows=rs, issued=issued)
                                   for ch, rs in sorted(by_version.get(alert_version(v), {}).items())}}
                     for v in versions],
    }


async def acknowledge(*, store: Store, delivery_id: str, publish: Publish) -> dict[str, Any]:
    """Record that the person acknowledged a delivery (idempotent) and publish the receipt; 422 for a malformed
    id, 404 for an unknown one, 409 for one not sent yet."""
    if not DELIVERY_ID.fullmatch(delivery_id):
        raise ValidationFailed("delivery_id", "must be 64 lowercase hex digits (the id in the message's link)")
    ledger = store.repository(DELIVERIES)
    row = await ledger.get(delivery_id)
    if row is None:
        raise NotFound("delivery_id", "no such delivery")
    if row.state != "acknowledged":
        now = utcnow()
        marked = await ledger.mark(delivery_id, "acknowledged", now)
        if marked is None:
            raise Conflict("delivery_id", f"the delivery is {row.state}, not sent yet: nothing to acknowledge")
        row = marked
        await publish(Receipt(delivery_id=row.delivery_id, alert_id=row.alert_id, alert_version=row.alert_version,
                              channel=row.channel, state="acknowledged", at=now))
    return {"delivery_id": row.delivery_id, "alert_id": row.alert_id, "state": row.state,
            "acknowledged_at": row.acknowledged_at.isoformat() if row.acknowledged_at else None}


async def record_receipt(*, store: Store, receipt: Receipt, publish: Publish) -> None:
    """A receipt a channel's peer reported later (an SMS delivery report: delivered or failed): marked in the
    ledger, then published on alerts.receipts."""
    await store.repository(DELIVERIES).mark(receipt.delivery_id, receipt.state, receipt.at, failure=receipt.reason)
    await publish(receipt)


class LedgerReceipts:
    """The receipt sink channel callbacks use (``Runtime.delivery_receipts``): ledger first, then the topic."""

    def __init__(self, *, store: Store, publish: Publish) -> None:
        self.store, self._publish = store, publish

    async def publish(self, receipt: Receipt) -> None:
        await record_receipt(store=self.store, receipt=receipt, publish=self._publish)
