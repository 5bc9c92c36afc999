"""The Kneser-Ney n-gram model: a distribution over the next token (and the end) after any prefix,
seen or unseen; a hand-computed bigram probability; JSON round trip; lower perplexity on the text it
was estimated from than on shuffled text."""

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnkit.models.ngram import NGramModel

sentences = st.lists(st.lists(st.integers(1, 5), max_size=8), min_size=1, max_size=12).filter(lambda s: any(s))


@given(sentences, st.integers(1, 4), st.lists(st.integers(1, 6), max_size=5))
def test_probabilities_sum_to_one_after_any_prefix(corpus, order, prefix):
    lm = NGramModel.fit(corpus, order=order, vocab_size=7)
    total = sum(math.exp(lm.logp(prefix, token)) for token in range(7))  # 0 is the end of the sentence
    assert math.isclose(total, 1.0, rel_tol=1e-9)


def test_a_bigram_probability_by_hand():
    lm = NGramModel.fit([[1, 2], [1, 3]], order=2, vocab_size=4, discount=0.5)
    # after 1: counts {2: 1, 3: 1}, total 2, 2 distinct; continuation counts of 2: one left context (1)
    # unigram continuation: bigram types (S,1) (1,2) (2,E) (1,3) (3,E): N(.2) = 1 of 5 types, 4 distinct tokens
    unigram_2 = (1 - 0.5) / 5 + 0.5 * 4 / 5 * 1 / 4
    expected = (1 - 0.5) / 2 + 0.5 * 2 / 2 * unigram_2
    assert math.isclose(math.exp(lm.logp([1], 2)), expected, rel_tol=1e-12)


def test_json_round_trip_and_perplexity():
    rng = random.Random(0)
    text = [[1, 2, 3, 4] * rng.randint(1, 3) for _ in range(40)]
    lm = NGramModel.fit(text, order=3, vocab_size=6)
    again = NGramModel.from_dict(lm.to_dict())
    assert again.perplexity(text) == lm.perplexity(text)
    shuffled = [rng.sample(s, len(s)) for s in text]
    assert lm.perplexity(text) < 2.0 < lm.perplexity(shuffled)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="non-empty"):
        NGramModel.fit([[], []])
    with pytest.raises(ValueError, match="token ids must lie"):
        NGramModel.fit([[0, 1]], vocab_size=3)
    with pytest.raises(ValueError, match="not an rnnkit n-gram"):
        NGramModel.from_dict({"kind": "arpa"})
