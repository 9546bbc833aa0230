"""What the current event's posts talk about, learnt online from the stream itself (no labels).

During a crisis most posts that carry crisis words share a small vocabulary: the place, the
hazard, the names in the news ("chelyabinsk", "meteor", "marathon"). ``StreamVocabulary`` keeps
decayed document frequencies of the content words of the posts whose lexical evidence alone is
strong, and scores a new post by how typical its words are of them: the mean of its ``TOP``
highest document fractions (0..1). ``relevance.assess`` adds that typicality, weighted, to the
lexical score, so "Chelyabinsk residents film the flash" counts as related once the stream has
shown that Chelyabinsk is the event, while chatter that shares no event word does not.

Nothing is fitted to labelled data here: the vocabulary is what the running stream says, so it
follows a new event without configuration. Memory is bounded: every ``half_life`` observed posts
all counts halve and words that fall below one occurrence are forgotten.
"""

from __future__ import annotations

from itertools import repeat

from feeds.social.relevance import Assessment, assess, lexically_strong
from feeds.social.rules import Match

TOP = 3
MIN_POSTS = 20  # below this many observed posts typicality is 0 (no evidence yet)


class StreamVocabulary:
    """Decayed document frequencies of content words over posts with strong lexical evidence."""

    def __init__(self, *, half_life: int = 20_000) -> None:
        self.half_life = half_life
        self.df: dict[str, float] = {}
        self.posts = 0.0
        self._since_decay = 0

    def typicality(self, distinct: set[str]) -> float:
        """0..1: mean of the ``TOP`` largest document fractions of the words in ``distinct`` (a
        post's content words); 0 until ``MIN_POSTS`` posts were observed."""
        if self.posts < MIN_POSTS or not distinct:
            return 0.0
        top = sorted(map(self.df.get, distinct, repeat(0.0)))[-TOP:]
        return sum(top) / (len(top) * self.posts)

    def observe(self, distinct: set[str]) -> None:
        """Count one post's distinct content words."""
        df = self.df
        for w in distinct:
            df[w] = df.get(w, 0.0) + 1.0
        self.posts += 1.0
        self._since_decay += 1
        if self._since_decay >= self.half_life:
            self._decay()

    def _decay(self) -> None:
        self._since_decay = 0
        self.posts /= 2
        self.df = {w: c / 2 for w, c in self.df.items() if c >= 2.0}

    def judge(self, match: Match, ws: list[str]) -> Assessment:
        """Assess a post (``ws``: its content words) with the stream's typicality, then learn from
        it when its lexical evidence alone is strong."""
        distinct = set(ws)
        a = assess(match, typicality=self.typicality(distinct), words=distinct)
        if lexically_strong(a):
            self.observe(distinct)
        return a
