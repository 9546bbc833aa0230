"""Text normalisation for matching: NFKC, case folding, optional accent folding, hashtag splitting.

Everything that compares words (rules, relevance, dedup) goes through ``fold`` so that
"ＦＩＲＥ", "Fire" and "fire" are one word, and optionally "évacuation" and "evacuation" too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

HASHTAG = re.compile(r"#(\w+)")
URL = re.compile(r"https?://\S+|www\.\S+")
MENTION = re.compile(r"@[\w.\-]+")
WORD = re.compile(r"\w+")
_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
STOPWORDS = frozenset(
    "a about all am an and are as at be but by can do for from get got had has have he her his i if in into is it its "
    "just me my no not now of off on or our out she so than that the their them then there they this to too up us "
    "was we were what when who will with would you your rt".split())
MAX_HASHTAG = 60  # longer hashtags are not segmented (cost grows with length x longest word)


def fold(text: str, accents: bool = True) -> str:
    """NFKC, case-folded; with ``accents`` also stripped of combining marks ("é" -> "e")."""
    text = unicodedata.normalize("NFKC", text).casefold()
    if accents and not text.isascii():
        text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
        text = unicodedata.normalize("NFC", text)
    return text


def is_word_char(c: str) -> bool:
    """Letters, digits and underscore: what a word boundary separates."""
    return c.isalnum() or c == "_"


def words(text: str) -> list[str]:
    """The words of already-folded text."""
    return WORD.findall(text)


def hashtags(text: str) -> list[str]:
    """Hashtag bodies as written (without '#'), in order."""
    return HASHTAG.findall(text)


@lru_cache(maxsize=65_536)
def split_hashtag(tag: str, vocabulary: frozenset[str], longest: int) -> str:
    """A hashtag as words: at case changes and digits first ("NSWFires" -> "nsw fires"), then
    each part segmented into ``vocabulary`` words where it can be ("nswfires" -> "nsw fires"
    when "nsw" and "fires" are known). Unknown stretches stay as they are. Returns folded text."""
    parts = _CAMEL.findall(tag) or [tag]
    out: list[str] = []
    for part in parts:
        part = fold(part)
        out.extend(_segment(part, vocabulary, longest) if len(part) <= MAX_HASHTAG else [part])
    return " ".join(out)


def _segment(s: str, vocabulary: frozenset[str], longest: int) -> list[str]:
    """Split ``s`` into known words, minimising (unknown characters, pieces); dynamic programming."""
    n = len(s)
    best: list[tuple[int, int, int]] = [(0, 0, 0)] + [(n + 1, n + 1, 0)] * n  # (unknown chars, pieces, start)
    for end in range(1, n + 1):
        unk, pieces, _ = best[end - 1]
        candidate = (unk + 1, pieces + 1, end - 1)  # one unknown character
        for start in range(max(0, end - longest), end):
            if s[start:end] in vocabulary:
                u, p, _ = best[start]
                if (u, p + 1) < candidate[:2]:
                    candidate = (u, p + 1, start)
        best[end] = candidate
    # walk back, merging runs of unknown characters into one piece
    pieces: list[str] = []
    end = n
    while end > 0:
        start = best[end][2]
        word = s[start:end]
        if word not in vocabulary and pieces and pieces[-1] not in vocabulary and len(word) == 1:
            pieces[-1] = word + pieces[-1]
        else:
            pieces.append(word)
        end = start
    return pieces[::-1]


def vocabulary_of(terms: Iterable[str]) -> frozenset[str]:
    """Every word in ``terms`` (already folded): the dictionary hashtags are split with."""
    return frozenset(w for t in terms for w in words(t) if len(w) > 1)


_CONTENT = re.compile(r"https?://\S+|www\.\S+|@[\w.\-]+|(\w+)")  # URLs and mentions match as ''
_SKIP = STOPWORDS | {""}


def content_words(folded: str) -> list[str]:
    """The words of already-folded text without URLs, @mentions and stop words, in order (one
    regular-expression pass)."""
    return [w for w in _CONTENT.findall(folded) if w not in _SKIP]
