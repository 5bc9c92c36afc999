"""Gated recurrent unit cell (Cho et al. 2014), in torch's formulation (reset applied after W_hn)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.cells.base import RecurrentCell


def gru_step(xp: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None,
             recurrent_mask: Tensor | None = None):
    """One GRU step from projected input xp (B, 3H), gates in torch's order r, z, n; `recurrent_mask`
    (B, H) multiplies the h_{t-1} that W_hh sees (recurrent dropout), not the one z carries over."""
    hp = F.linear(h if recurrent_mask is None else h * recurrent_mask, weight_hh, bias_hh)  # (B, 3H)
    x_r, x_z, x_n = xp.chunk(3, dim=1)
    h_r, h_z, h_n = hp.chunk(3, dim=1)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    h = n + z * (h - n)  # (1 - z) * n + z * h
    return h, h


class GRUCell(RecurrentCell):
    """GRU step, parameters and gate order (r, z, n) as torch.nn.GRUCell.

        r = σ(W_ir x + b_ir + W_hr h + b_hr)
        z = σ(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h_t = (1 - z) * n + z * h_{t-1}

    Shapes: x (B, I), state h (B, H) -> (h_t (B, H), h_t).

    >>> cell = GRUCell(3, 5)
    >>> h, state = cell(torch.randn(2, 3))
    >>> h.shape
    torch.Size([2, 5])
    """

    num_gates = 3

    def step(self, xp, state, weight_hh, bias_hh):
        return gru_step(xp, state, weight_hh, bias_hh)
