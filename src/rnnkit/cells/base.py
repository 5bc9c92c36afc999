"""What every classic cell shares: torch.nn's parameter layout, initialisation and input checks.

A cell is one step of a recurrence. Its step is split in two so that layers can run the input
projection for all time steps in one matrix multiply and loop only over the recurrent part:

    xp_t = x_t @ W_ih^T + b_ih              (project)
    h_t, state = step(xp_t, state, W_hh, b_hh)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.ops.state import State, state_leaves


class RecurrentCell(nn.Module):
    """Base of RNNCell, LSTMCell and GRUCell: parameters named and shaped as in torch.nn.*Cell.

    weight_ih (G*H, I), weight_hh (G*H, H), bias_ih (G*H,), bias_hh (G*H,) with G gates.
    """

    num_gates: int = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        if input_size <= 0 or hidden_size <= 0:
            raise ValueError(f"input_size and hidden_size must be positive; got {input_size} and {hidden_size}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        gates = self.num_gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(gates, input_size))
        self.weight_hh = nn.Parameter(torch.empty(gates, hidden_size))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(gates))
            self.bias_hh = nn.Parameter(torch.empty(gates))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """U(-1/sqrt(H), 1/sqrt(H)) for every parameter, as torch.nn does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def init_state(self, batch_size: int, *, device=None, dtype=None) -> State:
        """Zero state for a batch: a (B, H) tensor (LSTMCell overrides this with an (h, c) pair)."""
        param = self.weight_hh
        return torch.zeros(batch_size, self.hidden_size, device=device or param.device, dtype=dtype or param.dtype)

    def step(self, xp: Tensor, state: State, weight_hh: Tensor, bias_hh: Tensor | None) -> tuple[Tensor, State]:
        """One recurrence step from the projected input xp (B, G*H). Subclasses implement it."""
        raise NotImplementedError

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """x (B, I), state as from init_state (None means zeros) -> (h (B, H), new state)."""
        if x.dim() != 2 or x.shape[1] != self.input_size:
            raise ValueError(
                f"x must have shape (batch, {self.input_size}) for one time step; got {tuple(x.shape)}"
            )
        if state is None:
            state = self.init_state(x.shape[0], device=x.device, dtype=x.dtype)
        for leaf in state_leaves(state):
            if leaf.shape != (x.shape[0], self.hidden_size):
                raise ValueError(
                    f"state must have shape ({x.shape[0]}, {self.hidden_size}) = (batch, hidden_size); "
                    f"got {tuple(leaf.shape)}"
                )
        xp = F.linear(x, self.weight_ih, self.bias_ih)
        return self.step(xp, state, self.weight_hh, self.bias_hh)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")
