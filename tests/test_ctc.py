"""CTC: the loss wrapper (one transpose, log-softmax inside, zeroed infeasible pairs), greedy
decoding, prefix beam search (beam 1 == greedy on peaky posteriors, and a counter-example where they
are not; a wide beam finds the most
probable labelling by brute force; shallow fusion moves the result), and Viterbi alignment (its path
is the best path yielding the tokens, checked by brute force)."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from rnnkit.models.ctc import align, beam_search, collapse, forced_align, greedy_decode, min_frames, word_spans
from rnnkit.training.losses import ctc_loss


def test_loss_transposes_a_batch_first_tensor_with_batch_equal_to_time():
    torch.manual_seed(1)
    logits = torch.randn(5, 5, 4, requires_grad=True)  # B == T: a missed transpose would not raise
    lengths, targets, target_lengths = torch.tensor([5, 4, 5, 3, 5]), torch.randint(1, 4, (5, 2)), torch.tensor([2, 1, 2, 1, 0])
    ours = ctc_loss(logits, lengths, targets, target_lengths)
    log_probs = logits.log_softmax(-1).transpose(0, 1)
    reference = F.ctc_loss(log_probs, targets, lengths, target_lengths, reduction="sum") / 5
    torch.testing.assert_close(ours, reference)
    untransposed = F.ctc_loss(logits.log_softmax(-1), targets, lengths, target_lengths, reduction="sum", zero_infinity=True) / 5
    assert not torch.isclose(ours, untransposed)
    ours.backward()
    assert torch.isfinite(logits.grad).all()


def test_loss_applies_log_softmax_itself():
    logits, lengths = torch.randn(2, 6, 5), torch.tensor([6, 4])
    targets, target_lengths = torch.tensor([[1, 2], [3, 0]]), torch.tensor([2, 1])
    torch.testing.assert_close(ctc_loss(logits, lengths, targets, target_lengths), ctc_loss(logits + 7.0, lengths, targets, target_lengths))
    assert float(ctc_loss(logits, lengths, targets, target_lengths)) > 0


def test_an_infeasible_pair_is_zeroed_not_nan():
    logits = torch.randn(2, 3, 4, requires_grad=True)
    targets = torch.tensor([[1, 1, 2], [1, 2, 0]])  # row 0 needs 4 frames (a blank between the repeats)
    loss = ctc_loss(logits, torch.tensor([3, 3]), targets, torch.tensor([3, 2]))
    alone = ctc_loss(logits[1:], torch.tensor([3]), targets[1:, :2], torch.tensor([2]))
    torch.testing.assert_close(loss, alone / 2)
    loss.backward()
    assert torch.isfinite(logits.grad).all() and torch.all(logits.grad[0] == 0)


def test_min_frames_counts_repeats():
    assert min_frames([]) == 0 and min_frames([1, 2, 3]) == 3 and min_frames([1, 1, 2, 2, 2]) == 8


def test_greedy_collapses_repeats_and_drops_blanks():
    assert collapse([0, 3, 3, 0, 3, 1, 1, 0, 0, 2]) == [3, 3, 1, 2]
    scores = torch.full((2, 6, 4), -10.0)
    for b, path in enumerate([[1, 1, 0, 2, 2, 3], [0, 3, 0, 3, 1, 1]]):
        scores[b, torch.arange(6), torch.tensor(path)] = 0.0
    assert greedy_decode(scores) == [[1, 2, 3], [3, 3, 1]]
    assert greedy_decode(scores, torch.tensor([3, 4])) == [[1], [3, 3]]


def peaky(seed: int, steps: int, units: int, floor: float = 0.8) -> torch.Tensor:
    """Log-probabilities whose best id has probability >= `floor` at every frame."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(steps, units, generator=g)
    best = torch.randint(0, units, (steps,), generator=g)
    logits[torch.arange(steps), best] = logits.max(-1).values + math.log((units - 1) * floor / (1 - floor))
    return logits.log_softmax(-1)


@given(st.integers(0, 10_000), st.integers(1, 30), st.integers(2, 6))
def test_beam_one_equals_greedy_on_peaky_posteriors(seed, steps, units):
    log_probs = peaky(seed, steps, units)
    assert log_probs.exp().max(-1).values.min() >= 0.8 - 1e-6
    assert beam_search(log_probs, beam_size=1, token_min_prob=0.0, blank_skip=1.0)[0].tokens == greedy_decode(log_probs[None])[0]


def test_beam_one_keeps_the_most_probable_prefix_not_the_best_path():
    # after "a", p("a" ending in blank) and p("a" ending in a) are close; the last frame's best id is "a" (0.7):
    # greedy, on its path through the blank, emits a second "a"; the prefix "a" keeps more mass by staying
    log_probs = torch.log(torch.tensor([[0.45, 0.55], [0.55, 0.45], [0.3, 0.7]]))
    assert greedy_decode(log_probs[None])[0] == [1, 1]
    assert beam_search(log_probs, 1, token_min_prob=0.0, blank_skip=1.0)[0].tokens == [1]


