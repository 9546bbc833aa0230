"""External feeds: which feeds run, what a poll journals, and each feed's health.

Change detection: every item a feed lists is reduced to a content hash (its category, text, geometry,
time and public attributes); a poll journals only items whose hash is new or differs from the stored one,
and for each item the feed no longer lists it journals one more version of the item's last envelope with
``attributes.ended_at`` set to the poll time. ``ended_at`` is the first expiry attribute of the
``feed_incidents`` layer, so the projector writes that version as ended at once (an item already past its
expiry is written ended) and open maps get a ``remove`` — the same path as an alert past its ``expires``,
with no separate delete. An item that comes back is new again (its hash was forgotten) and is journaled
without ``ended_at``.

Geometries are GeoJSON, WGS 84 longitude/latitude degrees.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import shapely
from shapely.geometry import mapping

from emergency.config import Settings, parse_feed_list
from emergency.errors import Conflict, NotFound
from emergency.events import Envelope, GeoPrecision, Kind, Source, utcnow
from emergency.netguard import check_outbound_url, parse_allow_hosts
from emergency.store.base import Store
from emergency.store.cursors import CURSORS
from emergency.stream.topics import RAW_FEEDS
from feeds.external.formats import ZoneResolver
from feeds.external.models import FeedConfig, FeedHealth, FeedIn, FeedItem, FeedState, ParsedFeed
from feeds.external.repository import FEEDS, StoredItem
from feeds.intake import Submitter

SOURCE_TYPE = "feed"
MAX_KEY = 160  # item ids longer than this (URLs, URNs) are named by a digest in event ids


def setting_feeds(*, settings: Settings) -> list[FeedConfig]:
    """The feeds of ``EMERGENCY_FEEDS`` (the operator's own), each at ``EMERGENCY_FEED_INTERVAL_S``."""
    return [FeedConfig(name, url, settings.feed_interval_s, "setting")
            for name, url in parse_feed_list(settings.feeds)]


async def all_feeds(*, store: Store, settings: Settings) -> list[FeedConfig]:
    """Every feed to poll: the setting's, then those added through the admin API (a name in the setting wins)."""
    own = setting_feeds(settings=settings)
    names = {f.name for f in own}
    added = await store.repository(FEEDS).list_feeds()
    return own + [f for f in added if f.name not in names]


async def add_feed(*, store: Store, settings: Settings, body: FeedIn, created_by: str) -> FeedConfig:
    """Add a feed through the admin API: its URL must pass the outbound-URL guard; names are unique."""
    if any(f.name == body.name for f in setting_feeds(settings=settings)):
        raise Conflict("name", f"the feed {body.name!r} is configured by EMERGENCY_FEEDS")
    await check_outbound_url(body.url, field="url", allow_hosts=parse_allow_hosts(settings.webhook_allow_hosts))
    feed = FeedConfig(body.name, body.url, body.interval_s, "admin", created_by)
    if not await store.repository(FEEDS).put_feed(feed):
        raise Conflict("name", f"a feed called {body.name!r} exists; delete it first to change it")
    return feed


async def remove_feed(*, store: Store, settings: Settings, submitter: Submitter, name: str) -> int:
    """Stop polling an admin-added feed and end every item it listed (open maps get a ``remove``); its poll
    state is cleared, so adding it again reads it afresh. Returns the number of items ended."""
    if any(f.name == name for f in setting_feeds(settings=settings)):
        raise Conflict("name", f"the feed {name!r} is configured by EMERGENCY_FEEDS; change the setting instead")
    repo = store.repository(FEEDS)
    if not await repo.delete_feed(name):
        raise NotFound("name", f"no feed called {name!r} was added through the API")
    items, at = await repo.items(name), utcnow()
    for stored in items.values():
        await submitter.submit(ended_envelope(stored, at=at), RAW_FEEDS, on_conflict="append")
    await repo.apply(name, put={}, remove=list(items))
    await store.repository(CURSORS).put(cursor_name(name), FeedState().to_json())
    return len(items)


def cursor_name(feed: str) -> str:
    """The named cursor holding ``feed``'s poll state."""
    return f"feed:{feed}"


async def load_state(*, store: Store, feed: str) -> FeedState:
    """The poll state saved for ``feed`` (empty when it was never polled)."""
    return FeedState.from_json(await store.repository(CURSORS).get(cursor_name(feed)))


async def health(*, store: Store, settings: Settings) -> list[FeedHealth]:
    """Each feed's health from its saved poll state, in configuration order."""
    out = []
    for feed in await all_feeds(store=store, settings=settings):
        s = await load_state(store=store, feed=feed.name)
        out.append(FeedHealth(name=feed.name, origin=feed.origin, format=s.format, last_poll=s.last_poll,
                              last_change=s.last_change, items=s.items, errors=s.errors, last_error=s.last_error,
                              unlocated=s.unlocated, next_poll=s.next_poll))
    return out


def event_id(feed: str, item_id: str) -> str:
    """``feed:<feed name>:<item id>``; an item id longer than 160 characters by its SHA-256 (32 hex digits)."""
    key = item_id if len(item_id) <= MAX_KEY else "sha256-" + hashlib.sha256(item_id.encode()).hexdigest()[:32]
    return f"feed:{feed}:{key}"


def item_attributes(*, feed: str, parsed: ParsedFeed, item: FeedItem) -> dict[str, Any]:
    """The item's public attributes with its feed, publisher and licence attribution (shown on the map)."""
    return {**item.attributes, "feed": feed, "feed_format": parsed.format, "publisher": parsed.publisher,
            "attribution": parsed.attribution, "item_id": item.item_id[:500]}


def item_hash(*, feed: str, parsed: ParsedFeed, item: FeedItem) -> str:
    """The content hash of an item: what a change of it means (not when it was polled)."""
    doc = {"category": item.category, "text": item.text, "geometry": item.geometry,
           "observed_at": item.observed_at.isoformat() if item.observed_at else None,
           "attributes": item_attributes(feed=feed, parsed=parsed, item=item)}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def item_envelope(*, feed: str, parsed: ParsedFeed, item: FeedItem, received_at: datetime) -> Envelope:
    """The ``feed_item`` envelope of one version of an item (geometry GeoJSON, WGS 84)."""
    return Envelope(
        id=event_id(feed, item.item_id), kind=Kind.feed_item,
        source=Source(type=SOURCE_TYPE, ref=f"{feed}:{item.item_id}"[:256]),
        observed_at=item.observed_at or received_at, received_at=received_at, category=item.category,
        text=item.text, geometry=item.geometry, geo_precision=GeoPrecision.exact,
        attributes=item_attributes(feed=feed, parsed=parsed, item=item))


def ended_envelope(stored: StoredItem, *, at: datetime) -> Envelope:
    """The last version of an item that left its feed, ended at ``at`` (the projector writes it ended)."""
    last = Envelope.model_validate_json(stored.envelope)
    return last.model_copy(update={"received_at": at, "attributes": {**last.attributes, "ended_at": at.isoformat()}})


@dataclass
class Changes:
    """What one body of a feed changes: envelopes to journal, hashes to record, items to forget."""

    envelopes: list[Envelope] = field(default_factory=list)
    put: dict[str, StoredItem] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)
    new: int = 0
    changed: int = 0
    ended: int = 0


