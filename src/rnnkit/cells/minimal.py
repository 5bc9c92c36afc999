"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"): gates that see the input only, so
the recurrence is linear in h, h_t = a_t * h_{t-1} + b_t, and a whole sequence is one parallel scan
(`ops.scan.linear_scan`); streaming runs the same recurrence one step at a time.

    minGRU:  z = σ(W_z x + b_z),  h~ = W_h x + b_h,                 h_t = (1 - z) * h_{t-1} + z * h~
    minLSTM: f = σ(W_f x + b_f),  i = σ(W_i x + b_i),  h~ = W_h x + b_h,
             f' = f / (f + i),  i' = i / (f + i),                     h_t = f' * h_{t-1} + i' * h~

These are the paper's sequential definitions (its sections 3.1.3 and 3.2.3). The paper's log-space
variant adds g(x) = x + 0.5 | σ(x) to keep h~ positive for a logarithmic scan; the scan here takes
values of either sign, so h~ stays linear. minLSTM's f' is computed as σ(log σ(x_f) - log σ(x_i)),
which equals f / (f + i) without dividing by an underflowing sum.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def min_gru_coefficients(xp: Tensor) -> tuple[Tensor, Tensor]:
    """(a, b) of h_t = a * h_{t-1} + b from the projected input xp (..., 2H), gates in order z, h~."""
    z_in, candidate = xp.chunk(2, dim=-1)
    z = torch.sigmoid(z_in)
    return 1 - z, z * candidate


def min_lstm_coefficients(xp: Tensor) -> tuple[Tensor, Tensor]:
    """(a, b) of h_t = a * h_{t-1} + b from the projected input xp (..., 3H), gates in order f, i, h~."""
    f_in, i_in, candidate = xp.chunk(3, dim=-1)
    forget = torch.sigmoid(F.logsigmoid(f_in) - F.logsigmoid(i_in))  # f / (f + i)
    return forget, (1 - forget) * candidate


def min_step(xp: Tensor, h: Tensor, coefficients) -> tuple[Tensor, Tensor]:
    """One step from the projected input xp (B, G*H): h' = a * h + b; returns (h', h')."""
    a, b = coefficients(xp)
    h = torch.addcmul(b, a, h)
    return h, h
