"""Forecasting windows over one long series: chronological splits, a scaler fitted on the training
rows only, and batches of (lookback, horizon) windows cut on the fly.

Feature layout, shared with models.Forecaster: columns [targets (D) | past-only covariates (P) |
known-future covariates (K)]. A window is rows [t - L, t + H) of that array; its forecast origin t is
the first target row. Before a window leaves this module the future part of every column that is not
known in advance (targets and past-only covariates) is zeroed, so no model can see the future.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.batches import Batch, epoch_order


@dataclass(frozen=True)
class Split:
    """Row boundaries: train [0, train_end), validation [train_end, val_end), test [val_end, end)."""

    train_end: int
    val_end: int
    end: int

    def part(self, name: str) -> tuple[int, int]:
        """First and one-past-last target row of part `name` (train, val, test or all)."""
        bounds = {"train": (0, self.train_end), "val": (self.train_end, self.val_end), "test": (self.val_end, self.end), "all": (0, self.end)}
        if name not in bounds:
            raise ValueError(f"part must be one of {sorted(bounds)}; got {name!r}")
        return bounds[name]


def split_rows(n: int, fractions: tuple[float, float, float] | None = None, rows: tuple[int, int, int] | None = None,
               starts: tuple[int, int] | None = None) -> Split:
    """A chronological split of `n` rows by fractions (train, val, test), by row counts, or by the rows
    where validation and test start (from dates). Parts follow each other in time."""
    if rows is not None:
        if min(rows) < 1 or sum(rows) > n:
            raise ValueError(f"split rows {rows} need positive counts summing to at most the {n} rows of the series")
        return Split(rows[0], rows[0] + rows[1], sum(rows))
    if starts is not None:
        val_start, test_start = starts
        if not 0 < val_start < test_start < n:
            raise ValueError(f"validation must start after the first row and before the test part, which must start before "
                             f"the last row; got validation at row {val_start}, test at row {test_start} of {n}")
        return Split(val_start, test_start, n)
    fractions = fractions or (0.7, 0.1, 0.2)
    if len(fractions) != 3 or min(fractions) <= 0 or sum(fractions) > 1 + 1e-9:
        raise ValueError(f"split fractions must be three positive numbers (train, val, test) summing to at most 1; got {fractions}")
    train_end = int(n * fractions[0])
    val_end = train_end + int(n * fractions[1])
    return Split(train_end, val_end, min(n, val_end + int(round(n * fractions[2]))))


def window_origins(split: Split, part: str, lookback: int, horizon: int, stride: int = 1) -> np.ndarray:
    """Forecast origins t of the windows whose targets [t, t + H) lie inside `part`, inputs [t - L, t)
    anywhere before t (validation and test windows reach back into earlier parts, as in Informer)."""
    start, end = split.part(part)
    first = max(start, lookback)
    last = end - horizon
    if last < first:
        raise ValueError(f"the {part} part (rows {start}-{end - 1}) is too short for one window of lookback {lookback} + "
                         f"horizon {horizon}; use a shorter lookback/horizon or a larger {part} part")
    return np.arange(first, last + 1, stride)


@dataclass
class Scaler:
    """Per-column z-scores with the mean and standard deviation of the training rows."""

    mean: list[float]
    std: list[float]

    @classmethod
    def fit(cls, values: np.ndarray) -> Scaler:
        std = values.std(axis=0)
        return cls(values.mean(axis=0).tolist(), np.where(std > 0, std, 1.0).tolist())

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - np.asarray(self.mean)) / np.asarray(self.std)

    def inverse(self, values, columns: slice = slice(None)):
        """Back to the original scale; `values` (..., C) of the columns `columns` (tensor or array)."""
        mean, std = np.asarray(self.mean)[columns], np.asarray(self.std)[columns]
        if isinstance(values, Tensor):
            mean, std = torch.as_tensor(mean, dtype=values.dtype), torch.as_tensor(std, dtype=values.dtype)
        return values * std + mean


class WindowBatches:
    """Batches of windows for `fit`: inputs (B, L + H, F) with the unknown future zeroed, targets (B, H, D).

    features: (N, F) scaled array in the layout [targets | past covariates | known covariates];
    origins: forecast origins (see window_origins); `num_known` trailing columns stay visible in the future.

    >>> data = WindowBatches(torch.arange(20.).view(10, 2), [4, 5], lookback=3, horizon=2, num_targets=1, batch_size=2, num_known=1)
    >>> batch = next(data.batches(epoch=0, seed=0))
    >>> batch.inputs[0, :, 0].tolist(), batch.inputs[0, :, 1].tolist(), batch.targets[0, :, 0].tolist()
    ([2.0, 4.0, 6.0, 0.0, 0.0], [3.0, 5.0, 7.0, 9.0, 11.0], [8.0, 10.0])
    """

    def __init__(self, features, origins, *, lookback: int, horizon: int, num_targets: int, batch_size: int,
                 num_known: int = 0, shuffle: bool = True) -> None:
        self.features = torch.as_tensor(np.asarray(features), dtype=torch.float32)
        self.origins = torch.as_tensor(np.asarray(origins), dtype=torch.long)
        if len(self.origins) == 0:
            raise ValueError("no windows: the series is too short for lookback + horizon")
        if int(self.origins.min()) < lookback or int(self.origins.max()) + horizon > len(self.features):
            raise ValueError(f"window origins must lie in [{lookback}, {len(self.features) - horizon}] for lookback {lookback}, "
                             f"horizon {horizon} and {len(self.features)} rows")
        self.lookback, self.horizon, self.num_targets, self.num_known = lookback, horizon, num_targets, num_known
        self.batch_size, self.shuffle = batch_size, shuffle
        self.offsets = torch.arange(-lookback, horizon)

    def __len__(self) -> int:
        return -(-len(self.origins) // self.batch_size)

    def batches(self, epoch: int, seed: int, start: int = 0, rank: int = 0, world_size: int = 1) -> Iterator[Batch]:
        order = epoch_order(len(self.origins), epoch, seed, self.shuffle)
        for index in range(start, len(self)):
            rows = order[index * self.batch_size : (index + 1) * self.batch_size][rank::world_size]
            yield self.collate(rows)

    def collate(self, rows: Tensor) -> Batch:
        windows = self.features[self.origins[rows].unsqueeze(1) + self.offsets]  # (B, L + H, F)
        targets = windows[:, self.lookback :, : self.num_targets].clone()
        hidden = windows.shape[2] - self.num_known
        windows[:, self.lookback :, :hidden] = 0.0
        return Batch(windows, targets)
