"""The one language negotiation of the public pages and citizen messages."""

import pytest

from emergency.i18n import negotiate, preferences, translate

CATALOGUE = {"en": {"hello": "Hello {name}", "bye": "Bye"}, "es": {"hello": "Hola {name}"}}


def test_the_best_supported_language_wins_by_quality_not_by_order():
    assert negotiate("fr;q=1, es-MX;q=0.8, en;q=0.5") == "es"
    assert negotiate("en;q=0.2, ko-KR") == "ko"


def test_nothing_matching_absent_or_malformed_falls_back_to_english():
    assert negotiate(None) == "en"
    assert negotiate("") == "en"
    assert negotiate("de, fr") == "en"
    assert negotiate("\x00;;q=zz, ,,") == "en"


def test_q_zero_refuses_a_language():
    assert negotiate("es;q=0, ko;q=0.1") == "ko"


def test_an_explicit_preference_list_is_used_as_given():
    assert negotiate(["ko-KR", "es"]) == "ko"


def test_preferences_are_ordered_and_bounded():
    assert preferences("a;q=0.1, b, c;q=0.5") == ["b", "c", "a"]
    assert len(preferences(",".join(["en"] * 1000))) == 30


def test_translate_falls_back_to_english_and_formats():
    assert translate(CATALOGUE, "hello", "es", name="Ana") == "Hola Ana"
    assert translate(CATALOGUE, "bye", "ko") == "Bye"
    with pytest.raises(KeyError):
        translate(CATALOGUE, "missing", "en")
