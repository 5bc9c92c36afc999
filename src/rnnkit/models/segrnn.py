"""SegRNN (Lin et al. 2023, "SegRNN: Segment Recurrent Neural Network for Long-Term Time Series
Forecasting"): a recurrent forecaster over segments of the lookback window instead of single steps,
decoded in parallel (PMF), one channel at a time with weights shared by every channel.

Same interface as models.Forecaster: inputs (B, L + H, F) in data.windows' layout, parameters
(B, H, D, P) out, and the same point / Gaussian / quantile outputs. It reads the targets' own history
only; covariates would need a different model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from rnnkit.layers import RECURRENT_LAYERS, check_regularisers, recurrent_layer
from rnnkit.layers.revin import RevIN
from rnnkit.models.forecaster import (
    DISTRIBUTIONS,
    Forecast,
    check_quantiles,
    distribution_forecast,
    distribution_loss,
    num_params,
    revin_outputs,
    shift_location,
)
from rnnkit.ops.state import map_state


@dataclass(frozen=True)
class SegRNNConfig:
    """`segment` w must divide `lookback` (the paper's L = 720, w = 48); the horizon is decoded in
    ceil(H / w) segments and cut to H. `hidden_size` d is both the segment embedding and the RNN's
    state (the paper: 512). `channel_embedding` gives each target channel its identity (half of the
    decoder's input, the other half the position of the output segment), as the paper's PMF does;
    `relative` subtracts each window's last value (the paper's default), `revin` normalises each
    window instead or as well. num_known must be 0 and num_features == num_targets."""

    num_features: int
    num_targets: int
    lookback: int
    horizon: int
    num_known: int = 0
    segment: int = 24
    cell: str = "gru"
    hidden_size: int = 256
    num_layers: int = 1
    dropout: float = 0.1
    channel_embedding: bool = True
    relative: bool = True
    revin: bool = False
    distribution: str = "point"
    quantiles: tuple[float, ...] = (0.05, 0.5, 0.95)
    regularisers: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_regularisers(self.regularisers)
        if self.cell not in RECURRENT_LAYERS:
            raise ValueError(f"cell must be one of {tuple(RECURRENT_LAYERS)}; got {self.cell!r}")
        if self.distribution not in DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {DISTRIBUTIONS}; got {self.distribution!r}")
        if self.num_known or self.num_features != self.num_targets:
            raise ValueError(f"segrnn forecasts the targets from their own history; it takes no covariates or known "
                             f"inputs (got {self.num_features} features for {self.num_targets} targets, {self.num_known} known): "
                             "drop --covariates/--known/--calendar/--id-features or use --model rnn")
        if self.segment < 1 or self.lookback % self.segment:
            raise ValueError(f"the segment length ({self.segment}) must divide the lookback ({self.lookback}); "
                             "choose --segment or --lookback so that it does")
        if self.horizon < 1 or self.hidden_size < 2:
            raise ValueError(f"horizon must be at least 1 and hidden_size at least 2; got {self.horizon}, {self.hidden_size}")
        check_quantiles(self)

    @property
    def num_params(self) -> int:
        return num_params(self)

    @property
    def segments(self) -> tuple[int, int]:
        """(n, m): input segments L / w and output segments ceil(H / w)."""
        return self.lookback // self.segment, math.ceil(self.horizon / self.segment)


class SegRNN(nn.Module):
    """For each target channel k of a window (channels run as separate rows, one set of weights):

        x_1..x_n  = the lookback cut into n segments of w steps (minus the last value, `relative`)
        e_i       = ReLU(W_e x_i + b_e)                           (B D, n, d)
        h_n       = RNN(e_1..e_n)
        decoder input for output segment j:  p_j = [pos_j ; chan_k]   (d/2 each; pos_j alone, d, without channels)
        s_j       = RNN(p_j, h_n)       one step from h_n, for all m segments at once (PMF)
        y_j       = W_o dropout(s_j) + b_o                        (w * P values: segment j of the forecast)

    >>> model = SegRNN(SegRNNConfig(num_features=2, num_targets=2, lookback=48, horizon=10, segment=12, hidden_size=16))
    >>> model(torch.randn(3, 58, 2)).shape
    torch.Size([3, 10, 2, 1])
    """

    def __init__(self, config: SegRNNConfig) -> None:
        super().__init__()
        self.config = c = config
        _, m = c.segments
        self.embed = nn.Sequential(nn.Linear(c.segment, c.hidden_size), nn.ReLU())
        between = c.dropout if c.num_layers > 1 else 0.0
        self.rnn = recurrent_layer(c.cell, c.hidden_size, c.hidden_size, regularisers=c.regularisers, num_layers=c.num_layers,
                                   dropout=between)
        half = c.hidden_size // 2 if c.channel_embedding else c.hidden_size
        self.position = nn.Parameter(torch.randn(m, half))
        self.channel = nn.Parameter(torch.randn(c.num_targets, c.hidden_size - half)) if c.channel_embedding else None
        self.dropout = nn.Dropout(c.dropout)
        self.output = nn.Linear(c.hidden_size, c.segment * c.num_params)
        self.revin = RevIN(c.num_targets) if c.revin else None

    @classmethod
    def from_config(cls, config: SegRNNConfig) -> SegRNN:
        return cls(config)

    def forward(self, inputs: Tensor, targets: Tensor | None = None) -> Tensor:
        """Parameters (B, H, D, P); `targets` are accepted for the Forecaster interface and never read."""
        c = self.config
        if inputs.dim() != 3 or inputs.shape[1:] != (c.lookback + c.horizon, c.num_features):
            raise ValueError(f"inputs must be (batch, lookback + horizon = {c.lookback + c.horizon}, features = {c.num_features}); "
                             f"got {tuple(inputs.shape)}")
        batch, (n, m) = inputs.shape[0], c.segments
        past, stats = inputs[:, : c.lookback, : c.num_targets], None
        if self.revin is not None:
            past, stats = self.revin.normalise(past)
        anchor = past[:, -1:] if c.relative else None  # (B, 1, D)
        if anchor is not None:
            past = past - anchor
        rows = batch * c.num_targets
        segments = past.transpose(1, 2).reshape(rows, n, c.segment)  # (B D, n, w): channel k of window b is row b D + k
        _, state = self.rnn(self.embed(segments))
        queries = self.position.unsqueeze(0).expand(c.num_targets, m, -1)  # (D, m, d or d/2)
        if self.channel is not None:
            queries = torch.cat([queries, self.channel.unsqueeze(1).expand(-1, m, -1)], dim=-1)
        queries = queries.unsqueeze(0).expand(batch, -1, -1, -1).reshape(rows * m, 1, c.hidden_size)
        start = map_state(lambda h: h.repeat_interleave(m, dim=1), state)  # every output segment starts from h_n
        decoded, _ = self.rnn(queries, start)  # (B D m, 1, d)
        values = self.output(self.dropout(decoded[:, 0]))  # (B D m, w P)
        params = values.view(batch, c.num_targets, m * c.segment, c.num_params)[:, :, : c.horizon].transpose(1, 2)
        if anchor is not None:
            params = shift_location(c, params, anchor)
        return params if stats is None else revin_outputs(self.revin, c, params, stats)

    def loss(self, params: Tensor, targets: Tensor) -> Tensor:
        return distribution_loss(self.config, params, targets)

    def forecast(self, params: Tensor, level: float = 0.9) -> Forecast:
        return distribution_forecast(self.config, params, level)

