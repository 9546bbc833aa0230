"""Filter rules an operator manages through the API, compiled once into an Aho-Corasick automaton.

A rule set (``Rules``) lists keywords (a keyword with spaces is a phrase), hashtags, negative
terms, languages and a region (bbox or GeoJSON polygon, WGS 84 lon/lat degrees). Matching is on
Unicode-normalised text (NFKC, case-folded, accents optionally folded) with word boundaries;
hashtags also match after splitting (#NSWFires, #nswfires -> "nsw fires"). The CrisisLex
recommended lexicon is included unless ``default_lexicon`` is false.

``compile_rules`` builds the automaton once; ``CompiledRules.match`` scans a post in one pass,
whatever the number of terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import ahocorasick
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from shapely import prepare
from shapely.geometry import shape

from emergency.geometry import AreaBBox, AreaGeometry
from feeds.social.text import HASHTAG, fold, is_word_char, split_hashtag, vocabulary_of

LEXICON = Path(__file__).parent / "lexicons" / "CrisisLexRec.txt"
MAX_TERMS = 10_000


class RegionRule(BaseModel):
    """Where posts must be: a bbox (min lon, min lat, max lon, max lat) or a GeoJSON (Multi)Polygon."""

    model_config = ConfigDict(extra="forbid")
    bbox: AreaBBox | None = None
    polygon: AreaGeometry | None = None
    outside: Literal["drop", "flag"] = Field("flag", description="what happens to a located post outside it")

    @model_validator(mode="after")
    def _one(self) -> RegionRule:
        if (self.bbox is None) == (self.polygon is None):
            raise ValueError("give exactly one of bbox or polygon")
        return self


class Rules(BaseModel):
    """The operator's rule set (the body of ``PUT /api/v1/social/rules``)."""

    model_config = ConfigDict(extra="forbid")
    keywords: list[str] = Field(default_factory=list, description="words or phrases; '#tag' entries are hashtags")
    hashtags: list[str] = Field(default_factory=list, description="hashtags, with or without '#'")
    negative: list[str] = Field(default_factory=list, description="a post containing any of these is dropped")
    languages: list[str] = Field(default_factory=list, description="language codes (en, es...); empty = any; "
                                 "posts that declare no language pass")
    region: RegionRule | None = None
    default_lexicon: bool = Field(True, description="include the CrisisLex recommended lexicon as keywords")
    require_keyword: bool = Field(False, description="keep only posts that match a keyword or hashtag; when "
                                  "false the relevance scorer may also keep a post that matches none")
    fold_accents: bool = Field(True, description="match 'evacuacion' to 'evacuación'")

    @field_validator("keywords", "hashtags", "negative")
    @classmethod
    def _terms(cls, v: list[str]) -> list[str]:
        if len(v) > MAX_TERMS:
            raise ValueError(f"at most {MAX_TERMS} terms")
        for t in v:
            if not t.strip() or len(t) > 200:
                raise ValueError("each term must be 1 to 200 characters and not blank")
        return v

    @field_validator("languages")
    @classmethod
    def _langs(cls, v: list[str]) -> list[str]:
        for code in v:
            if not (1 < len(code) <= 8 and code.replace("-", "").isalpha()):
                raise ValueError(f"{code!r} is not a language code")
        return [c.lower().split("-")[0] for c in v]


@dataclass(frozen=True)
class Match:
    """What a post matched: keywords and hashtags found, negative terms found."""

    keywords: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()
    negative: tuple[str, ...] = ()
    operator_hits: int = 0  # keywords and hashtags the operator listed (not from the default lexicon)
    text: str = ""  # the folded text matched, hashtags split and appended on their own lines

    @property
    def hit(self) -> bool:
        return bool(self.keywords or self.hashtags) and not self.negative


