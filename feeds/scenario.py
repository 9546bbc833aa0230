"""Replay a scenario file (``sample_data/scenarios/*.jsonl``) through intake, in real time.

Each line: ``{"at": seconds since start, "type": "citizen_report" | "road_closure" | "alert" |
"social_post", "body": {...}}`` (format in sample_data/README.md). Items go through the same
service functions as the HTTP API and are journaled with ``Runtime.submit``, so they reach the
picture through the topics like any other input.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from alerts.flows import issue_alert
from alerts.lifecycle import LifecycleRegistry
from alerts.models import AlertIn
from alerts.service import prepare_alert
from emergency.events import Envelope, utcnow
from emergency.runtime import Runtime
from emergency.store.base import TokenRecord
from emergency.stream.topics import ALERTS_ISSUED, RAW_AGENCY, RAW_CITIZEN, RAW_SOCIAL
from feeds.agency.models import RoadClosureIn
from feeds.agency.service import agency_slug, closure_event
from feeds.citizen.models import CitizenReportIn
from feeds.citizen.service import citizen_event
from feeds.social.posts import Post, post_event


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


def scenario_event(item: dict[str, Any], *, n: int, run: str, start: datetime, agency: str,
                   alerter: TokenRecord, speed: float = 1.0) -> tuple[Envelope, str] | None:
    """(event, topic) for one scenario item, with times relative to ``start`` (scenario seconds / speed);
    alerts are checked as the alert flow checks them for the token ``alerter`` (tier, area, CAP)."""
    kind, body = item["type"], dict(item["body"])
    now = utcnow()
    at = min(now, start + timedelta(seconds=float(item["at"]) / speed))
    if kind == "citizen_report":
        report = CitizenReportIn.model_validate({**body, "observed_at": at})
        return citizen_event(report, event_id=f"citizen:demo-{run}-{n}", source_type="citizen_app", now=now), RAW_CITIZEN
    if kind == "road_closure":
        begin = start + timedelta(minutes=float(body.pop("start_offset_minutes", 0)))
        end_min = body.pop("end_offset_minutes", None)
        closure = RoadClosureIn.model_validate({
            **body, "start": begin, "end": start + timedelta(minutes=float(end_min)) if end_min is not None else None,
        })
        event_id = f"agency:{agency_slug(agency)}:{closure.reference or n}-{run}"
        return closure_event(closure, event_id=event_id, agency=agency, now=now), RAW_AGENCY
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
    raise ValueError(f"type: unknown scenario item type {kind!r}")


async def replay(runtime: Runtime, items: list[dict[str, Any]], *, speed: float = 1.0, agency: str,
                 alerter: TokenRecord, on_item: Callable[[int], None] | None = None) -> int:
    """Submit the items at their ``at`` times divided by ``speed``; returns how many were journaled.
    Alerts are issued through ``alerts.flows.issue_alert`` as the token ``alerter``, like the API does."""
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
        if item["type"] == "alert":  # the alert flow, as POST /api/v1/alerts runs it
            await issue_alert(principal=alerter, payload=scenario_alert(item["body"], now=utcnow()),
                              submit=runtime.submit, lifecycle=threads, event_id=f"alert:demo-{run}-{n}")
            submitted += 1
        elif (made := scenario_event(item, n=n, run=run, start=start, agency=agency, alerter=alerter,
                                     speed=speed)) is not None:
            event, topic = made
            await runtime.submit(event, topic, on_conflict="keep")
            submitted += 1
        if on_item:
            on_item(n + 1)
    return submitted
