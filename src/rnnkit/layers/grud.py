"""GRU-D over time (Che et al. 2018): the cell's input side for all steps at once, the loop only over
the recurrence, lengths, carried state, and the paper's recurrent dropout (one mask per sequence,
the same at every step, on x^, m and the state the recurrent weights see)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.grud import GRUDCell, GRUDState
from rnnkit.ops.dropout import sequence_mask
from rnnkit.ops.fill import forward_fill
from rnnkit.ops.lengths import check_lengths
from rnnkit.ops.unroll import unroll


class GRUD(nn.Module):
    """`outputs, state = grud(values, mask, delta, lengths=None, state=None)`.

    values, mask, delta (B, T, D): values (anything where mask = 0, NaN too), 1 where observed, and
    hours since each variable's previous observation (`rnnkit.ops.fill.time_since_observed`).
    outputs (B, T, H), 0 past each row's length; state: GRUDState with h (1, B, H) and x_last
    (1, B, D), torch.nn's layout, after each row's last valid step. `dropout` drops inputs (x^ and m)
    and `recurrent_dropout` the recurrent state while training, each with one mask per sequence.

    >>> grud = GRUD(4, 8)
    >>> values, mask = torch.randn(2, 6, 4), (torch.rand(2, 6, 4) < 0.3).float()
    >>> out, state = grud(values, mask, torch.ones(2, 6, 4), lengths=torch.tensor([6, 3]))
    >>> out.shape, state.h.shape
    (torch.Size([2, 6, 8]), torch.Size([1, 2, 8]))
    """

    def __init__(self, input_size: int, hidden_size: int, dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 x_mean: Tensor | None = None) -> None:
        super().__init__()
        for name, p in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"{name} must be in [0, 1); got {p}")
        self.cell = GRUDCell(input_size, hidden_size, x_mean)
        self.input_size, self.hidden_size = input_size, hidden_size
        self.dropout, self.recurrent_dropout = float(dropout), float(recurrent_dropout)

    def forward(self, values: Tensor, mask: Tensor, delta: Tensor, lengths: Tensor | None = None,
                state: GRUDState | None = None) -> tuple[Tensor, GRUDState]:
        cell = self.cell
        batch, steps = self._check(values, mask, delta)
        if lengths is not None:
            lengths = check_lengths(lengths, batch, steps)
        if state is None:
            state = cell.init_state(batch)
        else:
            state = GRUDState(state.h[0], state.x_last[0])
        observed = mask.bool()
        mask = mask.to(values.dtype)
        values = torch.where(observed, values, torch.zeros((), dtype=values.dtype, device=values.device))
        filled = forward_fill(values, mask, state.x_last)  # (B, T, D), last value at or before t
        before = torch.cat([state.x_last.unsqueeze(1), filled[:, :-1]], dim=1)  # strictly before t
        x_hat = cell.impute(values, mask, delta, before)
        m_in = mask
        if self.training and self.dropout > 0:
            x_hat = x_hat * self._dropout_mask(x_hat, self.dropout)
            m_in = mask * self._dropout_mask(mask, self.dropout)
        xp = F.linear(x_hat, cell.weight_ih) + F.linear(m_in, cell.weight_mh, cell.bias)  # (B, T, 3H)
        decay = cell.hidden_decay(delta)  # (B, T, H)
        keep = None
        if self.training and self.recurrent_dropout > 0:
            keep = self._dropout_mask(decay, self.recurrent_dropout)[:, 0]

        def step(inputs: Tensor, h: Tensor):
            xp_t, decay_t = inputs.split([3 * self.hidden_size, self.hidden_size], dim=1)
            h_hat = decay_t * h
            h = cell.gates(xp_t, h_hat, h_hat if keep is None else h_hat * keep)
            return h, h

        outputs, h = unroll(step, torch.cat([xp, decay], dim=2), state.h, lengths)
        if lengths is None:
            x_last = filled[:, -1]
        else:
            index = (lengths - 1).clamp(min=0).view(batch, 1, 1).expand(-1, 1, self.input_size)
            x_last = torch.where((lengths > 0).view(batch, 1), filled.gather(1, index)[:, 0], state.x_last)
        return outputs, GRUDState(h.unsqueeze(0), x_last.unsqueeze(0))

    def _check(self, values: Tensor, mask: Tensor, delta: Tensor) -> tuple[int, int]:
        if values.dim() != 3 or values.shape[2] != self.input_size:
            raise ValueError(f"values must have shape (batch, time, {self.input_size}); got {tuple(values.shape)}")
        for name, t in (("mask", mask), ("delta", delta)):
            if t.shape != values.shape:
                raise ValueError(f"{name} must have the shape of values, {tuple(values.shape)}; got {tuple(t.shape)}")
        if not values.is_floating_point() or not delta.is_floating_point():
            raise ValueError("values and delta must be floating-point tensors")
        if values.shape[1] == 0:
            raise ValueError("values has no time steps; every sequence needs at least one")
        return values.shape[0], values.shape[1]

    @staticmethod
    def _dropout_mask(like: Tensor, p: float) -> Tensor:
        """(B, 1, F): one inverted-dropout mask per sequence, shared by every step."""
        return sequence_mask(like.shape[0], like.shape[-1], p, like).unsqueeze(1)

    def extra_repr(self) -> str:
        return f"dropout={self.dropout}, recurrent_dropout={self.recurrent_dropout}"
