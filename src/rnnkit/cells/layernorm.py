"""Layer-normalised LSTM and GRU steps (Ba, Kiros & Hinton, "Layer Normalization", 2016, section 3.1:
the recurrent formulation). Layer norm is applied to the input projection and to the recurrent
projection, each over all its gates with its own gain, and (LSTM) to the cell state before the
output tanh with a gain and a bias; the shifts of the two projections are torch.nn's b_ih and b_hh,
added after normalisation, so the parameter names stay torch.nn's plus the gains."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.cells.lstm import LSTMState

EPS = 1e-5


class Norms(NamedTuple):
    """The layer-norm parameters of one layer and direction: gains of the input and recurrent
    projections (G*H,), and for an LSTM the cell state's gain and bias (H,) (None for a GRU)."""

    ih_weight: Tensor
    hh_weight: Tensor
    c_weight: Tensor | None = None
    c_bias: Tensor | None = None


def normalise(x: Tensor, weight: Tensor | None, bias: Tensor | None = None) -> Tensor:
    """Layer norm over the last dimension: (x - mean) / sqrt(var + eps) * weight + bias."""
    return F.layer_norm(x, x.shape[-1:], weight, bias, EPS)


def project_normalised(x: Tensor, weight_ih: Tensor, bias_ih: Tensor | None, norms: Norms) -> Tensor:
    """LN(W_ih x) * g_ih + b_ih for every time step at once: (B, T, I) -> (B, T, G*H)."""
    xp = normalise(F.linear(x, weight_ih), norms.ih_weight)
    return xp if bias_ih is None else xp + bias_ih


def ln_lstm_step(xp: Tensor, state: LSTMState, weight_hh: Tensor, bias_hh: Tensor | None, norms: Norms,
                 recurrent_mask: Tensor | None = None):
    """One step from the normalised input projection xp (B, 4H); gates i, f, g, o; `recurrent_mask`
    (B, H) multiplies the h_{t-1} that W_hh sees."""
    h, c = state
    hp = normalise(F.linear(h if recurrent_mask is None else h * recurrent_mask, weight_hh), norms.hh_weight)
    gates = xp + (hp if bias_hh is None else hp + bias_hh)
    i, f, g, o = gates.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(normalise(c, norms.c_weight, norms.c_bias))
    return h, LSTMState(h, c)


def ln_gru_step(xp: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None, norms: Norms,
                recurrent_mask: Tensor | None = None):
    """One step from the normalised input projection xp (B, 3H); gates r, z, n (torch's formulation);
    `recurrent_mask` (B, H) multiplies the h_{t-1} that W_hh sees, not the one z carries over."""
    hp = normalise(F.linear(h if recurrent_mask is None else h * recurrent_mask, weight_hh), norms.hh_weight)
    hp = hp if bias_hh is None else hp + bias_hh
    x_r, x_z, x_n = xp.chunk(3, dim=1)
    h_r, h_z, h_n = hp.chunk(3, dim=1)
    r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    h = n + z * (h - n)
    return h, h
