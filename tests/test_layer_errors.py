"""Every bad input to a recurrent layer is a ValueError that names the argument, what was expected
and what was given."""

import pytest
import torch

import rnnkit


@pytest.fixture
def lstm():
    return rnnkit.LSTM(3, 4, num_layers=2)


def test_wrong_rank_suggests_unsqueeze(lstm):
    with pytest.raises(ValueError, match=r"x must be 3-D \(batch, time, features\) = \(B, T, 3\); got shape \(5, 3\)\. .*unsqueeze\(0\)"):
        lstm(torch.randn(5, 3))


def test_wrong_feature_size(lstm):
    with pytest.raises(ValueError, match=r"x must have 3 features \(the layer's input_size\).*got shape \(2, 5, 7\)"):
        lstm(torch.randn(2, 5, 7))


def test_integer_input(lstm):
    with pytest.raises(ValueError, match="x must be a floating-point tensor; got dtype torch.int64"):
        lstm(torch.ones(2, 5, 3, dtype=torch.long))


def test_input_dtype_differs_from_parameters(lstm):
    with pytest.raises(ValueError, match="x has dtype torch.float64 but the layer's parameters have dtype torch.float32"):
        lstm(torch.randn(2, 5, 3, dtype=torch.float64))


def test_state_of_wrong_shape(lstm):
    bad = (torch.zeros(2, 3, 4), torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match=r"state.h must have shape \(2, 2, 4\) = \(num_layers \* num_directions, batch, hidden_size\); got \(2, 3, 4\)"):
        lstm(torch.randn(2, 5, 3), bad)


def test_lstm_state_must_be_a_pair(lstm):
    with pytest.raises(ValueError, match=r"state must be an \(h, c\) pair for an LSTM"):
        lstm(torch.randn(2, 5, 3), torch.zeros(2, 2, 4))


def test_gru_state_of_wrong_shape():
    with pytest.raises(ValueError, match=r"state must have shape \(1, 2, 4\).*got \(2, 4\)"):
        rnnkit.GRU(3, 4)(torch.randn(2, 5, 3), torch.zeros(2, 4))


def test_state_dtype_mismatch():
    with pytest.raises(ValueError, match="state has dtype torch.float64 but x has dtype torch.float32"):
        rnnkit.RNN(3, 4)(torch.randn(2, 5, 3), torch.zeros(1, 2, 4, dtype=torch.float64))


def test_state_device_mismatch():
    x = torch.randn(2, 5, 3)
    with pytest.raises(ValueError, match="state is on meta but x is on cpu"):
        rnnkit.RNN(3, 4)(x, torch.zeros(1, 2, 4, device="meta"))


@pytest.mark.parametrize(
    "lengths, message",
    [
        (torch.tensor([5, 6]), r"lengths must lie in 0\.\.5 .*got a length of 6"),
        (torch.tensor([-1, 2]), r"lengths must lie in 0\.\.5 .*got a length of -1"),
        (torch.tensor([5, 2, 1]), r"lengths must have shape \(2,\), one length per batch row; got shape \(3,\)"),
        (torch.tensor([5.0, 2.0]), r"lengths must hold integers; got dtype torch.float32"),
        ("five", r"lengths must"),
    ],
)
def test_bad_lengths(lengths, message):
    with pytest.raises(ValueError, match=message):
        rnnkit.GRU(3, 4)(torch.randn(2, 5, 3), lengths=lengths)


def test_lengths_as_a_list_are_accepted():
    ys, _ = rnnkit.GRU(3, 4)(torch.randn(2, 5, 3), lengths=[5, 2])
    assert torch.all(ys[1, 2:] == 0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"hidden_size": 0}, "hidden_size must be a positive integer; got 0"),
        ({"num_layers": 0}, "num_layers must be a positive integer; got 0"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\); got 1.0"),
        ({"nonlinearity": "gelu"}, "nonlinearity must be one of"),
    ],
)
def test_bad_configuration(kwargs, message):
    with pytest.raises(ValueError, match=message):
        rnnkit.RNN(**{"input_size": 3, "hidden_size": 4, **kwargs})
