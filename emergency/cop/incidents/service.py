"""The correlator processor (cop.reports + cop.actions -> cop.incidents), coordinators' actions and the status of a
report for its reporter.

Everything the projector stores passes through the correlator: each report that forms incidents is republished
carrying its ``incident_id`` and ``incident_status``, each incident whose state changed is published in full, both
keyed by incident id and the incident first (so once a report's journal row is applied, the incident state it led
to is stored too; a report that moved to another incident is also published on its old incident's key, so the
last version on every partition is its newest), and every other input (shelters,
evacuation zones, reports without a geometry) is passed through unchanged. A coordinator's action is journaled
to ``cop.actions`` under the incident's id: it counts as applied once the incident state it produced is stored.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from emergency.auth.models import TokenRecord
from emergency.cop.features import to_feature
from emergency.cop.incidents.correlate import (
    REFUSAL_STATUS,
    Correlator,
    annotated,
    incident_envelope,
    incident_from_envelope,
    refusal,
)
from emergency.cop.incidents.models import REPLY_MAX, ActionIn, ActionName, Incident, Status, family_of
from emergency.errors import BrokerError, Conflict, NotFound, ValidationFailed
from emergency.events import Envelope, Kind, Source, new_id, utcnow
from emergency.layers import INCIDENTS
from emergency.metrics import Registry
from emergency.store.base import Accepted, EventQuery, Store
from emergency.store.cursors import CURSORS
from emergency.stream.bounded import bounded
from emergency.stream.consumer import Incoming, Rejected, decode, topic_partitions
from emergency.stream.producer import publish_all
from emergency.stream.topics import COP_ACTIONS, COP_INCIDENTS

log = logging.getLogger(__name__)

LOAD_LIMIT = 10_000_000  # incidents read back at start (all of them)
# where cop.incidents ended when the projection was last dropped for a rebuild: the states before it were made
# from the journal before the rebuild, and a correlator replaying it must not take them for another's newer state
REBUILT_FROM = "cop.incidents:rebuilt-from"


class IncidentTail:
    """Every partition of ``cop.incidents``, read from the beginning without a consumer group, on demand: each
    correlator of the group learns the incidents the others made or changed (``catch_up`` before each batch)."""

    def __init__(self, *, settings: Any, bootstrap: str, store: Store | None = None) -> None:
        self.settings, self.bootstrap, self.store = settings, bootstrap, store
        self._consumer: AIOKafkaConsumer | None = None
        self._tps: list[TopicPartition] = []

    async def _start(self) -> AIOKafkaConsumer:
        s = self.settings
        timeout = s.broker_timeout_s
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="earliest", fetch_max_wait_ms=s.fetch_max_wait_ms,
                                    request_timeout_ms=int(timeout * 1000) + 1000, metadata_max_age_ms=5000)
        try:
            await bounded(consumer.start(), timeout, "incident tail start")
            topic = s.topic(COP_INCIDENTS)
            self._tps = (await topic_partitions(consumer, [topic], timeout))[topic]
            if not self._tps:
                raise BrokerError(f"{topic} does not exist yet")
            consumer.assign(self._tps)
            await bounded(consumer.seek_to_beginning(*self._tps), timeout, "incident tail seek")
            for tp, offset in (await self._rebuilt_from()).items():  # skip what was published before a rebuild
                if tp in self._tps:
                    consumer.seek(tp, offset)  # past the end (a new embedded broker): reset to the beginning
        except BaseException:
            await consumer.stop()
            raise
        return consumer

    async def _rebuilt_from(self) -> dict[TopicPartition, int]:
        if self.store is None:
            return {}
        saved = await self.store.repository(CURSORS).get(REBUILT_FROM)
        if not saved:
            return {}
        topic = self.settings.topic(COP_INCIDENTS)
        return {TopicPartition(topic, int(p)): int(o) for p, o in json.loads(saved).items()}

    async def catch_up(self) -> list[Envelope]:
        """The incident states published since the last call, up to the end the partitions had when called."""
        if self._consumer is None:
            self._consumer = await self._start()
        consumer, timeout = self._consumer, self.settings.broker_timeout_s
        try:
            ends = await bounded(consumer.end_offsets(self._tps), timeout, "incident tail end offsets")
            out: list[Envelope] = []
            while True:
                behind = [tp for tp in self._tps
                          if await bounded(consumer.position(tp), timeout, "incident tail position") < ends[tp]]
                if not behind:
                    return out
                batches = await bounded(consumer.getmany(*behind, timeout_ms=200, max_records=5000), timeout + 5,
                                        "incident tail fetch")
                for recs in batches.values():
                    for rec in recs:
                        try:
                            event = decode(rec)
                        except ValueError:
                            continue
                        if event.kind is Kind.incident:
                            out.append(event)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            try:
                await bounded(consumer.stop(), 5, "incident tail stop")
            except Exception:
                pass


class Journal(Protocol):
    """Where an action is journaled (the runtime: ``Runtime.submit``)."""

    async def submit(self, event: Envelope, topic: str, *, on_conflict: str = "keep") -> Accepted: ...


async def mark_rebuild(*, settings: Any, bootstrap: str, store: Store) -> dict[int, int]:
    """Before a rebuild replays the journal: save where each partition of ``cop.incidents`` ends now, so the
    correlators' tails start there (the states before were made before the rebuild); returns the offsets."""
    timeout = settings.broker_timeout_s
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                request_timeout_ms=int(timeout * 1000) + 1000)
    await bounded(consumer.start(), timeout, "rebuild mark start")
    try:
        topic = settings.topic(COP_INCIDENTS)
        tps = (await topic_partitions(consumer, [topic], timeout))[topic]
        ends = await bounded(consumer.end_offsets(tps), timeout, "rebuild mark end offsets") if tps else {}
    finally:
        await bounded(consumer.stop(), 5, "rebuild mark stop")
    offsets = {tp.partition: int(o) for tp, o in ends.items()}
    await store.repository(CURSORS).put(REBUILT_FROM, json.dumps(offsets, sort_keys=True))
    return offsets


