"""WER, CER and SER: corpus-level (total edits over total reference length), substitution /
deletion / insertion counts, empty references as jiwer defines them, and jiwer's figures on random
strings (jiwer is in the dev extra; skipped without it)."""

import random

import pytest

from rnnkit.training.metrics import align_edits, error_rates


def test_rates_are_corpus_level():
    rates = error_rates(["one two", "a b c d e f g h"], ["one", "a b c d e f g h"])
    assert rates["wer"] == pytest.approx(1 / 10) and rates["ser"] == 0.5
    assert (rates["words"], rates["word_deletions"], rates["sentence_errors"]) == (10, 1, 1)


def test_edit_counts_and_matches():
    edits = align_edits("the cat sat down".split(), "a cat sat on down now".split())
    assert (edits.substitutions, edits.deletions, edits.insertions, edits.hits) == (1, 0, 2, 3)
    assert edits.matches == [(1, 1), (2, 2), (3, 4)]
    assert align_edits([], ["x"]).insertions == 1 and align_edits(["x"], []).deletions == 1


def test_characters_count_spaces_and_empty_references():
    assert error_rates(["ab cd"], ["ab  cd"])["cer"] == 0.0  # whitespace is normalised
    assert error_rates(["ab cd"], ["abcd"])["cer"] == pytest.approx(1 / 5)
    assert error_rates([""], ["one two"])["wer"] == 2.0 and error_rates([""], [""])["wer"] == 0.0
    with pytest.raises(ValueError, match="2 references but 1"):
        error_rates(["a", "b"], ["a"])


def test_rates_equal_jiwer_on_random_strings():
    jiwer = pytest.importorskip("jiwer")
    rng = random.Random(0)
    words = ["a", "b", "cc", "ddd", "e"]
    for _ in range(20):
        refs = [" ".join(rng.choices(words, k=rng.randint(1, 7))) for _ in range(rng.randint(1, 6))]
        hyps = [" ".join(rng.choices(words, k=rng.randint(0, 7))) for _ in refs]
        rates = error_rates(refs, hyps)
        assert rates["wer"] == pytest.approx(jiwer.wer(refs, hyps))
        assert rates["cer"] == pytest.approx(jiwer.cer(refs, hyps))
        measures = jiwer.process_words(refs, hyps)
        assert rates["word_substitutions"] + rates["word_deletions"] + rates["word_insertions"] == (
            measures.substitutions + measures.deletions + measures.insertions)
