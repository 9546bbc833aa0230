"""Rules engine and relevance: Unicode matching, word boundaries, hashtags, negatives, languages,
regions, odd inputs (emoji, empty, 100 kB), and category decisions."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from feeds.social.models import Post
from feeds.social.pipeline import RulesHolder, SocialPipeline
from feeds.social.relevance import assess
from feeds.social.rules import Rules, compile_rules, default_lexicon
from feeds.social.text import split_hashtag


def rules(**kw) -> object:
    return compile_rules(Rules(default_lexicon=False, **kw))


def test_matching_is_nfkc_case_folded_and_accent_folded_on_request():
    r = rules(keywords=["fire", "évacuation"])
    assert r.match("ＦＩＲＥ at the depot").keywords == ("fire",)  # full-width letters, NFKC
    assert r.match("FIRE!").keywords == ("fire",)
    assert r.match("Evacuation now").keywords == ("evacuation",)
    strict = rules(keywords=["évacuation"], fold_accents=False)
    assert strict.match("Evacuation now").keywords == ()
    assert strict.match("ÉVACUATION now").keywords == ("évacuation",)


def test_word_boundaries_phrases_and_negative_terms():
    r = rules(keywords=["fire", "power lines"], negative=["firefox"])
    assert r.match("bonfire night, ceasefire talks").keywords == ()
    assert r.match("Power  lines down").keywords == ()  # two spaces in the text: phrase words must be adjacent
    assert r.match("power lines down, fire nearby").keywords == ("power lines", "fire")
    m = r.match("firefox keeps crashing, fire")
    assert m.negative == ("firefox",) and not m.hit


def test_hashtags_match_as_listed_and_split_into_words():
    r = rules(keywords=["nsw fires"], hashtags=["#PDXwx"])
    assert r.match("look at this #pdxwx").hashtags == ("pdxwx",)
    assert r.match("#NSWFires again").keywords == ("nsw fires",)
    assert r.match("#nswfires again").keywords == ("nsw fires",)
    assert r.match("nothing here #nsw").keywords == ()
    assert split_hashtag("YYCFlood2013", frozenset({"flood"}), 5) == "yyc flood 2013"
    assert r.match("tags come from the post too", tags=["pdxwx"]).hashtags == ("pdxwx",)


def test_default_rules_are_the_crisislex_lexicon():
    assert len(default_lexicon()) == 379
    r = compile_rules(Rules())
    assert "death toll" in r.match("The death toll rises").keywords


def test_language_and_region_rules():
    r = rules(keywords=["flood"], languages=["en", "es-MX"],
              region={"bbox": [-122.8, 45.4, -122.5, 45.7], "outside": "drop"})
    assert r.language_ok("en-US") and r.language_ok("es") and r.language_ok(None) and not r.language_ok("fr")
    assert r.in_region(-122.65, 45.5) is True and r.in_region(-73.9, 40.7) is False
    poly = rules(region={"polygon": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}})
    assert poly.in_region(0.5, 0.5) is True and poly.in_region(2, 2) is False
    assert rules().in_region(0, 0) is None


@pytest.mark.parametrize("doc, field", [
    ({"keywords": ["  "]}, "keywords"),
    ({"languages": ["english!"]}, "languages"),
    ({"region": {"bbox": [10, 0, 5, 1]}}, "region.bbox"),
    ({"region": {"polygon": {"type": "Point", "coordinates": [0, 0]}}}, "region.polygon"),
    ({"colour": "red"}, "colour"),
])
def test_bad_rules_name_the_field(doc, field):
    with pytest.raises(ValidationError) as exc:
        Rules.model_validate(doc)
    assert ".".join(map(str, exc.value.errors()[0]["loc"])) == field


def decide(text: str, **post) -> object:
    pipeline = SocialPipeline(RulesHolder(Rules(keywords=["flood"], **post.pop("rules", {}))))
    return pipeline.process(Post(id=post.pop("id", "p1"), text=text, **post))


def test_emoji_empty_and_huge_posts_never_crash():
    assert decide("🔥🔥 flood 🌊 everywhere 🆘").related
    empty = decide("")
    assert empty.dropped == "not related" and empty.score == 0.0
    huge = decide("water " * 16_000 + "flood")  # about 100 kB
    assert huge.related and huge.keywords == ["flood"]
    assert decide("\u200b\u0000\ufeff").dropped == "not related"


def test_region_rule_drops_or_flags_located_posts_outside():
    far = {"lat": 40.7, "lon": -73.9}
    region = {"bbox": [-122.8, 45.4, -122.5, 45.7]}
    assert decide("flood on main st", rules={"region": {**region, "outside": "drop"}}, **far).dropped == "outside region"
    flagged = decide("flood on main st", rules={"region": region}, **far)
    assert flagged.dropped is None and flagged.flags == ["outside_region"]
    inside = decide("flood on main st", rules={"region": region}, lat=45.5, lon=-122.6)
    assert inside.flags == [] and inside.places[0]["precision"] == "exact"


def test_language_rule_drops_other_languages():
    assert decide("flood", lang="fr", rules={"languages": ["en"]}).dropped == "language"
    assert decide("flood", lang="en", rules={"languages": ["en"]}).dropped is None


@pytest.mark.parametrize("text, category, map_category", [
    ("Bridge collapsed and power lines down on 5th", "infrastructure_damage", "damage"),
    ("Three people killed and dozens injured in the blast", "injured_dead", "needs_help"),
    ("Family trapped under rubble, rescuers searching", "missing_trapped", "needs_help"),
    ("Evacuation ordered, evacuees head to the shelter", "displaced_evacuating", "needs_help"),
    ("Donate to the relief fund or volunteer at the Red Cross", "donations_volunteering", "other"),
    ("Thoughts and prayers to everyone affected by the flood", "sympathy", "flooding"),
    ("Flood warning: stay away from the river, avoid the low roads", "caution_advice", "flooding"),
])
def test_categories(text, category, map_category):
    a = assess(compile_rules(Rules()).match(text))
    assert a.related and a.category == category and a.map_category == map_category
    assert a.informative == (category != "sympathy")


def test_everyday_talk_is_not_related():
    r = compile_rules(Rules())
    for text in ("lol that movie was great", "Lunch at the new ramen place", "Happy birthday Sam!"):
        assert not assess(r.match(text)).related


def test_a_rule_edit_takes_effect_on_the_next_post():
    holder = RulesHolder(Rules(default_lexicon=False))
    pipeline = SocialPipeline(holder)
    assert pipeline.process(Post(id="a", text="sinkhole on Burnside")).dropped == "not related"
    holder.set(Rules(default_lexicon=False, keywords=["sinkhole"]), version=2)
    d = pipeline.process(Post(id="b", text="sinkhole on Burnside"))
    assert d.related and d.rules_version == 2
