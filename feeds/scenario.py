"""Replay a scenario file (``sample_data/scenarios/*.jsonl``) through intake, in real time.

Each line: ``{"at": seconds since start, "type": "citizen_report" | "road_closure" | "alert" |
"social_post", "body": {...}}`` (format in sample_data/README.md). Items go through the same
service functions as the HTTP API (road closures through the same flow: snapping, jurisdiction,
id) and are journaled with the runtime's ``submit``, so they reach the picture through the topics
like any other input.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from alerts.flows import issue_alert
from alerts.lifecycle import LifecycleRegistry
from alerts.models import AlertIn
from alerts.service import prepare_alert
from emergency.auth.agencies import agency_slug
from emergency.auth.models import TokenRecord
from emergency.auth.repository import TOKENS
from emergency.auth.tokens import Role
from emergency.config import Settings
from emergency.events import Envelope, utcnow
from emergency.store.base import Store
from emergency.stream.topics import ALERTS_ISSUED, RAW_CITIZEN, RAW_SOCIAL
from feeds.agency.flows import submit_road_closure
from feeds.agency.models import RoadClosureIn
from feeds.citizen.models import CitizenReportIn
from feeds.citizen.service import citizen_event
from feeds.intake import Submitter
from feeds.social.posts import Post, post_event
from mapping.regions import load_region


class ReplayTarget(Submitter, Protocol):
    """What a replay needs from the runtime: ``submit``, the settings (region) it runs with, and the
    store whose projection tells the owner of a resubmitted closure."""

    settings: Settings
    store: Store


def load_scenario(path: Path) -> list[dict[str, Any]]:
    """Scenario items sorted by ``at``."""
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return sorted(items, key=lambda i: float(i["at"]))


def scenario_alert(body: dict[str, Any], *, now: datetime) -> AlertIn:
    """The alert request of a scenario ``alert`` item (``expires_in_minutes`` from ``now``)."""
    body = dict(body)
    minutes = float(body.pop("expires_in_minutes", 60))
    area = body.pop("area")
    area = {"circle": area["circle"]} if "circle" in area else {"polygon": area}
    return AlertIn.model_validate({**body, "area": area, "expires": now + timedelta(minutes=minutes)})


def scenario_event(item: dict[str, Any], *, n: int, run: str, start: datetime,
                   alerter: TokenRecord, speed: float = 1.0) -> tuple[Envelope, str] | None:
    """(event, topic) for one scenario item other than a road closure (see :func:`scenario_closure`),
    with times relative to ``start`` (scenario seconds / speed); alerts are checked as the alert flow
    checks them for the token ``alerter`` (tier, area, CAP)."""
    kind, body = item["type"], dict(item["body"])
    now = utcnow()
    at = min(now, start + timedelta(seconds=float(item["at"]) / speed))
    if kind == "citizen_report":
        report = CitizenReportIn.model_validate({**body, "observed_at": at})
        return citizen_event(report, event_id=f"citizen:demo-{run}-{n}", source_type="citizen_app", now=now), RAW_CITIZEN
    if kind == "alert":
        event, _cap = prepare_alert(principal=alerter, alert=scenario_alert(body, now=now),
                                    event_id=f"alert:demo-{run}-{n}", now=now)
        return event, ALERTS_ISSUED
    if kind == "social_post":
        offset = float(body.pop("created_at_offset_s", item["at"])) / speed
        post = Post.model_validate({**body, "id": f"{body['id']}-{run}", "created_at": start + timedelta(seconds=offset),
                                    "source": "demo"})
        event = post_event(post, now=now)
        return (event, RAW_SOCIAL) if event else None
    if kind == "road_closure":
        raise ValueError("type: a road_closure item goes through scenario_closure and the agency flow")
    raise ValueError(f"type: unknown scenario item type {kind!r}")


def scenario_closure(item: dict[str, Any], *, n: int, run: str, start: datetime) -> RoadClosureIn:
    """The closure of a ``road_closure`` item, times relative to ``start``; its reference carries the
    run (``PBOT-2026-001-<run>``, or ``<n>-<run>`` without one) so each replay adds its own closures."""
    body = dict(item["body"])
    begin = start + timedelta(minutes=float(body.pop("start_offset_minutes", 0)))
    end_min = body.pop("end_offset_minutes", None)
    return RoadClosureIn.model_validate({
        **body, "reference": f"{body.get('reference') or n}-{run}", "start": begin,
        "end": start + timedelta(minutes=float(end_min)) if end_min is not None else None,
    })


def demo_agency(*, agency: str, settings: Settings, agency_id: str | None = None) -> TokenRecord:
    """The demo's agency operator: ``agency``, with the region's jurisdiction (as the demo's agency token),
    acting as ``agency_id`` (default: the id the first token of ``agency`` in a store gets, its slug)."""
    jurisdiction = load_region(settings.region_dir).meta.get("jurisdiction")
    return TokenRecord(token_hash="", name=agency, roles=[Role.agency.value], agency=agency, jurisdiction=jurisdiction,
                       agency_id=agency_id or agency_slug(agency))


async def replay(runtime: ReplayTarget, items: list[dict[str, Any]], *, speed: float = 1.0, agency: str,
                 alerter: TokenRecord, on_item: Callable[[int], None] | None = None,
                 principal: TokenRecord | None = None) -> int:
    """Submit the items at their ``at`` times divided by ``speed``; returns how many were journaled.

    Road closures are submitted as ``principal`` (the demo passes its agency token's record; default:
    :func:`demo_agency` for ``agency``, with the agency id its tokens in the store carry) through the
    agency flow; alerts through ``alerts.flows.issue_alert`` as the token ``alerter``, like the API does.
    """
    start = utcnow()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    run = start.strftime("%Y%m%d%H%M%S")
    submitted = 0
    threads = LifecycleRegistry()
    for n, item in enumerate(items):
        delay = float(item["at"]) / speed - (loop.time() - t0)
        if delay > 0:
            await asyncio.sleep(delay)
        if item["type"] == "road_closure":
            if principal is None:
                known = dict((name, i) for i, name in await runtime.store.repository(TOKENS).agencies())
                principal = await asyncio.to_thread(demo_agency, agency=agency, settings=runtime.settings,
                                                    agency_id=known.get(agency))
            await submit_road_closure(closure=scenario_closure(item, n=n, run=run, start=start), principal=principal,
                                      submitter=runtime, events=runtime.store, settings=runtime.settings)
            submitted += 1
        elif item["type"] == "alert":  # the alert flow, as POST /api/v1/alerts runs it
            await issue_alert(principal=alerter, payload=scenario_alert(item["body"], now=utcnow()),
                              submit=runtime.submit, lifecycle=threads, event_id=f"alert:demo-{run}-{n}")
            submitted += 1
        else:
            made = scenario_event(item, n=n, run=run, start=start, alerter=alerter, speed=speed)
            if made is not None:
                event, topic = made
                await runtime.submit(event, topic, on_conflict="keep")
                submitted += 1
        if on_item:
            on_item(n + 1)
    return submitted