def make_correlator(*, settings: Any, store: Store, metrics: Registry, bootstrap: str | None = None):
    """A batch processor for ``GroupWorker`` (group ``correlator``): correlate reports, apply actions, publish.

    The incidents are read back from the store on the first batch; actions naming what has not arrived yet wait
    in memory and are tried again after every batch. With ``bootstrap``, before each batch the correlator reads
    ``cop.incidents`` (every partition, ``IncidentTail``) up to its end and takes every newer state of an incident
    another correlator of the group published, so a report near a cell another process owns finds that process's
    incidents, and an action (keyed by its incident, so one correlator receives it) finds its incident. The
    processor's ``aclose()`` stops the tail.
    """
    state = Correlator()
    seen: dict[str, Envelope] = {}          # the latest version of each report this process has handled
    published: dict[str, tuple[str, str]] = {}  # report id -> (incident id, status) last published for it
    pending: list[Envelope] = []
    loaded = False
    tail = IncidentTail(settings=settings, bootstrap=bootstrap, store=store) if bootstrap else None

    def take(event: Envelope) -> None:
        """Hold another correlator's newer state of an incident (an echo of our own is not newer)."""
        held = state.incidents.get(event.id)
        if held is not None and event.received_at <= held.received_at:
            return
        inc = incident_from_envelope(event)
        if held is not None:
            for rid in held.members:
                if state.owner.get(rid) == inc.id and rid not in inc.members:
                    del state.owner[rid]  # moved away: its new incident's state says where
        state.load(inc)
        for rid in inc.members:
            published[rid] = (inc.id, inc.status.value)

    async def load() -> None:
        nonlocal loaded
        for event in await store.query_events(EventQuery(layers=(INCIDENTS,), limit=LOAD_LIMIT)):
            inc = incident_from_envelope(event)
            state.load(inc)
            for rid in inc.members:
                published[rid] = (inc.id, inc.status.value)
        loaded = True

    async def process(batch: list[Incoming], producer: AIOKafkaProducer) -> list[Rejected]:
        if not loaded:
            await load()
        if tail is not None:
            for event in await tail.catch_up():
                take(event)
        out: list[tuple[str, bytes, bytes, None]] = []
        topic = settings.topic(COP_INCIDENTS)
        changed: set[str] = set()
        fresh: set[str] = set()
        for inc in sorted(batch, key=lambda i: (i.event.received_at, i.event.id)):
            e = inc.event
            if inc.topic == COP_ACTIONS:
                done = state.apply_action(e)
                if done is None:
                    pending.append(e)
                else:
                    changed |= done
            elif e.geometry is None or family_of(e.kind, e.category) is None:
                out.append((topic, e.id.encode(), e.to_json(), None))
            else:
                old = seen.get(e.id)
                if old is not None and e.received_at < old.received_at:
                    continue
                seen[e.id] = e
                fresh.add(e.id)
                changed |= state.add_report(e)
        progress = True
        while pending and progress:
            progress = False
            for e in list(pending):
                done = state.apply_action(e)
                if done is not None:
                    pending.remove(e)
                    changed |= done
                    progress = True
        for iid in sorted(changed):
            inc = state.incidents[iid]
            out.append((topic, iid.encode(), incident_envelope(inc).to_json(), None))
            for rid in sorted(inc.members):
                want = (inc.id, inc.status.value)
                if published.get(rid) == want and rid not in fresh:
                    continue
                report = seen.get(rid) or await store.get_event(rid)
                if report is None:
                    continue
                before = published.get(rid)
                published[rid] = want
                value = annotated(report, inc).to_json()
                out.append((topic, iid.encode(), value, None))
                if before is not None and before[0] != iid:  # it moved: the old partition's last word is this too
                    out.append((topic, before[0].encode(), value, None))
        await publish_all(producer, out, settings.broker_timeout_s)
        metrics.events_out.inc(len(out), topic=COP_INCIDENTS)
        return []

    async def aclose() -> None:
        if tail is not None:
            await tail.close()

    process.aclose = aclose  # type: ignore[attr-defined]
    return process


