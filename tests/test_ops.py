"""The pure tensor functions: the generic time loop with any step, length masks and checks."""

import pytest
import torch

from rnnkit.ops import check_lengths, length_mask, map_state, masked_softmax, unroll


def _running_sum(x_t, state):
    total = state + x_t
    return total, total


def test_unroll_with_a_custom_step_and_lengths():
    x = torch.arange(1.0, 13.0).view(2, 6, 1)
    lengths = torch.tensor([6, 3])
    ys, final = unroll(_running_sum, x, torch.zeros(2, 1), lengths)
    torch.testing.assert_close(ys[:, :, 0], torch.tensor([[1, 3, 6, 10, 15, 21], [7, 15, 24, 0, 0, 0]]).float())
    torch.testing.assert_close(final[:, 0], torch.tensor([21.0, 24.0]))


def test_unroll_reverse_starts_at_each_last_valid_step():
    x = torch.arange(1.0, 13.0).view(2, 6, 1)
    ys, final = unroll(_running_sum, x, torch.zeros(2, 1), torch.tensor([6, 3]), reverse=True)
    torch.testing.assert_close(ys[:, :, 0], torch.tensor([[21, 20, 18, 15, 11, 6], [24, 17, 9, 0, 0, 0]]).float())
    torch.testing.assert_close(final[:, 0], torch.tensor([21.0, 24.0]))


def test_unroll_carries_named_tuple_states():
    from rnnkit.cells import LSTMState

    def step(x_t, state):
        return state.h + x_t, LSTMState(state.h + x_t, state.c + 1)

    state = LSTMState(torch.zeros(1, 1), torch.zeros(1, 1))
    _, final = unroll(step, torch.ones(1, 4, 1), state, torch.tensor([2]))
    assert isinstance(final, LSTMState)
    assert final.h.item() == 2 and final.c.item() == 2


def test_length_mask():
    assert length_mask(torch.tensor([2, 0, 3]), 3).tolist() == [[True, True, False], [False] * 3, [True] * 3]


def test_check_lengths_accepts_lists_and_returns_int64():
    assert check_lengths([1, 2], 2, 4).dtype == torch.int64


def test_check_lengths_names_the_argument():
    with pytest.raises(ValueError, match="src_lengths must lie in 0..4"):
        check_lengths(torch.tensor([5]), 1, 4, name="src_lengths")


def test_masked_softmax_gives_exact_zeros_and_sums_to_one():
    weights = masked_softmax(torch.randn(2, 3, 5), torch.tensor([5, 2]))
    assert torch.all(weights[1, :, 2:] == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3))


def test_map_state_keeps_the_type():
    from rnnkit.cells import LSTMState

    doubled = map_state(lambda t: 2 * t, LSTMState(torch.ones(1), torch.ones(1)))
    assert isinstance(doubled, LSTMState) and doubled.c.item() == 2
