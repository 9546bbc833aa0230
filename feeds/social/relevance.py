"""Relevance and category of a post beyond its keyword match: a hand-written weighted lexicon,
plus how typical the post is of the current stream (``vocabulary.StreamVocabulary``).

Decision (see README "Social signal"): we ship a rule scorer whose terms and weights were
written for this project, not a model fitted on labelled tweets. The labelled sets available
(CrisisLex, HumAID) come with research-only or non-commercial terms and the X/Twitter terms;
a fitted model's vocabulary and weights are derived from that text, so it is not shipped
(``bench/social_learned_baseline.py`` measures what such a model would reach). Only the two
constants of ``related_decision`` were chosen with labels; ``bench/social_eval.py`` measures
the scorer per held-out event.

Single-word cues are looked up in the post's set of content words, phrases and words with
punctuation through one small automaton; each cue adds its weight to one or more groups:
- ``related``: evidence the post is about a crisis (hazards, damage, casualties, aid);
- the issue's categories (caution_advice, infrastructure_damage, injured_dead, missing_trapped,
  displaced_evacuating, needs_requests, donations_volunteering, sympathy), the strongest wins,
  ``other`` when none;
- map categories (the citizen report vocabulary used on the live map).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import ahocorasick

from feeds.social.rules import Match
from feeds.social.text import content_words, fold, is_word_char

CATEGORIES = ("caution_advice", "infrastructure_damage", "injured_dead", "missing_trapped", "displaced_evacuating",
              "needs_requests", "donations_volunteering", "sympathy", "other")
_DIGIT = re.compile(r"\d")
INFORMATIVE = frozenset(CATEGORIES) - {"sympathy", "other"}

# (terms, related weight, category, map category)
_CUES: list[tuple[str, float, str | None, str | None]] = [
    # hazards
    ("fire fires wildfire wildfires bushfire bushfires blaze blazes flames burning burned burnt ablaze "
     "incendio incendios incendie incendio incendi incendiu fuego fuoco fogo sunog", 1.2, None, "spot_fire"),
    ("smoke smoky haze hazy psi ash smog air quality pollution humo fumo fumaca usok", 0.8, None, "smoke"),
    ("flood floods flooding flooded floodwaters floodwater inundated submerged underwater overflow overflowing "
     "inundacion inundaciones alluvione alluvioni allagamenti esondazione enchente enchentes inondation baha "
     "bumaha", 1.2, None, "flooding"),
    ("earthquake earthquakes quake quakes tremor tremors aftershock aftershocks magnitude richter terremoto sismo "
     "temblor sismo sismos scossa scosse seisme lindol gempa", 1.3, None, "damage"),
    ("tornado tornadoes twister hurricane hurricanes typhoon cyclone storm storms windstorm tropical depression "
     "landslide landslides mudslide tsunami volcano eruption meteor meteorite meteorito lightning hail blizzard "
     "bagyo tifon tifone huracan uragano tempesta tormenta frana deslizamiento", 1.1, None, None),
    ("explosion explosions explode exploded blast blasts bomb bombs bombing bombings bomber explosives "
     "shooting gunman attack attacks terror terrorist explosion explosiones explosion esplosione explosao "
     "explosao bomba", 1.1, None, "damage"),
    ("crash crashed derailed derailment derail collision wreck wreckage train crash plane crash helicopter "
     "refinery refineria raffineria accidente incidente incidente descarrilamiento descarrilo deragliamento "
     "choque acidente", 1.0, None, "damage"),
    ("emergency emergencies disaster disasters crisis catastrophe tragedy tragic state of emergency "
     "first responders firefighters firefighter paramedics police emergencia emergenza desastre disastro "
     "tragedia catastrofe bomberos pompieri bombeiros sakuna", 0.8, None, None),
    # categories
    ("warning warnings alert alerts advisory watch stay safe be safe stay away avoid caution beware "
     "precaution forecast bulletin update updates signal no 1 signal no 2 pagasa nws shelter in place "
     "boil water do not drink", 0.9, "caution_advice", None),
    ("damage damaged damages destroyed destruction collapse collapsed collapses building buildings bridge bridges "
     "road closed roads closed closure closures blocked power outage outages power out without power no power "
     "power lines downed lines blackout infrastructure water main gas leak debris outage power is out lost power "
     "wires sparks", 1.0, "infrastructure_damage",
     "damage"),
    ("road closed roads closed blocked road tree down trees down downed tree detour impassable closed lane", 0.6,
     "infrastructure_damage", "blocked_road"),
    ("dead death deaths died dies killed kill kills killing casualties casualty fatalities fatality toll "
     "death toll body bodies injured injuries injury wounded hurt hospital hospitalized victims victim "
     "muertos muerto heridos herido fallecidos victimas morti morto feriti vittime mortos feridos vitimas "
     "patay sugatan nasawi", 1.3, "injured_dead", "needs_help"),
    ("missing trapped stranded buried rubble search and rescue rescued rescue rescuers unaccounted "
     "whereabouts desaparecidos dispersi desaparecidos atrapados rescate soccorsi resgate", 1.2,
     "missing_trapped", "needs_help"),
    ("evacuate evacuated evacuating evacuation evacuations evacuees evacuee displaced homeless shelter shelters "
     "relocated fled fleeing refugees evacuation centre evacuation center evacuados evacuati sfollati "
     "desalojados desabrigados evacuees lumikas", 1.2, "displaced_evacuating",
     "needs_help"),
    ("need needs needed help urgent urgently please send request requests supplies food water medicine "
     "sos stuck ayuda aiuto ajuda tulong", 0.5, "needs_requests", "needs_help"),
    ("donate donated donating donation donations volunteer volunteers volunteering relief fund fundraiser "
     "fundraising red cross aid text redcross blood drive give relief goods relief efforts raise funds donaciones "
     "donazioni doacoes cruz roja croce rossa",
     1.0, "donations_volunteering", None),
    ("pray praying prayers prayer thoughts thoughts and prayers condolences rip r.i.p heartbreaking "
     "heartbroken hearts go out sympathy sympathies solidarity stay strong strong god bless prayfor "
     "pray for fuerza forza forca dasal", 0.9, "sympathy", None),
    # clearly everyday talk lowers relevance
    ("lol lmao haha hahaha birthday party movie album song game concert vacation bored lunch dinner "
     "breakfast", -0.6, None, None),
]
_PHRASES = {"state of emergency", "first responders", "boil water", "do not drink", "shelter in place",
            "road closed", "roads closed", "power outage", "without power", "no power", "power lines",
            "power out", "downed lines", "water main", "gas leak", "death toll", "search and rescue",
            "evacuation centre", "evacuation center", "relief fund", "red cross", "blood drive", "relief goods",
            "relief efforts", "raise funds", "thoughts and prayers", "hearts go out", "stay strong", "god bless",
            "pray for", "stay safe", "be safe", "stay away", "tropical depression", "train crash",
            "plane crash", "blocked road", "tree down", "trees down", "downed tree", "signal no 1",
            "signal no 2", "power is out", "lost power"}


@dataclass(frozen=True)
class Assessment:
    """Relevance decision of one post. ``score`` is 0..1."""

    related: bool
    informative: bool
    score: float
    category: str
    map_category: str
    lexical: float = 0.0
    typicality: float = 0.0
    substantive: bool = False  # says something factual (a category other than sympathy/other, or a
    # hazard with a number or a link): informative = related and substantive


# The related decision: lexical score (0..1) + TYPICALITY_WEIGHT x stream typicality >= RELATED_AT.
# Both constants were chosen by bench/social_eval.py (grid over CrisisLexT26 + T6 events; the
# figures it prints are for each event with the constants chosen on the other events). They are
# two numbers, not a model: nothing of the labelled text is in the project.
TYPICALITY_WEIGHT = 1.25
RELATED_AT = 0.475
STRONG_AT = 0.5  # lexical evidence alone this strong teaches the stream vocabulary


def related_decision(lexical: float, typicality: float, *, weight: float = TYPICALITY_WEIGHT,
                     at: float = RELATED_AT) -> bool:
    """Whether a post with this lexical score and stream typicality (both 0..1) is related."""
    return lexical + weight * typicality >= at


def lexically_strong(a: Assessment) -> bool:
    """Lexical evidence alone is strong enough to learn the event's vocabulary from the post."""
    return a.lexical >= STRONG_AT