def diff(*, feed: str, parsed: ParsedFeed, stored: dict[str, StoredItem], at: datetime) -> Changes:
    """Compare a feed's items with what it listed last: new and changed items, and the ones that left."""
    out = Changes()
    seen: set[str] = set()
    for item in parsed.items:
        if item.item_id in seen:  # a feed listing one id twice: the first wins
            continue
        seen.add(item.item_id)
        digest = item_hash(feed=feed, parsed=parsed, item=item)
        old = stored.get(item.item_id)
        if old is not None and old.hash == digest:
            continue
        env = item_envelope(feed=feed, parsed=parsed, item=item, received_at=at)
        out.envelopes.append(env)
        out.put[item.item_id] = StoredItem(digest, env.model_dump_json(by_alias=True))
        if old is None:
            out.new += 1
        else:
            out.changed += 1
    for item_id, old in stored.items():
        if item_id not in seen:
            out.envelopes.append(ended_envelope(old, at=at))
            out.remove.append(item_id)
            out.ended += 1
    return out


def region_zones(*, region: Any) -> ZoneResolver:
    """A resolver of UGC / SAME codes to the union of the zones ``region`` (a ``mapping.regions.Region``)
    knows; codes it does not know are passed over, None when it knows none (GeoJSON, WGS 84)."""
    from mapping.zones import expand_codes, find_zone

    def resolve(codes: Iterable[str]) -> dict[str, Any] | None:
        shapes = []
        for text in codes:
            try:
                expanded = expand_codes(text)
            except ValueError:
                continue
            for code in expanded:
                try:
                    shapes.append(find_zone(code, region).geometry)
                except ValueError:
                    continue
        return mapping(shapely.union_all(shapes)) if shapes else None

    return resolve