@dataclass(frozen=True)
class CompiledRules:
    """A rule set ready to match; build with ``compile_rules``. Immutable, so swapping one for a
    new one is atomic: a post is matched entirely against one version."""

    rules: Rules
    version: int
    automaton: Any
    hashtag_set: frozenset[str]
    vocabulary: frozenset[str]
    longest: int
    region_shape: Any = None
    region_bbox: tuple[float, float, float, float] | None = None
    terms: int = 0

    def match(self, text: str, tags: list[str] | tuple[str, ...] = ()) -> Match:
        """Keywords, hashtags and negative terms in ``text`` (and the post's own ``tags``)."""
        accents = self.rules.fold_accents
        folded = fold(text, accents)
        raw_tags = list(tags)
        if "#" in text:
            raw_tags += HASHTAG.findall(text)
        haystack = folded
        found_tags: list[str] = []
        if raw_tags:
            segments = []
            for tag in raw_tags:
                f = fold(tag.lstrip("#"), accents)
                if f in self.hashtag_set and f not in found_tags:
                    found_tags.append(f)
                segments.append(split_hashtag(tag.lstrip("#"), self.vocabulary, self.longest))
            haystack = folded + "\n" + "\n".join(segments)
        keywords: list[str] = []
        negative: list[str] = []
        operator_hits = len(found_tags)
        n = len(haystack)
        for end, (term, negative_term, operator, length, bounded_start, bounded_end) in self.automaton.iter(haystack):
            start = end - length + 1
            if bounded_start and start > 0 and is_word_char(haystack[start - 1]):
                continue
            if bounded_end and end + 1 < n and is_word_char(haystack[end + 1]):
                continue
            target = negative if negative_term else keywords
            if term not in target:
                target.append(term)
                operator_hits += operator and not negative_term
        return Match(tuple(keywords), tuple(found_tags), tuple(negative), operator_hits, haystack)

    def language_ok(self, lang: str | None) -> bool:
        """True when the rules allow ``lang`` (any language when none are listed; unknown passes)."""
        if not self.rules.languages or not lang:
            return True
        return lang.lower().split("-")[0] in self.rules.languages

    def in_region(self, lon: float, lat: float) -> bool | None:
        """Whether the point (WGS 84 degrees) is inside the rules' region; None without a region."""
        if self.region_bbox is not None:
            minx, miny, maxx, maxy = self.region_bbox
            return minx <= lon <= maxx and miny <= lat <= maxy
        if self.region_shape is not None:
            from shapely import contains_xy

            return bool(contains_xy(self.region_shape, lon, lat))
        return None


@lru_cache(maxsize=1)
def default_lexicon() -> tuple[str, ...]:
    """The CrisisLex recommended terms shipped in ``lexicons/``."""
    return tuple(t.strip() for t in LEXICON.read_text(encoding="utf-8").splitlines() if t.strip())


def compile_rules(rules: Rules, version: int = 0) -> CompiledRules:
    """Build the automaton for ``rules`` (milliseconds for thousands of terms)."""
    accents = rules.fold_accents
    keywords = [t for t in rules.keywords if not t.strip().startswith("#")]
    hashtags = [t for t in rules.hashtags] + [t for t in rules.keywords if t.strip().startswith("#")]
    hashtag_set = frozenset(fold(t.strip().lstrip("#"), accents) for t in hashtags)
    operator_keywords = {fold(" ".join(t.split()), accents) for t in keywords}
    lexicon = {fold(t, accents) for t in default_lexicon()} if rules.default_lexicon else set()
    folded_keywords = operator_keywords | lexicon
    folded_negative = {fold(" ".join(t.split()), accents) for t in rules.negative}
    automaton = ahocorasick.Automaton()
    for term in folded_keywords - folded_negative:
        automaton.add_word(term, (term, False, term in operator_keywords, len(term),
                                  is_word_char(term[0]), is_word_char(term[-1])))
    for term in folded_negative:
        automaton.add_word(term, (term, True, False, len(term), is_word_char(term[0]), is_word_char(term[-1])))
    if len(automaton):
        automaton.make_automaton()
    else:  # an empty automaton cannot be built; one unmatchable key keeps iter() working
        automaton.add_word("\x00", ("\x00", False, False, 1, False, False))
        automaton.make_automaton()
    vocab = vocabulary_of(folded_keywords | folded_negative | hashtag_set)
    region_shape = region_bbox = None
    if rules.region is not None:
        if rules.region.bbox is not None:
            region_bbox = rules.region.bbox
        else:
            region_shape = shape(rules.region.polygon)
            prepare(region_shape)
    return CompiledRules(rules=rules, version=version, automaton=automaton, hashtag_set=hashtag_set,
                         vocabulary=vocab, longest=max((len(w) for w in vocab), default=1),
                         region_shape=region_shape, region_bbox=region_bbox,
                         terms=len(folded_keywords) + len(folded_negative) + len(hashtag_set))

