"""A transformer forecaster: the baseline the recurrent forecasters are measured against.

Same interface as models.Forecaster: inputs (B, L + H, F) in data.windows' layout (targets | past
covariates | known covariates, the unknown future zeroed), distribution parameters (B, H, D, P) out,
with the same point / Gaussian / quantile outputs, `relative` and `revin`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from rnnkit.layers.revin import RevIN
from rnnkit.layers.transformer import POSITIONS, Transformer
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
from rnnkit.models.transformer import input_scale


@dataclass(frozen=True)
class TransformerForecasterConfig:
    """An encoder of `num_layers` blocks, width `d_model`, `num_heads` heads, over the L + H steps of a
    window; `relative` subtracts each target's last observed value (added back to every output),
    `revin` normalises each window's targets by their lookback statistics (layers.RevIN)."""

    num_features: int
    num_targets: int
    lookback: int
    horizon: int
    num_known: int = 0
    d_model: int = 64
    num_layers: int = 2
    num_heads: int = 4
    ff_size: int | None = None
    dropout: float = 0.1
    positions: str = "learned"
    distribution: str = "point"
    quantiles: tuple[float, ...] = (0.05, 0.5, 0.95)
    relative: bool = True
    revin: bool = False
    scale_inputs: bool = True  # models.transformer.SCALE_DOC; runs saved before the field load with False

    LEGACY_DEFAULTS: ClassVar[dict] = {"scale_inputs": False}

    def __post_init__(self) -> None:
        if self.distribution not in DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {DISTRIBUTIONS}; got {self.distribution!r}")
        if self.positions not in POSITIONS:
            raise ValueError(f"positions must be one of {POSITIONS}; got {self.positions!r}")
        if not 1 <= self.num_targets <= self.num_features - self.num_known:
            raise ValueError(f"num_targets must be in [1, num_features - num_known]; got {self.num_targets} of "
                             f"{self.num_features} features with {self.num_known} known")
        if self.lookback < 1 or self.horizon < 1:
            raise ValueError(f"lookback and horizon must be at least 1; got {self.lookback}, {self.horizon}")
        if self.d_model < 2 or self.num_heads < 1 or self.d_model % self.num_heads or self.num_layers < 1:
            raise ValueError(f"d_model must be a multiple of num_heads, both positive, and num_layers at least 1; got "
                             f"{self.d_model}, {self.num_heads}, {self.num_layers}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {self.dropout}")
        check_quantiles(self)

    @property
    def num_params(self) -> int:
        return num_params(self)


class TransformerForecaster(nn.Module):
    """Every step of the window is a token: its features and a flag saying whether it lies in the
    future (whose targets and past covariates the data layer has zeroed; known covariates stay).

        z_t = W_in [x_t ; future_t] + b;  h = Encoder(z_1..z_{L+H});  params_{t+j} = W_out dropout(h_{L+j}) + b

    The encoder is not causal: the future steps read the whole lookback (and the known future), as
    the queries of Informer's generative decoder do, and the H outputs come at once.

    >>> model = TransformerForecaster(TransformerForecasterConfig(num_features=3, num_targets=1, lookback=8, horizon=4, num_known=2, d_model=16))
    >>> model(torch.randn(2, 12, 3)).shape
    torch.Size([2, 4, 1, 1])
    """

    def __init__(self, config: TransformerForecasterConfig) -> None:
        super().__init__()
        self.config = c = config
        self.embed = nn.Linear(c.num_features + 1, c.d_model)
        self.encoder = Transformer(c.d_model, c.num_layers, c.num_heads, c.ff_size, c.dropout,
                                   max_len=c.lookback + c.horizon, positions=c.positions, input_scale=input_scale(c))
        self.dropout = nn.Dropout(c.dropout)
        self.output = nn.Linear(c.d_model, c.num_targets * c.num_params)
        self.revin = RevIN(c.num_targets) if c.revin else None

    @classmethod
    def from_config(cls, config: TransformerForecasterConfig) -> TransformerForecaster:
        return cls(config)

    def forward(self, inputs: Tensor, targets: Tensor | None = None) -> Tensor:
        """Parameters (B, H, D, P); `targets` are accepted for the Forecaster interface and never read."""
        c = self.config
        if inputs.dim() != 3 or inputs.shape[1:] != (c.lookback + c.horizon, c.num_features):
            raise ValueError(f"inputs must be (batch, lookback + horizon = {c.lookback + c.horizon}, features = {c.num_features}); "
                             f"got {tuple(inputs.shape)}")
        batch, steps = inputs.shape[:2]
        ys, stats = inputs[..., : c.num_targets], None
        if self.revin is not None:
            _, stats = self.revin.normalise(ys[:, : c.lookback])
            ys = self.revin.apply(ys, stats)
        anchor = ys[:, c.lookback - 1 : c.lookback] if c.relative else None  # (B, 1, D)
        if anchor is not None:
            ys = ys - anchor
        future = torch.arange(steps, device=inputs.device) >= c.lookback  # (L + H,)
        ys = ys.masked_fill(future.view(1, -1, 1), 0.0)  # the unknown future stays unknown after the shifts
        flag = future.to(inputs.dtype).view(1, -1, 1).expand(batch, -1, 1)
        hidden, _ = self.encoder(self.embed(torch.cat([ys, inputs[..., c.num_targets :], flag], dim=-1)))
        params = self.output(self.dropout(hidden[:, c.lookback :])).view(batch, c.horizon, c.num_targets, c.num_params)
        if anchor is not None:
            params = shift_location(c, params, anchor)
        return params if stats is None else revin_outputs(self.revin, c, params, stats)

    def loss(self, params: Tensor, targets: Tensor) -> Tensor:
        return distribution_loss(self.config, params, targets)

    def forecast(self, params: Tensor, level: float = 0.9) -> Forecast:
        return distribution_forecast(self.config, params, level)


__all__ = ["TransformerForecaster", "TransformerForecasterConfig"]