# ------------------------------------------------------------------ coordinators' actions


async def stored_incident(*, store: Store, incident_id: str, field: str = "incident_id") -> Incident:
    """The projected state of an incident; ``NotFound`` naming ``field`` when there is none."""
    event = await store.get_event(incident_id)
    if event is None or event.kind is not Kind.incident:
        raise NotFound(field, f"no incident {incident_id[:80]!r}")
    return incident_from_envelope(event)


def check_body(*, action: ActionName, body: ActionIn) -> None:
    """Refuse (422 naming the field) a body that lacks what ``action`` needs."""
    if action is ActionName.dismiss and not (body.reason or "").strip():
        raise ValidationFailed("reason", "a dismissal needs a reason (and optionally a public_reason for reporters)")
    if action is ActionName.merge and not body.target:
        raise ValidationFailed("target", "name the incident to merge into")
    if action is ActionName.split and not body.reports:
        raise ValidationFailed("reports", "name the report ids to split out into a new incident")
    if action in (ActionName.note, ActionName.reply) and not (body.text or "").strip():
        raise ValidationFailed("text", f"a {action.value} needs its text")
    if action is ActionName.reply and len(body.text or "") > REPLY_MAX:
        raise ValidationFailed("text", f"a public reply is at most {REPLY_MAX} characters")


async def act(*, journal: Journal, store: Store, incident_id: str, action: ActionName, body: ActionIn,
              principal: TokenRecord, now: datetime | None = None) -> dict[str, Any]:
    """Check an action against the projected state and journal it to ``cop.actions``; what was understood.

    404 unknown incident (or merge target), 409 someone else's lock or a merged incident, 422 merge into itself or
    a split of reports not in the incident. The correlator applies it (and checks again, recording a refusal in
    the audit trail if the state changed meanwhile).
    """
    check_body(action=action, body=body)
    now = now or utcnow()
    inc = await stored_incident(store=store, incident_id=incident_id)
    target = None
    if action is ActionName.merge:
        assert body.target is not None
        if body.target == incident_id:
            raise ValidationFailed("target", "cannot merge an incident into itself")
        target = await stored_incident(store=store, incident_id=body.target, field="target")
    why = refusal(inc, action, by=principal.name, at=now, target=target, reports=body.reports or [])
    if why is not None:
        cls, _, message = why.partition(": ")
        status = REFUSAL_STATUS[cls]
        field = {"locked": "incident_id", "duplicate": "incident_id", "itself": "target"}.get(cls, cls)
        if status == 409:
            raise Conflict(field, message)
        raise ValidationFailed(field, message)
    action_id = new_id("action")
    attrs: dict[str, Any] = {"action": action.value, "action_id": action_id, "by": principal.name,
                             "by_roles": sorted(principal.roles)}
    attrs.update({k: v for k, v in body.model_dump().items() if v is not None})
    event = Envelope(id=incident_id, kind=Kind.incident, source=Source(type="coordinator"), observed_at=now,
                     received_at=now, attributes=attrs)
    await journal.submit(event, COP_ACTIONS, on_conflict="append")
    return {"incident_id": incident_id, "action": action.value, "action_id": action_id, "accepted_at": now.isoformat(),
            **{k: v for k, v in body.model_dump().items() if v is not None}}


