"""The social pipeline: rules -> relevance -> places -> near-duplicate collapse -> raw.social envelopes.

Relevance combines the lexicon with what this pipeline's own stream has shown so far
(``vocabulary.StreamVocabulary``), so each pipeline learns the vocabulary of the posts it sees.

``SocialPipeline.process(post)`` decides one post against the rules current at that moment
(``RulesHolder.set`` swaps them; the next post sees the new ones). Kept posts fold into
clusters; clusters that changed are marked dirty and ``ClusterPublisher.flush`` turns each into
one ``social_post`` envelope (id ``social:<source>:<digest of the first post id>``: post ids name
their author, as a Mastodon URL or a Bluesky AT URI does, or lead to them, as a tweet id does)
carrying count, first and last seen and the number of distinct authors. Author handles, post ids
and links that name an account (``feeds.social.links``) stay under ``attributes["private"]``,
which public APIs strip; other links are public.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from emergency.events import Envelope, GeoPrecision, Kind, Source, utcnow
from emergency.store.base import OnConflict
from feeds.social.dedup import Cluster, Deduper
from feeds.social.links import split_links
from feeds.social.models import Post
from feeds.social.places import Place, locate, representative_point
from feeds.social.relevance import Assessment
from feeds.social.rules import CompiledRules, Match, Rules, compile_rules
from feeds.social.text import content_words
from feeds.social.vocabulary import StreamVocabulary

MAX_ENVELOPE_TEXT = 20_000
PRIVATE_LIST = 100  # authors / post ids kept per cluster in the envelope
MAX_AHEAD = timedelta(minutes=5)


@lru_cache(maxsize=1)
def _default_rules() -> CompiledRules:
    """The default rules, compiled once per process (compiled rules are immutable, so shared)."""
    return compile_rules(Rules(), 0)


class RulesHolder:
    """The current compiled rules; ``set`` replaces them atomically (the next post sees them)."""

    def __init__(self, rules: Rules | CompiledRules | None = None, version: int = 0) -> None:
        if rules is None:
            self.current = _default_rules()
        else:
            self.current = rules if isinstance(rules, CompiledRules) else compile_rules(rules, version)

    def set(self, rules: Rules, version: int) -> CompiledRules:
        self.current = compile_rules(rules, version)
        return self.current


@dataclass
class ClusterInfo:
    """What the map item of a cluster says: taken from its first post."""

    post: Post
    match: Match
    assessment: Assessment
    place: Place | None
    outside_region: bool
    published_count: int = 0


@dataclass
class Decision:
    """The outcome for one post (one JSON line of ``emergency social filter``)."""

    id: str
    related: bool
    informative: bool
    score: float
    category: str
    keywords: list[str] = field(default_factory=list)
    places: list[dict[str, Any]] = field(default_factory=list)
    cluster: str | None = None
    dropped: str | None = None
    flags: list[str] = field(default_factory=list)
    rules_version: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "related": self.related, "informative": self.informative, "score": self.score,
                "category": self.category, "keywords": self.keywords, "places": self.places,
                "cluster": self.cluster, "dropped": self.dropped, "flags": self.flags,
                "rules_version": self.rules_version}


class SocialPipeline:
    """Decides posts and keeps the clusters; one instance per stream consumer (not thread-safe)."""

    def __init__(self, rules: RulesHolder | None = None, *, region: Any = None, deduper: Deduper | None = None,
                 vocabulary: StreamVocabulary | None = None, now: Callable[[], datetime] = utcnow) -> None:
        self.rules = rules or RulesHolder()
        self.region = region
        self.deduper = deduper or Deduper()
        self.vocabulary = vocabulary or StreamVocabulary()
        self.now = now
        self.dirty: dict[str, Cluster] = {}
        self.counts: dict[str, int] = {}

    def _count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    def process(self, post: Post) -> Decision:
        """Decide one post; kept posts join a cluster that is marked for publication."""
        rules = self.rules.current
        now = self.now()
        # a clock far ahead in one post must not expire every cluster: post times are capped at now + 5 min
        at = min(post.created_at, now + MAX_AHEAD) if post.created_at else now
        refers = post.repost_of or post.quote_of
        parent = self.deduper.cluster_of_post(refers) if refers else None
        if parent is not None:  # a repost or quote of a kept post: one more copy of it
            info: ClusterInfo = parent.info
            cluster, _ = self.deduper.add(post.id, post.text, at, author=post.author, refers_to=refers)
            self._kept(cluster)
            a = info.assessment
            return Decision(post.id, a.related, a.informative, a.score, a.category, list(info.match.keywords),
                            [info.place.as_dict()] if info.place else [], cluster.id, None,
                            ["repost" if post.repost_of else "quote"], rules.version)
        if not rules.language_ok(post.lang):
            return self._drop(post, rules, "language")
        if post.repost_of and not post.text.strip():
            return self._drop(post, rules, "repost of a post not kept")
        match = rules.match(post.text, post.tags)
        if match.negative:
            return self._drop(post, rules, "negative term", match)
        ws = content_words(match.text)
        a = self.vocabulary.judge(match, ws)
        if rules.rules.require_keyword and not match.hit:
            return self._drop(post, rules, "no keyword", match, a)
        if not a.related:
            return self._drop(post, rules, "not related", match, a)
        # coordinates first; text and profile places are looked up once per new cluster
        places = locate(post, None) if post.located else []
        point = representative_point(places[0].geometry) if places else None
        sketch = self.deduper.sketch_words(ws)
        parent = None if point is not None else self.deduper.find(sketch)
        if parent is None and not places:
            places = locate(post, self.region)
            point = representative_point(places[0].geometry) if places else None
        place = places[0] if places else None
        flags: list[str] = []
        outside = False
        if point is not None and rules.rules.region is not None and rules.in_region(*point) is False:
            if rules.rules.region.outside == "drop":
                return self._drop(post, rules, "outside region", match, a, places)
            outside = True
            flags.append("outside_region")
        cluster, created = self.deduper.add(post.id, post.text, at, author=post.author, point=point, sketch=sketch)
        if created:
            cluster.info = ClusterInfo(post, match, a, place, outside)
        else:
            flags.append("near_duplicate")
            if cluster.info.place is None and place is not None:
                cluster.info.place = place
            if not places and cluster.info.place is not None:
                places = [cluster.info.place]
        self._kept(cluster)
        return Decision(post.id, True, a.informative, a.score, a.category, list(match.keywords) +
                        [f"#{t}" for t in match.hashtags], [p.as_dict() for p in places], cluster.id, None, flags,
                        rules.version)

    def _kept(self, cluster: Cluster) -> None:
        self._count("kept")
        self.dirty[cluster.id] = cluster

    def _drop(self, post: Post, rules: CompiledRules, reason: str, match: Match | None = None,
              a: Assessment | None = None, places: list[Place] | None = None) -> Decision:
        self._count(reason)
        return Decision(post.id, False, False, a.score if a else 0.0, a.category if a else "other",
                        list(match.keywords) if match else [], [p.as_dict() for p in places or []], None, reason,
                        [], rules.version)

    def take_dirty(self) -> list[Cluster]:
        """Clusters changed since the last call, oldest change first."""
        out = list(self.dirty.values())
        self.dirty.clear()
        return out


def public_ref(post_id: str) -> str:
    """A post id fit for public ids: its digest (32 hex digits of SHA-256), stable so re-runs and resumes
    find the same envelope. Every post id is digested: a Mastodon URL names its author, a Bluesky AT URI
    embeds the author's DID, a tweet id leads to its author. Bluesky digests keep the ``at:`` prefix
    they were published with."""
    digest = hashlib.sha256(post_id.encode()).hexdigest()[:32]
    return f"at:{digest}" if post_id.startswith("at://") else digest


def cluster_event(cluster: Cluster, *, now: datetime, stream: str | None = None) -> Envelope:
    """The raw.social envelope for a cluster (WGS 84 geometry of its best place, if any); ``stream``
    (the runner's cursor name, kept private) lets that runner find its clusters after a restart."""
    info: ClusterInfo = cluster.info
    post, a, place = info.post, info.assessment, info.place
    private: dict[str, Any] = {"post_ids": cluster.post_ids[:PRIVATE_LIST]}
    if stream:
        private["stream"] = stream
    if post.author:
        private["author"] = post.author
    if cluster.authors:
        private["authors"] = sorted(cluster.authors)[:PRIVATE_LIST]
    links, account_links = split_links(post.links)
    if account_links:
        private["links"] = account_links[:10]
    attributes: dict[str, Any] = {
        "keywords": list(info.match.keywords), "hashtags": list(info.match.hashtags), "lang": post.lang,
        "social_category": a.category, "related": a.related, "informative": a.informative, "score": a.score,
        "count": cluster.count, "distinct_authors": len(cluster.authors),
        "first_seen": cluster.first_seen.isoformat(), "last_seen": cluster.last_seen.isoformat(),
        "links": links[:10], "private": private,
    }
    if info.outside_region:
        attributes["outside_region"] = True
    if place is not None:
        attributes["place_origin"] = place.origin
    confidence = a.score if place is None else min(a.score, place.confidence) if place.origin == "profile" else a.score
    ref = public_ref(cluster.id)
    return Envelope(
        id=f"social:{post.source}:{ref}"[:256], kind=Kind.social_post, source=Source(type=post.source, ref=ref[:256]),
        observed_at=cluster.first_seen, received_at=now, category=a.map_category,
        text=post.text[:MAX_ENVELOPE_TEXT], geometry=place.geometry if place else None,
        location_text=place.text[:1000] if place and place.text else None,
        geo_precision=GeoPrecision(place.precision) if place else GeoPrecision.none,
        confidence=confidence, attributes=attributes,
    )


Sink = Callable[[Envelope, OnConflict], Awaitable[bool]]


class ClusterPublisher:
    """Journals dirty clusters through ``sink(event, on_conflict) -> created``: a cluster's first
    publication uses "keep" (re-running the same input adds nothing), later ones "append" (a
    newer version of the same id, which the projector upserts). ``stream`` goes into each envelope
    (see ``cluster_event``)."""

    def __init__(self, pipeline: SocialPipeline, sink: Sink, *, stream: str | None = None) -> None:
        self.pipeline, self.sink, self.stream = pipeline, sink, stream
        self.stats = {"journaled": 0, "with location": 0, "duplicates": 0, "updated": 0}

    async def flush(self) -> int:
        """Journal every dirty cluster; returns how many envelopes were written. Clusters not yet
        journaled when the sink fails stay dirty for the next flush."""
        written = 0
        now = utcnow()
        pending = self.pipeline.take_dirty()
        for i, cluster in enumerate(pending):
            info: ClusterInfo = cluster.info
            count = cluster.count  # posts may join while we await the sink: publish what we built
            if info.published_count == count:
                continue
            first = info.published_count == 0
            event = cluster_event(cluster, now=now, stream=self.stream)
            try:
                created = await self.sink(event, "keep" if first else "append")
            except BaseException:
                for c in pending[i:]:
                    self.pipeline.dirty.setdefault(c.id, c)
                raise
            info.published_count = count
            if not created:
                self.stats["duplicates"] += 1
                continue
            written += 1
            self.stats["journaled" if first else "updated"] += 1
            if first and event.geometry is not None:
                self.stats["with location"] += 1
        return written
