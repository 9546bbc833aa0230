"""The stream vocabulary: relevance learns the current event's words from the stream, without labels."""

from __future__ import annotations

import gc

from emergency.collector import tune_collector
from feeds.social.models import Post
from feeds.social.pipeline import RulesHolder, SocialPipeline
from feeds.social.relevance import RELATED_AT, assess, related_decision
from feeds.social.rules import Rules, compile_rules
from feeds.social.text import content_words
from feeds.social.vocabulary import MIN_POSTS, StreamVocabulary

RULES = compile_rules(Rules())
WEAK = "Chelyabinsk residents filmed the flash over the lake"  # no crisis cue word at all


def judge(vocabulary: StreamVocabulary, text: str):
    match = RULES.match(text)
    return vocabulary.judge(match, content_words(match.text))


def test_a_post_without_crisis_words_is_related_once_the_stream_shows_its_event():
    vocabulary = StreamVocabulary()
    assert not judge(vocabulary, WEAK).related  # nothing learnt yet: lexical evidence only
    for i in range(40):
        judge(vocabulary, f"Meteor explosion over Chelyabinsk, {i} injured, windows shattered")
    a = judge(vocabulary, WEAK)
    assert a.typicality > 0.3 and a.lexical < RELATED_AT
    assert a.related and a.score > a.lexical


def test_chatter_sharing_no_event_word_stays_unrelated():
    vocabulary = StreamVocabulary()
    for i in range(40):
        judge(vocabulary, f"Meteor explosion over Chelyabinsk, {i} injured, windows shattered")
    a = judge(vocabulary, "Great coffee with friends this morning")
    assert a.typicality == 0.0 and not a.related


def test_only_posts_with_strong_lexical_evidence_teach_the_vocabulary():
    vocabulary = StreamVocabulary()
    for _ in range(100):
        judge(vocabulary, "Great coffee with friends this morning")
    assert vocabulary.posts == 0 and not vocabulary.df
    judge(vocabulary, "Flood waters rising, evacuation ordered")
    assert vocabulary.posts == 1 and vocabulary.df["flood"] == 1


def test_typicality_waits_for_enough_posts_and_is_a_fraction():
    vocabulary = StreamVocabulary()
    ws = {"flood", "river", "bridge"}
    for _ in range(MIN_POSTS - 1):
        vocabulary.observe(ws)
    assert vocabulary.typicality(ws) == 0.0
    vocabulary.observe(ws)
    assert vocabulary.typicality(ws) == 1.0
    assert vocabulary.typicality({"flood", "coffee", "friends", "morning"}) == 1 / 3  # top 3 of 4
    assert vocabulary.typicality(set()) == 0.0


def test_counts_halve_and_rare_words_are_forgotten():
    vocabulary = StreamVocabulary(half_life=10)
    for i in range(9):
        vocabulary.observe({"flood", f"once{i}"})
    vocabulary.observe({"flood"})
    assert vocabulary.posts == 5 and vocabulary.df == {"flood": 5.0}


def test_related_decision_adds_weighted_typicality():
    assert related_decision(RELATED_AT, 0.0)
    assert not related_decision(RELATED_AT - 0.1, 0.0)
    assert related_decision(RELATED_AT - 0.1, 0.1)
    assert not assess(RULES.match("lol that movie"), typicality=0.0).related


def test_each_pipeline_learns_its_own_stream():
    pipeline = SocialPipeline(RulesHolder(Rules()))
    for i in range(40):
        pipeline.process(Post(id=str(i), text=f"Meteor explosion over Chelyabinsk, {i} injured"))
    assert pipeline.process(Post(id="w", text=WEAK)).related
    assert not SocialPipeline(RulesHolder(Rules())).process(Post(id="w", text=WEAK)).related


def test_collector_tuning_sets_the_young_generation_threshold():
    before = gc.get_threshold()
    try:
        assert tune_collector(0) == before  # 0 keeps the current settings
        assert tune_collector(12_345)[0] == 12_345
        assert gc.get_threshold()[1:] == before[1:]
    finally:
        gc.set_threshold(*before)
