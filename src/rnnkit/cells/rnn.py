"""Elman's simple recurrent network cell (Elman 1990), with tanh or ReLU."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.cells.base import RecurrentCell

ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu}


def rnn_step(xp: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None, nonlinearity: str = "tanh",
             recurrent_mask: Tensor | None = None):
    """h' = act(xp + (h * recurrent_mask) W_hh^T + b_hh); returns (h', h')."""
    hh = h if recurrent_mask is None else h * recurrent_mask
    h = ACTIVATIONS[nonlinearity](xp + F.linear(hh, weight_hh, bias_hh))
    return h, h


class RNNCell(RecurrentCell):
    """Vanilla RNN step, parameters as torch.nn.RNNCell.

        h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),   act = tanh or relu

    Shapes: x (B, I), state h (B, H) -> (h_t (B, H), h_t).

    >>> cell = RNNCell(3, 5)
    >>> h, state = cell(torch.randn(2, 3))
    >>> h.shape
    torch.Size([2, 5])
    """

    num_gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh") -> None:
        if nonlinearity not in ACTIVATIONS:
            raise ValueError(f"nonlinearity must be one of {sorted(ACTIVATIONS)}; got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias)

    def step(self, xp, state, weight_hh, bias_hh):
        return rnn_step(xp, state, weight_hh, bias_hh, self.nonlinearity)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", nonlinearity={self.nonlinearity!r}"
