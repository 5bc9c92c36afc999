"""Multi-horizon forecasting: a recurrent encoder over the lookback window and either a direct
multi-horizon head or an autoregressive decoder (sequence to sequence), with a point, Gaussian or
quantile output.

Inputs follow data.windows' layout: (B, L + H, F) with columns [targets (D) | past covariates (P) |
known covariates (K)] and the unknown future zeroed. With `relative=True` the model works on each
target's change from its last observed value (added back to every output), which keeps it honest
under level shifts between training and test periods.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.layers import RECURRENT_LAYERS, check_regularisers, recurrent_layer
from rnnkit.layers.revin import RevIN

HEADS = ("direct", "autoregressive")
DISTRIBUTIONS = ("point", "gaussian", "quantile")


@dataclass(frozen=True)
class ForecasterConfig:
    """num_features F = num_targets D + past covariates + `num_known` K; `head` in direct |
    autoregressive; `distribution` in point (MSE) | gaussian (NLL) | quantile (pinball loss over
    `quantiles`); `teacher_forcing`: the chance an autoregressive decoder is fed the true previous value
    in training (1.0 runs the decoder in one call); `highway` adds a linear map from each target's
    lookback window to its forecast (LSTNet's autoregressive component), which the RNN corrects;
    `revin` normalises each window's targets by their own lookback statistics (layers.RevIN) and maps
    the outputs back."""

    num_features: int
    num_targets: int
    lookback: int
    horizon: int
    num_known: int = 0
    cell: str = "lstm"
    hidden_size: int = 64
    num_layers: int = 1
    dropout: float = 0.1
    head: str = "direct"
    distribution: str = "point"
    quantiles: tuple[float, ...] = (0.05, 0.5, 0.95)
    relative: bool = True
    teacher_forcing: float = 1.0
    highway: bool = True
    revin: bool = False

    regularisers: dict = field(default_factory=dict)  # recurrent-layer regularisers (layers.REGULARISERS)

    def __post_init__(self) -> None:
        check_regularisers(self.regularisers)
        for name, value, options in (("head", self.head, HEADS), ("distribution", self.distribution, DISTRIBUTIONS),
                                     ("cell", self.cell, tuple(RECURRENT_LAYERS))):
            if value not in options:
                raise ValueError(f"{name} must be one of {options}; got {value!r}")
        if not 1 <= self.num_targets <= self.num_features - self.num_known:
            raise ValueError(f"num_targets must be in [1, num_features - num_known]; got {self.num_targets} of "
                             f"{self.num_features} features with {self.num_known} known")
        if self.lookback < 1 or self.horizon < 1:
            raise ValueError(f"lookback and horizon must be at least 1; got {self.lookback}, {self.horizon}")
        check_quantiles(self)
        if not 0.0 <= self.teacher_forcing <= 1.0:
            raise ValueError(f"teacher_forcing must be in [0, 1]; got {self.teacher_forcing}")

    @property
    def num_params(self) -> int:
        """Outputs per target and step: 1 (point), 2 (mean, scale) or one per quantile."""
        return num_params(self)


@dataclass
class Forecast:
    """mean (B, H, D): the point forecast (the median for quantiles); lower/upper (B, H, D): the
    prediction interval at `level`, or None for point forecasts."""

    mean: Tensor
    lower: Tensor | None = None
    upper: Tensor | None = None
    level: float | None = None


class Forecaster(nn.Module):
    """inputs (B, L + H, F) -> distribution parameters (B, H, D, P).

        h = RNN_enc(x_{t-L..t-1})
        direct:          params = W [h ; known_{t..t+H-1}] + b                       (all steps at once)
        autoregressive:  s_0 = h;  s_j = RNN_dec([y_{j-1} ; known_j], s_{j-1});  params_j = W s_j + b
        highway:         location += A y_{t-L..t-1} + a     (per target, A shared by all targets)

    >>> model = Forecaster(ForecasterConfig(num_features=3, num_targets=1, lookback=8, horizon=4, num_known=2))
    >>> model(torch.randn(2, 12, 3)).shape
    torch.Size([2, 4, 1, 1])
    """

    def __init__(self, config: ForecasterConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        layer = partial(recurrent_layer, c.cell, regularisers=c.regularisers)
        between = c.dropout if c.num_layers > 1 else 0.0
        self.encoder = layer(c.num_features, c.hidden_size, num_layers=c.num_layers, dropout=between)
        self.dropout = nn.Dropout(c.dropout)
        if c.head == "direct":
            self.decoder = None
            self.output = nn.Linear(c.hidden_size + c.horizon * c.num_known, c.horizon * c.num_targets * c.num_params)
        else:
            self.decoder = layer(c.num_targets + c.num_known, c.hidden_size, num_layers=c.num_layers, dropout=between)
            self.output = nn.Linear(c.hidden_size, c.num_targets * c.num_params)
        self.highway = nn.Linear(c.lookback, c.horizon) if c.highway else None
        self.revin = RevIN(c.num_targets) if c.revin else None

    @classmethod
    def from_config(cls, config: ForecasterConfig) -> Forecaster:
        return cls(config)

    def _check(self, inputs: Tensor) -> None:
        c = self.config
        if inputs.dim() != 3 or inputs.shape[1:] != (c.lookback + c.horizon, c.num_features):
            raise ValueError(f"inputs must be (batch, lookback + horizon = {c.lookback + c.horizon}, features = {c.num_features}); "
                             f"got {tuple(inputs.shape)}")

    def forward(self, inputs: Tensor, targets: Tensor | None = None) -> Tensor:
        """Parameters (B, H, D, P), on the scale of the inputs. `targets` (B, H, D) feed an
        autoregressive decoder in training (teacher forcing); they are never read otherwise."""
        self._check(inputs)
        c = self.config
        past, known = inputs[:, : c.lookback], inputs[:, c.lookback :, c.num_features - c.num_known :]
        stats = None
        if self.revin is not None:
            normalised, stats = self.revin.normalise(past[..., : c.num_targets])
            past = torch.cat([normalised, past[..., c.num_targets :]], dim=-1)
            targets = None if targets is None else self.revin.apply(targets, stats)
        anchor = past[:, -1:, : c.num_targets] if c.relative else None  # (B, 1, D)
        if anchor is not None:
            past = torch.cat([past[..., : c.num_targets] - anchor, past[..., c.num_targets :]], dim=-1)
        _, state = self.encoder(past)
        base = None  # the highway's linear forecast (B, H, D), on the relative scale
        if self.highway is not None:
            base = self.highway(past[..., : c.num_targets].transpose(1, 2)).transpose(1, 2)
        if self.decoder is None:
            h = state[0] if isinstance(state, tuple) else state  # (layers, B, H)
            features = torch.cat([self.dropout(h[-1]), known.flatten(1)], dim=1)
            params = self._shift(self.output(features).view(-1, c.horizon, c.num_targets, c.num_params), base)
        else:
            relative_targets = None if targets is None else (targets - anchor if anchor is not None else targets)
            params = self._decode(state, known, relative_targets, base)
        params = self._shift(params, anchor)
        return params if stats is None else revin_outputs(self.revin, self.config, params, stats)

    def _decode(self, state, known: Tensor, targets: Tensor | None, base: Tensor | None) -> Tensor:
        """Decoder outputs (+ the highway's `base`), each step fed the previous value: the true one
        when teacher-forced, else its own point forecast."""
        c = self.config
        batch = known.shape[0]
        start = known.new_zeros(batch, 1, c.num_targets)  # the last observed value, on the relative scale
        if targets is not None and self.training and c.teacher_forcing >= 1.0:
            previous = torch.cat([start, targets[:, :-1]], dim=1)
            ys, _ = self.decoder(torch.cat([previous, known], dim=-1), state)
            return self._shift(self.output(self.dropout(ys)).view(batch, c.horizon, c.num_targets, c.num_params), base)
        outputs, previous = [], start
        for j in range(c.horizon):
            ys, state = self.decoder(torch.cat([previous, known[:, j : j + 1]], dim=-1), state)
            params = self.output(self.dropout(ys)).view(batch, 1, c.num_targets, c.num_params)
            params = self._shift(params, None if base is None else base[:, j : j + 1])
            outputs.append(params)
            previous = self._point(params).detach()
            if targets is not None and self.training and torch.rand(()) < c.teacher_forcing:
                previous = targets[:, j : j + 1]
        return torch.cat(outputs, dim=1)

    def _shift(self, params: Tensor, anchor: Tensor | None) -> Tensor:
        return params if anchor is None else shift_location(self.config, params, anchor)

    def _point(self, params: Tensor) -> Tensor:
        return point_forecast(self.config, params)

    def loss(self, params: Tensor, targets: Tensor) -> Tensor:
        """Mean loss of parameters (B, H, D, P) against targets (B, H, D): MSE, Gaussian NLL or pinball."""
        return distribution_loss(self.config, params, targets)

    def forecast(self, params: Tensor, level: float = 0.9) -> Forecast:
        """The point forecast and, for probabilistic outputs, the interval (see distribution_forecast)."""
        return distribution_forecast(self.config, params, level)


# -- the output distributions, shared by every forecaster (config: distribution, quantiles) ------------------
def check_quantiles(config) -> None:
    q = config.quantiles
    if config.distribution == "quantile" and (not q or not all(0 < v < 1 for v in q) or any(a >= b for a, b in zip(q, q[1:]))):
        raise ValueError(f"quantiles must be increasing numbers in (0, 1); got {q}")


def num_params(config) -> int:
    """Outputs per target and step: 1 (point), 2 (mean, scale) or one per quantile."""
    return {"point": 1, "gaussian": 2, "quantile": len(config.quantiles)}[config.distribution]


def shift_location(config, params: Tensor, anchor: Tensor) -> Tensor:
    """Add `anchor` (B, 1 or H, D) to the location parameters (B, H, D, P), not to a Gaussian's scale."""
    shift = anchor.unsqueeze(-1)  # (B, 1 or H, D, 1)
    if config.distribution == "gaussian":
        return torch.cat([params[..., :1] + shift, params[..., 1:]], dim=-1)
    return params + shift


def revin_outputs(revin: RevIN, config, params: Tensor, stats) -> Tensor:
    """Distribution parameters (B, H, D, P) on RevIN's normalised scale -> the inputs' scale: the
    locations (every quantile) through revin.denormalise; a Gaussian's raw scale so that _scale()
    of it is the spread mapped back."""
    if config.distribution != "gaussian":
        return revin.denormalise(params, stats)
    location = revin.denormalise(params[..., :1], stats)
    spread = revin.scale(_scale(params[..., 1:]), stats).clamp_min(2e-4) - 1e-4
    return torch.cat([location, spread + torch.log(-torch.expm1(-spread))], dim=-1)  # softplus^-1


def point_forecast(config, params: Tensor) -> Tensor:
    """(B, H, D): the location (point and Gaussian) or the median quantile."""
    if config.distribution == "quantile":
        return params[..., _median_index(config.quantiles)]
    return params[..., 0]


def _median_index(quantiles: tuple[float, ...]) -> int:
    return min(range(len(quantiles)), key=lambda i: abs(quantiles[i] - 0.5))


def distribution_loss(config, params: Tensor, targets: Tensor) -> Tensor:
    """Mean loss of parameters (B, H, D, P) against targets (B, H, D): MSE, Gaussian NLL or pinball."""
    if config.distribution == "point":
        return F.mse_loss(params[..., 0], targets)
    if config.distribution == "gaussian":
        return F.gaussian_nll_loss(params[..., 0], targets, _scale(params[..., 1]) ** 2, full=True)
    q = torch.tensor(config.quantiles, dtype=params.dtype, device=params.device)
    error = targets.unsqueeze(-1) - params  # (B, H, D, Q)
    return torch.maximum(q * error, (q - 1) * error).mean()


def distribution_forecast(config, params: Tensor, level: float = 0.9) -> Forecast:
    """The point forecast and, for probabilistic outputs, the interval: mean +- z sigma (Gaussian) at
    `level`, or the lowest and highest quantiles (their spread sets the level)."""
    if config.distribution == "point":
        return Forecast(params[..., 0])
    if config.distribution == "gaussian":
        z = math.sqrt(2.0) * torch.erfinv(torch.tensor(level, dtype=torch.float64)).item()
        mean, sigma = params[..., 0], _scale(params[..., 1])
        return Forecast(mean, mean - z * sigma, mean + z * sigma, level)
    ordered = params.sort(dim=-1).values  # crossing quantiles are rearranged into order
    index = _median_index(config.quantiles)
    return Forecast(ordered[..., index], ordered[..., 0], ordered[..., -1], config.quantiles[-1] - config.quantiles[0])


def _scale(raw: Tensor) -> Tensor:
    return F.softplus(raw) + 1e-4
