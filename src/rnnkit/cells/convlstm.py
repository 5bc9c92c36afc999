"""Convolutional LSTM cell (Shi et al., "Convolutional LSTM Network", NeurIPS 2015).

The LSTM with every matrix product replaced by a 2-D convolution, so the state keeps the frame's
spatial layout: the input is (B, C_in, H, W) and both h and c are (B, C_h, H, W).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.lstm import LSTMState


def _pair(kernel_size) -> tuple[int, int]:
    size = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    if len(size) != 2 or any(not isinstance(k, int) or k <= 0 or k % 2 == 0 for k in size):
        raise ValueError(f"kernel_size must be an odd positive int or a pair of them (so 'same' padding keeps "
                         f"the frame size); got {kernel_size!r}")
    return size


class ConvLSTMCell(nn.Module):
    """One ConvLSTM step, gates in torch.nn.LSTM's order (i, f, g, o); `*` is a 2-D convolution with
    'same' padding and `∘` the elementwise product:

        i = σ(W_xi * X_t + W_hi * H_{t-1} + W_ci ∘ C_{t-1} + b_i)
        f = σ(W_xf * X_t + W_hf * H_{t-1} + W_cf ∘ C_{t-1} + b_f)
        C_t = f ∘ C_{t-1} + i ∘ tanh(W_xc * X_t + W_hc * H_{t-1} + b_c)
        o = σ(W_xo * X_t + W_ho * H_{t-1} + W_co ∘ C_t + b_o)
        H_t = o ∘ tanh(C_t)

    The peephole terms (W_c·) are there only with `peephole=True`. The paper's peephole weights have
    the state's full shape (C_h, H, W); give `frame_size=(H, W)` for that, or leave it None for one
    weight per channel (C_h, 1, 1), which works at any frame size.

    Parameters: weight_ih (4C_h, C_in, k, k), weight_hh (4C_h, C_h, k, k), bias (4C_h,) (one bias per
    gate, as in the paper), and with peepholes weight_ci, weight_cf, weight_co. Convolutions start
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = (C_in + C_h) k^2, peepholes at 0 and the forget
    bias at 1 (as Keras' ConvLSTM2D), so early training does not forget everything.

    >>> cell = ConvLSTMCell(3, 8, kernel_size=3)
    >>> h, (h, c) = cell(torch.randn(2, 3, 16, 16))
    >>> h.shape
    torch.Size([2, 8, 16, 16])
    """

    def __init__(self, input_channels: int, hidden_channels: int, kernel_size=3, bias: bool = True,
                 peephole: bool = False, frame_size: tuple[int, int] | None = None) -> None:
        super().__init__()
        if input_channels <= 0 or hidden_channels <= 0:
            raise ValueError(f"input_channels and hidden_channels must be positive; got {input_channels} and "
                             f"{hidden_channels}")
        if frame_size is not None and not peephole:
            raise ValueError("frame_size only shapes the peephole weights; pass peephole=True with it")
        self.input_channels, self.hidden_channels = input_channels, hidden_channels
        self.kernel_size = _pair(kernel_size)
        self.padding = (self.kernel_size[0] // 2, self.kernel_size[1] // 2)
        self.peephole, self.frame_size = peephole, None if frame_size is None else tuple(frame_size)
        gates = 4 * hidden_channels
        self.weight_ih = nn.Parameter(torch.empty(gates, input_channels, *self.kernel_size))
        self.weight_hh = nn.Parameter(torch.empty(gates, hidden_channels, *self.kernel_size))
        self.bias = nn.Parameter(torch.empty(gates)) if bias else None
        if peephole:
            shape = (hidden_channels, *(self.frame_size or (1, 1)))
            for name in ("weight_ci", "weight_cf", "weight_co"):
                self.register_parameter(name, nn.Parameter(torch.empty(shape)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        fan_in = (self.input_channels + self.hidden_channels) * self.kernel_size[0] * self.kernel_size[1]
        bound = 1.0 / math.sqrt(fan_in)
        nn.init.uniform_(self.weight_ih, -bound, bound)
        nn.init.uniform_(self.weight_hh, -bound, bound)
        if self.bias is not None:
            nn.init.zeros_(self.bias)
            with torch.no_grad():
                self.bias[self.hidden_channels: 2 * self.hidden_channels] = 1.0
        if self.peephole:
            for weight in (self.weight_ci, self.weight_cf, self.weight_co):
                nn.init.zeros_(weight)

    def init_state(self, batch_size: int, frame: tuple[int, int], *, device=None, dtype=None) -> LSTMState:
        """Zero h and c, each (B, C_h, H, W)."""
        param = self.weight_hh
        zeros = torch.zeros(batch_size, self.hidden_channels, *frame, device=device or param.device,
                            dtype=dtype or param.dtype)
        return LSTMState(zeros, torch.zeros_like(zeros))

    def project(self, x: Tensor) -> Tensor:
        """W_x * X + b for a (N, C_in, H, W) batch of frames -> (N, 4C_h, H, W); a layer calls it once for
        every frame of every step."""
        return F.conv2d(x, self.weight_ih, self.bias, padding=self.padding)

    def step(self, xp: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        """One step from the projected input xp (B, 4C_h, H, W)."""
        h, c = state
        gates = xp + F.conv2d(h, self.weight_hh, padding=self.padding)  # (B, 4C_h, H, W)
        i, f, g, o = gates.chunk(4, dim=1)
        if self.peephole:
            i, f = i + self.weight_ci * c, f + self.weight_cf * c
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        if self.peephole:
            o = o + self.weight_co * c
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, LSTMState(h, c)

    def check_frames(self, x: Tensor, channel_dim: int) -> tuple[int, int]:
        """The (H, W) of x after checking its channels and, with full-size peepholes, its frame size."""
        if x.shape[channel_dim] != self.input_channels:
            raise ValueError(f"x must have {self.input_channels} channels (input_channels) in dimension "
                             f"{channel_dim}; got shape {tuple(x.shape)}")
        frame = (x.shape[-2], x.shape[-1])
        if self.frame_size is not None and frame != self.frame_size:
            raise ValueError(f"frames must be {self.frame_size} (the frame_size the peephole weights were made "
                             f"for); got {frame}")
        return frame

    def forward(self, x: Tensor, state: LSTMState | None = None) -> tuple[Tensor, LSTMState]:
        """x (B, C_in, H, W), state (h, c) each (B, C_h, H, W) or None for zeros -> (h_t, (h_t, c_t))."""
        if x.dim() != 4:
            raise ValueError(f"x must be (batch, {self.input_channels}, height, width) for one step; got shape "
                             f"{tuple(x.shape)}")
        frame = self.check_frames(x, 1)
        if state is None:
            state = self.init_state(x.shape[0], frame, device=x.device, dtype=x.dtype)
        state = LSTMState(*state)
        expected = (x.shape[0], self.hidden_channels, *frame)
        for name, leaf in zip(("h", "c"), state):
            if tuple(leaf.shape) != expected:
                raise ValueError(f"state {name} must have shape {expected} = (batch, hidden_channels, H, W); got "
                                 f"{tuple(leaf.shape)}")
        return self.step(self.project(x), state)

    def extra_repr(self) -> str:
        extra = f", peephole=True, frame_size={self.frame_size}" if self.peephole else ""
        return f"{self.input_channels}, {self.hidden_channels}, kernel_size={self.kernel_size}{extra}" + (
            "" if self.bias is not None else ", bias=False")
