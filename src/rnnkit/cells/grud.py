"""GRU-D: a GRU for irregularly sampled multivariate series with missing values (Che et al.,
"Recurrent Neural Networks for Multivariate Time Series with Missing Values", Scientific Reports 2018;
arXiv:1606.01865).

The mask and the time since each variable was last seen enter the cell, so missingness and its
pattern are inputs, not something imputed away.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class GRUDState(NamedTuple):
    """h (B, H) the hidden state; x_last (B, D) each variable's last observed value (its mean before
    the first observation)."""

    h: Tensor
    x_last: Tensor


class GRUDCell(nn.Module):
    """One GRU-D step, the paper's equations:

        gamma_x = exp(-max(0, w_x * delta + b_x))            input decay, diagonal (one w, b per variable)
        gamma_h = exp(-max(0, W_gh delta + b_gh))            hidden decay, full (H, D)
        x^ = m * x + (1 - m) * (gamma_x * x_last + (1 - gamma_x) * x_mean)
        h^ = gamma_h * h_{t-1}
        r  = sigmoid(W_r x^ + U_r h^ + V_r m + b_r)
        z  = sigmoid(W_z x^ + U_z h^ + V_z m + b_z)
        h~ = tanh(W x^ + U (r * h^) + V m + b)
        h_t = (1 - z) * h^ + z * h~

    x, m, delta (B, D): values (anything where m = 0), mask (1 = observed) and hours since each
    variable's previous observation; x_mean (D,) the training mean each input decays toward (0 for
    z-scored inputs). Weights: weight_ih (3H, D) for x^, weight_hh (3H, H) for h^, weight_mh (3H, D)
    for m, bias (3H,), gates in the order r, z, n.

    >>> cell = GRUDCell(3, 5)
    >>> h, state = cell(torch.randn(2, 3), torch.ones(2, 3), torch.zeros(2, 3))
    >>> h.shape, state.x_last.shape
    (torch.Size([2, 5]), torch.Size([2, 3]))
    """

    def __init__(self, input_size: int, hidden_size: int, x_mean: Tensor | None = None) -> None:
        super().__init__()
        if input_size <= 0 or hidden_size <= 0:
            raise ValueError(f"input_size and hidden_size must be positive; got {input_size} and {hidden_size}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size))
        self.weight_mh = nn.Parameter(torch.empty(3 * hidden_size, input_size))
        self.bias = nn.Parameter(torch.empty(3 * hidden_size))
        self.decay_input_weight = nn.Parameter(torch.empty(input_size))
        self.decay_input_bias = nn.Parameter(torch.empty(input_size))
        self.decay_hidden_weight = nn.Parameter(torch.empty(hidden_size, input_size))
        self.decay_hidden_bias = nn.Parameter(torch.empty(hidden_size))
        mean = torch.zeros(input_size) if x_mean is None else torch.as_tensor(x_mean, dtype=torch.float32)
        if mean.shape != (input_size,):
            raise ValueError(f"x_mean must have shape ({input_size},); got {tuple(mean.shape)}")
        self.register_buffer("x_mean", mean.clone())
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Gates as torch.nn.GRUCell, U(-1/sqrt(H), 1/sqrt(H)). Decays start small and positive, so
        max(0, .) passes gradients from the first step (at a weight of 0 it would pass none): input
        decay rates U(0, 0.1) per hour, hidden decay U(0, 0.1 / D) per hour per variable."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in (self.weight_ih, self.weight_hh, self.weight_mh, self.bias):
            nn.init.uniform_(weight, -bound, bound)
        nn.init.uniform_(self.decay_input_weight, 0.0, 0.1)
        nn.init.uniform_(self.decay_hidden_weight, 0.0, 0.1 / self.input_size)
        nn.init.zeros_(self.decay_input_bias)
        nn.init.zeros_(self.decay_hidden_bias)

    def init_state(self, batch_size: int) -> GRUDState:
        """h = 0 and every variable at its mean."""
        h = self.weight_hh.new_zeros(batch_size, self.hidden_size)
        return GRUDState(h, self.x_mean.to(h.dtype).expand(batch_size, -1).clone())

    def input_decay(self, delta: Tensor) -> Tensor:
        return torch.exp(-F.relu(delta * self.decay_input_weight + self.decay_input_bias))

    def hidden_decay(self, delta: Tensor) -> Tensor:
        return torch.exp(-F.relu(F.linear(delta, self.decay_hidden_weight, self.decay_hidden_bias)))

    def impute(self, x: Tensor, mask: Tensor, delta: Tensor, x_last: Tensor) -> Tensor:
        """x^: the observed value, else the last one decayed toward the mean by the time since it."""
        gamma = self.input_decay(delta)
        return mask * x + (1 - mask) * (gamma * x_last + (1 - gamma) * self.x_mean)

    def forward(self, x: Tensor, mask: Tensor, delta: Tensor, state: GRUDState | None = None) -> tuple[Tensor, GRUDState]:
        """x, mask, delta (B, D) -> (h (B, H), GRUDState)."""
        for name, t in (("x", x), ("mask", mask), ("delta", delta)):
            if t.dim() != 2 or t.shape[1] != self.input_size:
                raise ValueError(f"{name} must have shape (batch, {self.input_size}) for one step; got {tuple(t.shape)}")
        state = state or self.init_state(x.shape[0])
        x = torch.where(mask.bool(), x, torch.zeros((), dtype=x.dtype))  # whatever stands at unobserved entries
        x_hat = self.impute(x, mask, delta, state.x_last)
        h_hat = self.hidden_decay(delta) * state.h
        h = self.gates(F.linear(x_hat, self.weight_ih) + F.linear(mask, self.weight_mh, self.bias), h_hat, h_hat)
        return h, GRUDState(h, mask * x + (1 - mask) * state.x_last)

    def gates(self, xp: Tensor, h_hat: Tensor, h_in: Tensor) -> Tensor:
        """The GRU part from the input projection xp (B, 3H) = W x^ + V m + b, the decayed state h^
        and h_in, the state the recurrent weights see (h^, or h^ after recurrent dropout)."""
        u_r, u_z, u_n = self.weight_hh.chunk(3, dim=0)
        x_r, x_z, x_n = xp.chunk(3, dim=1)
        r = torch.sigmoid(x_r + F.linear(h_in, u_r))
        z = torch.sigmoid(x_z + F.linear(h_in, u_z))
        n = torch.tanh(x_n + F.linear(r * h_in, u_n))
        return (1 - z) * h_hat + z * n

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"
