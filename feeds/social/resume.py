"""Clusters survive a restart: a stream runner seeds its new pipeline from the clusters it journaled.

Without this, a repost or near-identical copy of an already journaled post arriving after a
restart would start a second cluster (a second item on the map). ``seed_from_journal`` reads
the runner's ``social_post`` envelopes (tagged with its stream under ``attributes.private.stream``)
whose ``last_seen`` is within the deduper's window, from the projection and from journal rows
not applied yet (the relay may lag, or no projector may run), keeps the newest version of each,
and puts the newest ``max_clusters`` of them back into the Deduper with their ClusterInfo,
``published_count`` = the journaled count: the next copy publishes an "append" of the same
envelope id, and a replayed post already counted changes nothing.

The envelope holds what the cluster needs: first post id and ids (``private.post_ids``, up to
100), authors (``private.authors``, up to 100), links (public ones and ``private.links``), count, first/last seen, text (its shingles are
recomputed), the place (geometry, when ``place_origin`` is set), keywords, hashtags and category.
Clusters first seen more than ``LOOKBACK_WINDOWS`` windows ago are not read back.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from emergency.events import Envelope, utcnow
from emergency.store.base import EventQuery, Store, latest_per_id
from emergency.stream.topics import RAW_SOCIAL
from feeds.social.dedup import Cluster
from feeds.social.models import Post
from feeds.social.pipeline import ClusterInfo, SocialPipeline, cluster_event
from feeds.social.places import Place, representative_point
from feeds.social.relevance import Assessment
from feeds.social.rules import Match
from feeds.social.text import content_words

log = logging.getLogger(__name__)
LOOKBACK_WINDOWS = 4  # clusters first seen up to 4 windows (24 h) ago are read back
PAGE = 5_000  # projection rows per query
UNAPPLIED_MAX = 50_000  # journal rows not yet applied that are looked at


def cluster_of(event: Envelope, pipeline: SocialPipeline) -> Cluster | None:
    """The cluster a journaled ``social_post`` envelope describes, ready for ``Deduper.restore``;
    None when the envelope lacks what is needed or would not be republished under its own id."""
    attrs = event.attributes
    private = attrs.get("private") or {}
    post_ids = [str(i) for i in private.get("post_ids") or []]
    if not post_ids or not event.text or "first_seen" not in attrs or "last_seen" not in attrs:
        return None
    hashtags = tuple(attrs.get("hashtags") or ())
    match = Match(tuple(attrs.get("keywords") or ()), hashtags)
    sketch = pipeline.deduper.sketch_words(content_words(pipeline.rules.current.match(event.text, hashtags).text))
    place = None
    if attrs.get("place_origin") and event.geometry is not None:
        place = Place(event.geometry, event.geo_precision.value, event.confidence, event.location_text,
                      attrs["place_origin"])
    post = Post(id=post_ids[0], source=event.source.type, text=event.text, created_at=event.observed_at,
                author=private.get("author"), lang=attrs.get("lang"),
                links=list(attrs.get("links") or []) + list(private.get("links") or []))
    assessment = Assessment(bool(attrs.get("related", True)), bool(attrs.get("informative", False)),
                            float(attrs.get("score", event.confidence)), str(attrs.get("social_category", "other")),
                            event.category or "other")
    count = int(attrs.get("count", len(post_ids)))
    cluster = Cluster(id=post_ids[0], first_post=post_ids[0], shingles=sketch.shingles,
                      first_seen=datetime.fromisoformat(attrs["first_seen"]),
                      last_seen=datetime.fromisoformat(attrs["last_seen"]),
                      point=representative_point(place.geometry) if place else None, count=count,
                      authors=set(private.get("authors") or ()), post_ids=post_ids, keys=sketch.keys,
                      info=ClusterInfo(post, match, assessment, place, bool(attrs.get("outside_region")),
                                       published_count=count))
    if cluster_event(cluster, now=event.received_at).id != event.id:
        return None
    return cluster


async def journaled_envelopes(store: Store, since: datetime) -> list[Envelope]:
    """The newest version of each ``social_post`` envelope first seen since ``since``: from the
    projection (paged by first seen) and from journal rows the projection does not hold yet."""
    found: list[Envelope] = []
    query_since = since
    while True:
        page = await store.query_events(EventQuery(kinds=("social_post",), since=query_since, limit=PAGE))
        found += page
        if len(page) < PAGE or page[-1].observed_at == query_since:
            break
        query_since = page[-1].observed_at  # inclusive: the boundary rows come twice, latest_per_id folds them
    # read only: rows not applied yet, whether or not the relay has published them
    rows = await store.due_for_publication(UNAPPLIED_MAX, utcnow() + timedelta(days=3650))
    found += [Envelope.model_validate_json(r.payload) for r in rows if r.topic == RAW_SOCIAL]
    return latest_per_id(found)


async def seed_from_journal(pipeline: SocialPipeline, store: Store, *, stream: str,
                            now: datetime | None = None) -> int:
    """Put back into ``pipeline`` the clusters ``stream`` journaled whose last_seen is within its
    deduper's window of ``now`` (newest ``max_clusters``); returns how many."""
    deduper = pipeline.deduper
    now = now or utcnow()
    window = timedelta(seconds=deduper.window_s)
    clusters: list[Cluster] = []
    unusable = 0
    for event in await journaled_envelopes(store, now - LOOKBACK_WINDOWS * window):
        if (event.attributes.get("private") or {}).get("stream") != stream:
            continue
        try:
            cluster = cluster_of(event, pipeline)
        except (ValueError, TypeError, KeyError, AttributeError):  # an envelope this code did not write
            cluster = None
        if cluster is None:
            unusable += 1
        elif cluster.last_seen >= now - window:
            clusters.append(cluster)
    if unusable:
        log.warning("social stream %s: %d journaled clusters could not be resumed", stream, unusable)
    clusters.sort(key=lambda c: c.last_seen)
    for cluster in clusters[-deduper.max_clusters:]:
        deduper.restore(cluster)
    if clusters:
        log.info("social stream %s: %d clusters resumed from the journal", stream, len(clusters))
    return min(len(clusters), deduper.max_clusters)