# ------------------------------------------------------------------ reading


def public_audit(entries: list[dict[str, Any]], *, names: bool) -> list[dict[str, Any]]:
    """The audit trail as shown: role, when, what (and a public reply's text) to everyone; who, the internal reason,
    notes and refusals only to coordinators and admins (``names``)."""
    keep = ("action", "at", "by_roles", "public_reason", "target", "reports", "into", "from")
    if names:
        keep += ("by", "reason", "text", "refused")
    public_text = keep + ("text",)  # a reply's text is public
    return [{k: e[k] for k in (public_text if e.get("action") == ActionName.reply.value else keep) if k in e}
            for e in entries]


def public_replies(entries: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The coordinators' public replies of an audit trail (``reply`` actions not refused): when and what."""
    return [{"at": e["at"], "text": e["text"]} for e in entries
            if e.get("action") == ActionName.reply.value and not e.get("refused") and e.get("text")]


PUBLIC_STATUS = {
    Status.unverified: "received", Status.corroborated: "under review", Status.verified: "verified",
    Status.dismissed: "dismissed", Status.resolved: "resolved",
}


async def report_status(*, store: Store, report_id: str) -> dict[str, Any]:
    """What a reporter may know of their report: received, under review, verified, dismissed (with the public
    reason), resolved, and the coordinators' public replies (of its incident and any it was merged from). No text,
    place or personal data of the report."""
    report = await store.get_event(report_id)
    if report is None or report.kind is Kind.incident:
        raise NotFound("report_id", f"no report {report_id[:80]!r}")
    iid = report.attributes.get("incident_id")
    out: dict[str, Any] = {"id": report.id, "status": "received", "incident_id": iid, "reason": None,
                           "updated_at": report.received_at.isoformat(), "replies": []}
    seen: set[str] = set()
    while iid and iid not in seen:  # a duplicate: follow it to the incident it was merged into
        seen.add(iid)
        found = await store.get_event(iid)
        if found is None:
            break
        inc = incident_from_envelope(found)
        out.update(incident_id=inc.id, updated_at=found.received_at.isoformat())
        out["replies"] += public_replies(inc.audit)
        if inc.status is Status.duplicate and inc.merged_into:
            iid = inc.merged_into
            continue
        out["status"], out["reason"] = public_state(inc, at=utcnow())
        break
    return out


def public_state(inc: Incident, *, at: datetime) -> tuple[str, str | None]:
    """The public status of an incident's reports at ``at`` (received, under review, verified, dismissed,
    resolved) and the public reason of a dismissal (None otherwise); the tracking page and status messages."""
    if inc.claim_holder(at) is not None and inc.status in (Status.unverified, Status.corroborated):
        return "under review", None
    if inc.status is Status.dismissed:
        return "dismissed", inc.reasons.get("public_reason") or "not confirmed"
    return PUBLIC_STATUS.get(inc.status, "received"), None


async def incident_detail(*, store: Store, incident_id: str, names: bool) -> dict[str, Any]:
    """An incident as a GeoJSON Feature with its reports' public features and its audit trail."""
    event = await store.get_event(incident_id)
    if event is None or event.kind is not Kind.incident:
        raise NotFound("incident_id", f"no incident {incident_id[:80]!r}")
    feature = to_feature(event)
    reports = []
    for rid in event.attributes.get("report_ids", []):
        found = await store.get_event(rid)
        if found is not None:
            reports.append(to_feature(found))
    audit = public_audit(event.attributes.get("private", {}).get("audit", []), names=names)
    if names:
        feature["properties"]["claimed_by"] = event.attributes.get("private", {}).get("claimed_by")
    return {**feature, "reports": reports, "audit": audit}
