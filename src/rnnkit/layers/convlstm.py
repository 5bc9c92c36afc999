"""ConvLSTM over time (Shi et al. 2015): stacked ConvLSTM cells on (B, T, C, H, W) clips, with lengths
and carried state, the same contract as rnnkit.LSTM."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.convlstm import ConvLSTMCell
from rnnkit.cells.lstm import LSTMState
from rnnkit.ops.lengths import check_lengths
from rnnkit.ops.unroll import unroll


class ConvLSTM(nn.Module):
    """`outputs, state = convlstm(x, state=None, lengths=None)`.

    x (B, T, C_in, H, W) -> outputs (B, T, C_h, H, W) of the top layer, 0 past each row's length;
    state LSTMState(h, c), each (num_layers, B, C_h, H, W) (torch.nn's layout with the frame added),
    after each row's last valid step. Every layer is a `ConvLSTMCell` with `hidden_channels` channels;
    the input convolution of a layer runs over all frames at once and only the recurrent one loops.
    `dropout` is applied to the outputs of every layer but the last while training, as in torch.nn.LSTM.

    >>> layer = ConvLSTM(1, 4, kernel_size=3, num_layers=2)
    >>> out, (h, c) = layer(torch.randn(2, 5, 1, 8, 8), lengths=torch.tensor([5, 3]))
    >>> out.shape, h.shape
    (torch.Size([2, 5, 4, 8, 8]), torch.Size([2, 2, 4, 8, 8]))
    """

    def __init__(self, input_channels: int, hidden_channels: int, kernel_size=3, num_layers: int = 1,
                 bias: bool = True, peephole: bool = False, frame_size: tuple[int, int] | None = None,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1; got {num_layers}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {dropout}")
        self.input_channels, self.hidden_channels, self.num_layers = input_channels, hidden_channels, num_layers
        self.dropout = float(dropout)
        self.cells = nn.ModuleList(
            ConvLSTMCell(input_channels if layer == 0 else hidden_channels, hidden_channels, kernel_size, bias,
                         peephole, frame_size)
            for layer in range(num_layers))

    def init_state(self, batch_size: int, frame: tuple[int, int], *, device=None, dtype=None) -> LSTMState:
        """Zeros, h and c each (num_layers, B, C_h, H, W)."""
        param = self.cells[0].weight_hh
        zeros = torch.zeros(self.num_layers, batch_size, self.hidden_channels, *frame,
                            device=device or param.device, dtype=dtype or param.dtype)
        return LSTMState(zeros, torch.zeros_like(zeros))

    def forward(self, x: Tensor, state: LSTMState | None = None, lengths: Tensor | None = None
                ) -> tuple[Tensor, LSTMState]:
        batch, steps, frame = self._check(x)
        if lengths is not None:
            lengths = check_lengths(lengths, batch, steps)
        state = self._checked_state(state, batch, frame, x)
        hs, cs = [], []
        for layer, cell in enumerate(self.cells):
            if layer > 0 and self.training and self.dropout > 0:
                x = F.dropout(x, self.dropout, training=True)
            xp = cell.project(x.flatten(0, 1)).unflatten(0, (batch, steps))  # (B, T, 4C_h, H, W)
            x, final = unroll(cell.step, xp, LSTMState(state.h[layer], state.c[layer]), lengths)
            hs.append(final.h)
            cs.append(final.c)
        return x, LSTMState(torch.stack(hs), torch.stack(cs))

    def _check(self, x: Tensor) -> tuple[int, int, tuple[int, int]]:
        if not isinstance(x, Tensor) or x.dim() != 5:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must be a 5-D clip batch (batch, time, {self.input_channels}, height, width); "
                             f"got {got}")
        if not x.is_floating_point():
            raise ValueError(f"x must be a floating-point tensor; got dtype {x.dtype}")
        if x.shape[1] == 0:
            raise ValueError("x has no time steps; every clip needs at least one frame")
        return x.shape[0], x.shape[1], self.cells[0].check_frames(x, 2)

    def _checked_state(self, state, batch: int, frame: tuple[int, int], x: Tensor) -> LSTMState:
        if state is None:
            return self.init_state(batch, frame, device=x.device, dtype=x.dtype)
        state = LSTMState(*state)
        expected = (self.num_layers, batch, self.hidden_channels, *frame)
        for name, leaf in zip(("h", "c"), state):
            if tuple(leaf.shape) != expected:
                raise ValueError(f"state {name} must have shape {expected} = (num_layers, batch, hidden_channels, "
                                 f"H, W); got {tuple(leaf.shape)}")
        return state

    def extra_repr(self) -> str:
        return f"num_layers={self.num_layers}, dropout={self.dropout}"