Entries = tuple[tuple[float, str | None, str | None], ...]


@lru_cache(maxsize=1)
def _cues() -> tuple[dict[str, Entries], ahocorasick.Automaton]:
    """Single-word cues (looked up in a post's set of content words) and an automaton for the
    rest (phrases, words with punctuation or stop words), each term with its entries."""
    cues: dict[str, list[tuple[float, str | None, str | None]]] = {}
    for terms, weight, category, map_category in _CUES:
        phrases = [p for p in _PHRASES if f" {p} " in f" {terms} "]
        rest = f" {terms} "
        for p in phrases:
            rest = rest.replace(f" {p} ", " ")
        for term in dict.fromkeys(phrases + rest.split()):
            cues.setdefault(fold(term), []).append((weight, category, map_category))
    single = {t: tuple(e) for t, e in cues.items() if content_words(t) == [t]}
    a = ahocorasick.Automaton()
    for term, entries in cues.items():
        if term not in single:
            a.add_word(term, (len(term), tuple(entries)))
    a.make_automaton()
    return single, a


def assess(match: Match, *, typicality: float = 0.0, words: set[str] | None = None) -> Assessment:
    """Relevance, informativeness, score and category of a post from its rule ``match`` (which
    carries the folded text, hashtags split) and its ``typicality`` of the current stream
    (``vocabulary.StreamVocabulary``; 0 when unknown). ``words``: the distinct content words of
    ``match.text`` when the caller has them already.

    The lexical evidence adds cue weights (each cue counted once), 1.0 per keyword or hashtag
    the operator listed and 0.4 per default-lexicon term (at most three rule terms count),
    squashed to 0..1 as ``lexical = total / (total + 1)``; ``related_decision`` adds the weighted
    typicality. ``score`` is that sum capped at 1. ``informative`` needs ``related`` and either a
    category other than sympathy/other, or a hazard named together with a number or a link (a
    magnitude, a count, a time, a source)."""
    folded = match.text
    n = len(folded)
    operator = min(3, match.operator_hits)
    total = 1.0 * operator + 0.4 * min(3 - operator, len(match.keywords) + len(match.hashtags) - match.operator_hits)
    hazards = 0
    category_weight: dict[str, float] = {}
    map_weight: dict[str, float] = {}
    single, phrases = _cues()
    hits: list[Entries] = [single[w] for w in (set(content_words(folded)) if words is None else words)
                           if w in single]
    seen: set[str] = set()
    for end, (length, entries) in phrases.iter(folded):
        start = end - length + 1
        if (start > 0 and is_word_char(folded[start - 1])) or (end + 1 < n and is_word_char(folded[end + 1])):
            continue
        key = folded[start:end + 1]
        if key not in seen:
            seen.add(key)
            hits.append(entries)
    for entries in hits:
        for weight, category, map_category in entries:
            total += weight
            hazards += category is None and weight > 0
            if category:
                category_weight[category] = category_weight.get(category, 0.0) + weight
            if map_category:
                map_weight[map_category] = map_weight.get(map_category, 0.0) + abs(weight)
    lexical = total / (total + 1.0) if total > 0 else 0.0
    related = related_decision(lexical, typicality)
    category = max(category_weight, key=category_weight.__getitem__) if category_weight else "other"
    map_category = max(map_weight, key=map_weight.__getitem__) if map_weight else "other"
    score = min(1.0, lexical + TYPICALITY_WEIGHT * typicality)
    factual = category in INFORMATIVE or (hazards > 0 and ("http" in folded or _DIGIT.search(folded) is not None))
    substantive = category != "sympathy" and factual
    return Assessment(related=related, informative=related and substantive, score=round(score, 3),
                      category=category, map_category=map_category, lexical=lexical, typicality=typicality,
                      substantive=substantive)
