"""minGRU and minLSTM layers (Feng et al. 2024): stacked, bidirectional, lengths and carried state
like every rnnkit layer, with a parallel scan over time ("scan" kernel) or the step loop ("loop")."""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.cells.minimal import min_gru_coefficients, min_lstm_coefficients, min_step
from rnnkit.layers.fused import fused_blocker
from rnnkit.layers.recurrent import KernelChoice, RecurrentLayer, with_zoneout
from rnnkit.ops.lengths import length_mask, reverse_padded
from rnnkit.ops.scan import linear_scan
from rnnkit.ops.state import state_leaves
from rnnkit.ops.unroll import unroll


class _Minimal(RecurrentLayer):
    """What minGRU and minLSTM share: input-only gates (no weight_hh), h as the state, two kernels."""

    kernels = ("auto", "scan", "loop")
    recurrent_weights = False
    coefficients = None  # xp -> (a, b) of h_t = a * h_{t-1} + b

    def _select(self, x: Tensor, state) -> tuple[KernelChoice, bool]:
        if self.kernel == "loop":
            return KernelChoice("loop", "kernel='loop' was requested"), False
        blocker = fused_blocker([x, *state_leaves(state)])
        if blocker is not None:
            if self.kernel == "scan":
                raise ValueError(f"kernel='scan' cannot run this call: {blocker}. Use kernel='auto' or 'loop'.")
            return KernelChoice("loop", f"kernel='auto' fell back to the loop: {blocker}"), False
        return KernelChoice("scan", "parallel scan over time (the gates see the input only)"), False

    def _run_block(self, block, x, state, lengths, reverse, weights, kernel="scan"):
        xp = F.linear(x, weights["weight_ih"], weights.get("bias_ih"))  # (B, T, G*H)
        p = self._zoneout[0]
        if kernel == "loop":
            step = partial(min_step, coefficients=type(self).coefficients)
            if p:
                step = with_zoneout(step, self._zoneout, self.training)
            return unroll(step, xp, state, lengths, reverse=reverse)
        a, b = type(self).coefficients(xp)
        if p:  # zoneout keeps the recurrence linear: h = m * h_prev + (1 - m) * (a * h_prev + b)
            if self.training:
                keep = torch.rand_like(a) < p
                a, b = a.masked_fill(keep, 1.0), b.masked_fill(keep, 0.0)
            else:
                a, b = a * (1 - p) + p, b * (1 - p)
        valid = None if lengths is None else length_mask(lengths, x.shape[1], x.device).unsqueeze(2)
        if valid is not None:  # a = 1, b = 0 past each length: the state stays as it was
            a, b = a.masked_fill(~valid, 1.0), b.masked_fill(~valid, 0.0)
        if reverse:
            a, b = reverse_padded(a, lengths), reverse_padded(b, lengths)
        h = linear_scan(a, b, state)
        final = h[:, -1]
        if reverse:
            h = reverse_padded(h, lengths)
        if valid is not None:
            h = h.masked_fill(~valid, 0.0)
        return h, final

    def flatten_parameters(self) -> None:
        """Nothing to do: there are no cuDNN weights."""


class MinGRU(_Minimal):
    """minGRU layer (Feng et al. 2024): the gate and the candidate see the input only.

        z_t = σ(W_z x_t + b_z),   h~_t = W_h x_t + b_h,   h_t = (1 - z_t) * h_{t-1} + z_t * h~_t

    Training runs a parallel scan over time (kernel "scan", the default); kernel="loop" steps through
    time as streaming does. Arguments, lengths and the state layout (L*D, B, H) are `rnnkit.GRU`'s;
    parameters weight_ih_l0 (2H, I) and bias_ih_l0 (2H,) per layer and direction, rows z then h~.
    Regularisers: dropout / variational_dropout between layers and zoneout (kept inside the scan);
    there are no recurrent weights for recurrent_dropout or weight_drop.

    >>> gru = MinGRU(8, 16, num_layers=2, bidirectional=True)
    >>> ys, h = gru(torch.randn(4, 100, 8), lengths=torch.tensor([100, 30, 7, 1]))
    >>> ys.shape, h.shape, gru.last_kernel.name
    (torch.Size([4, 100, 32]), torch.Size([4, 4, 16]), 'scan')
    """

    mode = "MinGRU"
    num_gates = 2
    coefficients = staticmethod(min_gru_coefficients)


class MinLSTM(_Minimal):
    """minLSTM layer (Feng et al. 2024): forget and input gates see the input only and are normalised
    to sum to 1, so the state is h alone (no cell state).

        f_t = σ(W_f x_t + b_f),  i_t = σ(W_i x_t + b_i),  h~_t = W_h x_t + b_h
        h_t = f_t / (f_t + i_t) * h_{t-1} + i_t / (f_t + i_t) * h~_t

    Same kernels, arguments and state layout (L*D, B, H) as `MinGRU`; parameters weight_ih_l0 (3H, I)
    and bias_ih_l0 (3H,), rows f, i, h~.

    >>> lstm = MinLSTM(8, 16)
    >>> ys, h = lstm(torch.randn(4, 100, 8))
    >>> h.shape
    torch.Size([1, 4, 16])
    """

    mode = "MinLSTM"
    num_gates = 3
    coefficients = staticmethod(min_lstm_coefficients)
