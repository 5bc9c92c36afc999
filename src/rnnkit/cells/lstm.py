"""Long short-term memory cell (Hochreiter & Schmidhuber 1997; forget gate: Gers et al. 2000)."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.cells.base import RecurrentCell


class LSTMState(NamedTuple):
    """LSTM state: hidden h and cell c. A plain tuple too, so torch.nn.LSTM accepts it as (h, c)."""

    h: Tensor
    c: Tensor


def lstm_step(xp: Tensor, state: LSTMState, weight_hh: Tensor, bias_hh: Tensor | None,
              recurrent_mask: Tensor | None = None, weight_hr: Tensor | None = None):
    """One LSTM step from projected input xp (B, 4H), gates in torch's order i, f, g, o;
    `recurrent_mask` (B, h size) multiplies the h_{t-1} that W_hh sees (recurrent dropout); with
    `weight_hr` (P, H) h is projected to P (torch.nn.LSTM's proj_size)."""
    h, c = state
    gates = xp + F.linear(h if recurrent_mask is None else h * recurrent_mask, weight_hh, bias_hh)  # (B, 4H)
    i, f, g, o = gates.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    if weight_hr is not None:
        h = F.linear(h, weight_hr)
    return h, LSTMState(h, c)


class LSTMCell(RecurrentCell):
    """LSTM step, parameters and gate order (i, f, g, o) as torch.nn.LSTMCell.

        i, f, g, o = σ(W_i·), σ(W_f·), tanh(W_g·), σ(W_o·)   applied to x_t and h_{t-1}
        c_t = f * c_{t-1} + i * g
        h_t = o * tanh(c_t)

    Shapes: x (B, I), state LSTMState(h (B, H), c (B, H)) -> (h_t (B, H), LSTMState(h_t, c_t)).

    >>> cell = LSTMCell(3, 5)
    >>> h, (h, c) = cell(torch.randn(2, 3))
    >>> c.shape
    torch.Size([2, 5])
    """

    num_gates = 4

    def init_state(self, batch_size: int, *, device=None, dtype=None) -> LSTMState:
        zeros = super().init_state(batch_size, device=device, dtype=dtype)
        return LSTMState(zeros, torch.zeros_like(zeros))

    def step(self, xp, state, weight_hh, bias_hh):
        return lstm_step(xp, state, weight_hh, bias_hh)

    def forward(self, x: Tensor, state=None):
        if state is not None:
            state = LSTMState(*state)
        return super().forward(x, state)
