"""Forecasting baselines every RNN forecast is printed next to: persistence (the last value),
seasonal naive (the value one season earlier) and a linear model on the lookback window, fitted by
least squares on training windows only (one map shared by all target channels, as in DLinear's
"NLinear/Linear" family).

All take windows in data.windows' layout, inputs (B, L + H, F), and return forecasts (B, H, D).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn


def persistence(inputs: Tensor, lookback: int, horizon: int, num_targets: int) -> Tensor:
    """Every future step equals the last observed value."""
    return inputs[:, lookback - 1 : lookback, :num_targets].expand(-1, horizon, -1)


def seasonal_naive(inputs: Tensor, lookback: int, horizon: int, num_targets: int, season: int) -> Tensor:
    """y_hat[t + j] = y[t + j - season * (floor(j / season) + 1)]: the last observed season, repeated."""
    if not 1 <= season <= lookback:
        raise ValueError(f"season must be in [1, lookback = {lookback}] to repeat the last season; got {season}")
    steps = lookback - season + torch.arange(horizon) % season
    return inputs[:, steps, :num_targets]


def infer_season(values: np.ndarray, max_lag: int, candidates: tuple[int, ...] = ()) -> int:
    """A season length for (N, D) training values, from their autocorrelation (averaged over columns):
    the natural `candidates` (e.g. a day and a week in time steps) that fit in `max_lag` win if one of
    them correlates (above max(0.1, 3 / sqrt(N))), the best-correlated; else the highest local maximum in [2, max_lag]; else 1."""
    values = np.asarray(values, dtype=np.float64)
    values = values.reshape(len(values), -1) - values.reshape(len(values), -1).mean(axis=0)
    max_lag = min(max_lag, len(values) // 2)
    if max_lag < 2:
        return 1
    power = (values**2).sum(axis=0)
    power[power == 0] = 1.0
    acf = np.array([((values[lag:] * values[:-lag]).sum(axis=0) / power).mean() for lag in range(1, max_lag + 1)])
    threshold = max(0.1, 3 / np.sqrt(len(values)))  # above what white noise reaches by chance
    natural = [lag for lag in candidates if 2 <= lag <= max_lag and acf[lag - 1] > threshold]
    if natural:
        return max(natural, key=lambda lag: acf[lag - 1])
    peaks = [lag for lag in range(2, max_lag) if acf[lag - 1] > acf[lag - 2] and acf[lag - 1] >= acf[lag] and acf[lag - 1] > threshold]
    return max(peaks, key=lambda lag: acf[lag - 1]) if peaks else 1


class LinearBaseline(nn.Module):
    """y_hat[t + j] = sum_i W[j, i] y[t - L + i] + b[j] for each target channel (shared W, b), fitted by
    ridge-regularised least squares on the training windows.

    >>> model = LinearBaseline(lookback=4, horizon=2)
    >>> model(torch.zeros(3, 6, 1), num_targets=1).shape
    torch.Size([3, 2, 1])
    """

    def __init__(self, lookback: int, horizon: int) -> None:
        super().__init__()
        self.lookback, self.horizon = lookback, horizon
        self.weight = nn.Parameter(torch.zeros(horizon, lookback), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(horizon), requires_grad=False)

    @torch.no_grad()
    def fit(self, past: Tensor, future: Tensor, ridge: float = 1e-3) -> LinearBaseline:
        """past (N, L, D) and future (N, H, D) of training windows; every channel is one more example."""
        x = past.permute(0, 2, 1).reshape(-1, self.lookback).double()
        y = future.permute(0, 2, 1).reshape(-1, self.horizon).double()
        x = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)
        gram = x.T @ x + ridge * len(x) * torch.eye(x.shape[1], dtype=x.dtype)
        solution = torch.linalg.solve(gram, x.T @ y)  # (L + 1, H)
        self.weight.copy_(solution[:-1].T.float())
        self.bias.copy_(solution[-1].float())
        return self

    def forward(self, inputs: Tensor, num_targets: int) -> Tensor:
        past = inputs[:, : self.lookback, :num_targets].transpose(1, 2)  # (B, D, L)
        return (past @ self.weight.T + self.bias).transpose(1, 2)