def labelling_probabilities(log_probs: torch.Tensor) -> dict:
    """p(labelling) for every labelling, by summing all T^V paths."""
    probs = log_probs.exp().double()
    totals: dict = {}
    for path in itertools.product(range(probs.shape[1]), repeat=probs.shape[0]):
        p = float(torch.prod(probs[torch.arange(probs.shape[0]), torch.tensor(path)]))
        key = tuple(collapse(path))
        totals[key] = totals.get(key, 0.0) + p
    return totals


@pytest.mark.parametrize("seed", range(6))
def test_a_wide_beam_finds_the_most_probable_labelling(seed):
    g = torch.Generator().manual_seed(seed)
    log_probs = (torch.randn(6, 3, generator=g) * 1.5).log_softmax(-1)  # not peaky: paths really merge
    totals = labelling_probabilities(log_probs)
    best = max(totals, key=totals.get)
    result = beam_search(log_probs, beam_size=64, token_min_prob=0.0, blank_skip=1.0)
    assert tuple(result[0].tokens) == best
    assert math.isclose(result[0].score, math.log(totals[best]), rel_tol=1e-6)


class FavourToken:
    """A language model that strongly prefers one token after any prefix."""

    def __init__(self, token: int, units: int) -> None:
        self.token, self.units = token, units

    def logp(self, prefix, token):
        return math.log(0.9 if token == self.token else 0.1 / self.units)

    def end_logp(self, prefix):
        return math.log(0.1 / self.units)


def test_shallow_fusion_moves_the_result_and_weight_zero_ignores_the_lm():
    log_probs = torch.log(torch.tensor([[0.2, 0.45, 0.35], [0.9, 0.05, 0.05]]))
    lm = FavourToken(2, 3)
    assert beam_search(log_probs, 4)[0].tokens == [1]
    assert beam_search(log_probs, 4, lm=lm, lm_weight=0.0)[0].tokens == [1]
    assert beam_search(log_probs, 4, lm=lm, lm_weight=1.0)[0].tokens == [2]


def best_path_score(log_probs, tokens):
    steps, units = log_probs.shape
    best = -math.inf
    for path in itertools.product(range(units), repeat=steps):
        if collapse(path) == list(tokens):
            best = max(best, float(log_probs[torch.arange(steps), torch.tensor(path)].sum()))
    return best


@pytest.mark.parametrize("tokens", [[1], [1, 2], [2, 2], [1, 2, 1]])
def test_alignment_is_the_best_path_that_yields_the_tokens(tokens):
    log_probs = torch.randn(7, 3, generator=torch.Generator().manual_seed(len(tokens))).log_softmax(-1)
    spans = align(log_probs, tokens)
    assert len(spans) == len(tokens)
    path = [0] * 7
    for token, (start, end) in zip(tokens, spans):
        assert 0 <= start < end <= 7
        path[start:end] = [token] * (end - start)
    assert collapse(path) == tokens
    assert math.isclose(float(log_probs[torch.arange(7), torch.tensor(path)].sum()), best_path_score(log_probs, tokens), rel_tol=1e-5)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))


def test_alignment_refuses_too_few_frames():
    with pytest.raises(ValueError, match="3 frames cannot hold"):
        align(torch.randn(3, 4).log_softmax(-1), [1, 1, 2])
    assert align(torch.randn(3, 4).log_softmax(-1), []) == []


def test_word_spans_split_at_the_space():
    tokens, spans = [5, 6, 1, 7, 1, 8], [(0, 1), (1, 3), (3, 4), (4, 6), (6, 7), (8, 9)]
    assert word_spans(tokens, spans, separator=1) == [([5, 6], 0, 3), ([7], 4, 6), ([8], 8, 9)]
    assert word_spans([5, 6], [(0, 2), (3, 4)], separator=None) == [([5], 0, 2), ([6], 3, 4)]


@pytest.mark.parametrize("tokens", [[1], [2, 2], [1, 2, 1]])
def test_forced_align_gives_the_best_paths_log_probability(tokens):
    log_probs = torch.randn(6, 3, generator=torch.Generator().manual_seed(7 + len(tokens))).log_softmax(-1)
    alignment = forced_align(log_probs, tokens)
    assert alignment.spans == align(log_probs, tokens)
    assert math.isclose(alignment.log_prob, best_path_score(log_probs, tokens), rel_tol=1e-5)
    assert math.isclose(forced_align(log_probs, []).log_prob, float(log_probs[:, 0].sum()), rel_tol=1e-5)
