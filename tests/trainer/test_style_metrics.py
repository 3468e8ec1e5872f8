"""Style metrics: each metric on hand-checked texts, and the score ranks the owner's voice first."""

from __future__ import annotations

import pytest

from tuneforge.services.trainer.style_metrics import (
    Reply,
    chrf,
    closeness,
    distinct_n,
    dominant_script,
    reference_metrics,
    side_metrics,
)

OWNER = ["Sure thing, mate! Cheers, Bob 🙂", "No worries, mate! Cheers, Bob 🙂",
         "Will do, mate! Cheers, Bob 🙂"]


def test_identical_replies_score_one():
    metrics = side_metrics([Reply(t, t) for t in OWNER])
    assert metrics["style_score"] == pytest.approx(1.0, abs=1e-3)
    assert metrics["chrf"] == pytest.approx(1.0) and metrics["length_ratio"] == pytest.approx(1.0)


def test_owner_style_scores_higher_than_a_generic_reply():
    owner_like = side_metrics([Reply("Great idea, mate! Cheers, Bob 🙂", ref) for ref in OWNER])
    generic = side_metrics([Reply("I am an AI language model and cannot help with that request",
                                  ref, stopped=False) for ref in OWNER])
    assert owner_like["style_score"] > generic["style_score"] + 0.3


def test_length_ratio_is_reply_over_reference_in_characters():
    assert side_metrics([Reply("abcd", "ab")])["length_ratio"] == pytest.approx(2.0)


def test_emoji_and_punctuation_rates_are_per_100_non_space_characters():
    metrics = side_metrics([Reply("ab, c🙂", "x")])  # 5 non-space characters: 1 emoji, 1 mark
    assert metrics["emoji_rate"] == pytest.approx(20.0)
    assert metrics["punctuation_rate"] == pytest.approx(20.0)


def test_script_match_compares_the_dominant_script_of_each_pair():
    metrics = side_metrics([Reply("Привет, друг", "Hello friend"), Reply("Hi there", "Hello")])
    assert metrics["script_match"] == pytest.approx(0.5)
    assert dominant_script("Привет hi") == "CYRILLIC" and dominant_script("123 !") is None
    assert dominant_script("你好") == "HAN"


def test_distinct_n_counts_unique_word_ngrams():
    assert distinct_n(["a a a a"], 1) == pytest.approx(0.25)
    assert distinct_n(["a b", "a b"], 2) == pytest.approx(0.5)
    assert distinct_n([""], 2) == 0.0


def test_stop_rate_is_the_share_of_replies_that_stopped():
    replies = [Reply("a", "a", stopped=True), Reply("a", "a", stopped=False)]
    assert side_metrics(replies)["stop_rate"] == pytest.approx(0.5)


def test_chrf_is_one_for_equal_text_and_zero_for_disjoint():
    assert chrf("Cheers, Bob", "Cheers, Bob") == pytest.approx(1.0)
    assert chrf("xyz", "abc") == 0.0
    assert 0 < chrf("Cheers, Bob", "Cheers, Alice") < 1


def test_closeness_of_rates():
    assert closeness(0, 0) == 1.0 and closeness(2, 4) == pytest.approx(0.5)


def test_reference_metrics_describe_the_owner():
    owner = reference_metrics(OWNER)
    assert owner["emoji_rate"] > 0 and owner["mean_length"] == pytest.approx(
        sum(map(len, OWNER)) / 3)


def test_no_replies_is_an_error():
    with pytest.raises(ValueError):
        side_metrics([])
