"""RNN, LSTM and GRU layers, as torch.nn's (batch-first) plus lengths, two kernels and the recurrent
regularisers of `RecurrentLayer`; parameters, their names and the state layout are torch.nn's."""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor

from rnnkit.cells.gru import gru_step
from rnnkit.cells.lstm import LSTMState, lstm_step
from rnnkit.cells.rnn import ACTIVATIONS, rnn_step
from rnnkit.layers.recurrent import RecurrentLayer


class RNN(RecurrentLayer):
    """Elman RNN layer, as torch.nn.RNN(batch_first=True) plus lengths and kernels.

        h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),   act = tanh or relu

    Shapes: x (B, T, I) -> ys (B, T, D*H), state (L*D, B, H).

    >>> rnn = RNN(8, 16, num_layers=2, nonlinearity="relu")
    >>> ys, h = rnn(torch.randn(4, 10, 8), lengths=torch.tensor([10, 3, 7, 1]))
    >>> ys.shape, h.shape
    (torch.Size([4, 10, 16]), torch.Size([2, 4, 16]))
    """

    num_gates = 1

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh", **kwargs):
        if nonlinearity not in ACTIVATIONS:
            raise ValueError(f"nonlinearity must be one of {sorted(ACTIVATIONS)}; got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self.mode = f"RNN_{nonlinearity.upper()}"
        super().__init__(input_size, hidden_size, num_layers, **kwargs)

    def step(self, xp, state, weight_hh, bias_hh, recurrent_mask=None):
        return rnn_step(xp, state, weight_hh, bias_hh, self.nonlinearity, recurrent_mask=recurrent_mask)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", nonlinearity={self.nonlinearity!r}"


class LSTM(RecurrentLayer):
    """LSTM layer, as torch.nn.LSTM(batch_first=True) plus lengths and kernels; gates i, f, g, o.

        c_t = σ(f) * c_{t-1} + σ(i) * tanh(g),   h_t = σ(o) * tanh(c_t)   [ * W_hr^T with proj_size ]

    Shapes: x (B, T, I) -> ys (B, T, D*H), state LSTMState(h, c), each (L*D, B, H). Any (h, c) pair
    is accepted as a state, so torch.nn.LSTM's states work here and ours there. With `proj_size=P`
    (Sak et al. 2014, as torch.nn.LSTM) h is projected to P: ys (B, T, D*P), h (L*D, B, P), c stays
    (L*D, B, H), weight_hr_l0 (P, H) joins the parameters, and the fused kernel still serves.

    >>> lstm = LSTM(8, 16, bidirectional=True)
    >>> ys, (h, c) = lstm(torch.randn(4, 10, 8))
    >>> ys.shape, c.shape
    (torch.Size([4, 10, 32]), torch.Size([2, 4, 16]))
    """

    mode = "LSTM"
    num_gates = 4

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, *args, proj_size: int = 0, **kwargs):
        if isinstance(proj_size, bool) or not isinstance(proj_size, int) or not 0 <= proj_size < hidden_size:
            raise ValueError(f"proj_size must be an integer in [0, hidden_size) = [0, {hidden_size}); got {proj_size!r}")
        self.proj_size = proj_size
        super().__init__(input_size, hidden_size, num_layers, *args, **kwargs)

    def step(self, xp, state, weight_hh, bias_hh, recurrent_mask=None, weight_hr=None):
        return lstm_step(xp, state, weight_hh, bias_hh, recurrent_mask, weight_hr)

    def _block_step(self, block: int, weight_hh: Tensor, bias_hh: Tensor | None):
        if not self.proj_size:
            return super()._block_step(block, weight_hh, bias_hh)
        weight_hr = self._parameters[self._block_names[block]["weight_hr"]]
        return partial(self.step, weight_hh=weight_hh, bias_hh=bias_hh, weight_hr=weight_hr)

    def init_state(self, batch_size: int, *, device=None, dtype=None) -> LSTMState:
        h = super().init_state(batch_size, device=device, dtype=dtype)
        if not self.proj_size:
            return LSTMState(h, torch.zeros_like(h))
        return LSTMState(h.new_zeros(*h.shape[:2], self.proj_size), h)

    def _as_state(self, state) -> LSTMState:
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise ValueError(
                f"state must be an (h, c) pair for an LSTM, each (num_layers * num_directions, batch, "
                f"hidden_size); got {type(state).__name__}"
            )
        return LSTMState(*state)


class GRU(RecurrentLayer):
    """GRU layer, as torch.nn.GRU(batch_first=True) plus lengths and kernels; gates r, z, n.

        n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),   h_t = (1 - z) * n + z * h_{t-1}

    Shapes: x (B, T, I) -> ys (B, T, D*H), state (L*D, B, H).

    >>> gru = GRU(8, 16, num_layers=2)
    >>> ys, h = gru(torch.randn(4, 10, 8))
    >>> h.shape
    torch.Size([2, 4, 16])
    """

    mode = "GRU"
    num_gates = 3

    def step(self, xp, state, weight_hh, bias_hh, recurrent_mask=None):
        return gru_step(xp, state, weight_hh, bias_hh, recurrent_mask)
