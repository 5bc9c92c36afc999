"""Dropout with one mask per sequence (locked over time), for the inputs and outputs of recurrent
layers (Gal & Ghahramani 2016; AWD-LSTM's LockedDropout, Merity et al. 2018)."""

from __future__ import annotations

from torch import Tensor, nn

from rnnkit.ops.dropout import locked_dropout


class LockedDropout(nn.Module):
    """Drops features of a (B, T, F) batch with one mask per sequence, the same at every step; kept
    values are scaled by 1/(1 - p); the identity in evaluation.

    >>> drop = LockedDropout(0.5)
    >>> y = drop(torch.ones(2, 4, 3))
    >>> bool((y == y[:, :1]).all())  # the same mask at every step
    True
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"p must be a probability in [0, 1); got {p!r}")
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3:
            raise ValueError(f"LockedDropout expects a (batch, time, features) tensor; got shape {tuple(x.shape)}")
        return locked_dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
