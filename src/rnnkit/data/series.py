"""Numeric sequences with labels: the UCR/UEA `.ts` format, label-first numeric tables (.csv, .tsv,
.txt, as the UCR archive ships them) and NPZ; per-channel standardisation fitted on training data.

Every series is a (T_i, C) float tensor; lengths may differ. Problems are reported with the file and
line (or row) where they are found.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor


@dataclass
class Series:
    """Labelled numeric sequences: each of `values` is (T_i, C); `labels` are strings."""

    values: list[Tensor]
    labels: list[str]
    source: str

    @property
    def channels(self) -> int:
        return self.values[0].shape[1]


def read_series(path: Path) -> Series:
    """By suffix: .ts (UCR/UEA), .npz (arrays X (N, T[, C]) and y (N,)), else a label-first table."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix == ".ts":
        return read_ts(path)
    if path.suffix == ".npz":
        return read_npz(path)
    return read_table(path)


def read_ts(path: Path) -> Series:
    """The UCR/UEA .ts format: @-headers, then one series a line, channels separated by ':',
    values by ',', the class label last; '?' (or NaN) marks a missing value."""
    values, labels, in_data, class_labels = [], [], False, True
    for number, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise ValueError(f"{path}, line {number}: expected a @header or @data before the series; got {line[:40]!r}")
            key = line.split()[0].lower()
            if key == "@data":
                in_data = True
            elif key == "@classlabel":
                class_labels = len(line.split()) > 1 and line.split()[1].lower() == "true"
            continue
        fields = line.split(":")
        if class_labels and len(fields) < 2:
            raise ValueError(f"{path}, line {number}: expected channels separated by ':' and a class label last")
        channels = fields[:-1] if class_labels else fields
        try:
            columns = [[_number(v) for v in channel.split(",")] for channel in channels]
        except ValueError as err:
            raise ValueError(f"{path}, line {number}: {err}") from None
        length = max(len(c) for c in columns)
        padded = [c + [math.nan] * (length - len(c)) for c in columns]  # unequal channels: pad with missing
        series = torch.tensor(padded, dtype=torch.float32).T  # (T, C)
        if values and series.shape[1] != values[0].shape[1]:
            raise ValueError(f"{path}, line {number}: {series.shape[1]} channels, but earlier series have {values[0].shape[1]}")
        values.append(series)
        labels.append(_label(fields[-1].strip()) if class_labels else "")
    if not in_data:
        raise ValueError(f"{path}: no @data line; is this a .ts file?")
    if not values:
        raise ValueError(f"{path} holds no series after @data")
    return Series(values, labels, str(path))


def _number(text: str) -> float:
    text = text.strip()
    if text in ("?", "", "NaN", "nan"):
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{text[:20]!r} is not a number") from None


def read_table(path: Path) -> Series:
    """One univariate series a row, the label first; commas, tabs or spaces between values."""
    series, labels = [], []
    for number, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        fields = line.replace(",", " ").replace("\t", " ").split()
        if len(fields) < 2:
            raise ValueError(f"{path}, line {number}: expected a label and at least one value")
        try:
            row = [_number(v) for v in fields[1:]]
        except ValueError as err:
            raise ValueError(f"{path}, line {number}: {err}") from None
        series.append(torch.tensor(row, dtype=torch.float32).unsqueeze(1))
        labels.append(_label(fields[0]))
    if not series:
        raise ValueError(f"{path} is empty: there are no series to read")
    return Series(series, labels, str(path))


def _label(text: str) -> str:
    """'1.0' and '1' name the same class."""
    try:
        value = float(text)
    except ValueError:
        return text
    return str(int(value)) if value.is_integer() else text


def read_npz(path: Path) -> Series:
    with np.load(path, allow_pickle=False) as data:
        if "X" not in data or "y" not in data:
            raise ValueError(f"{path}: expected arrays named X (N, T[, C]) and y (N,); found {sorted(data.files)}")
        x, y = data["X"], data["y"]
        lengths = data["lengths"] if "lengths" in data else None
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim != 3 or len(y) != len(x):
        raise ValueError(f"{path}: X must be (N, T) or (N, T, C) with one y per row; got X {x.shape}, y {y.shape}")
    values = [torch.from_numpy(np.asarray(x[i][: (lengths[i] if lengths is not None else x.shape[1])], dtype=np.float32)) for i in range(len(x))]
    return Series(values, [_label(str(v)) for v in y], str(path))


def fill_missing(series: Series, how: str | None) -> Series:
    """NaNs: an error naming the first series (how=None), or filled: "zero" (the mean, once
    standardised) or "ffill" (the last value seen in that channel, the first one before it)."""
    filled = []
    for index, values in enumerate(series.values):
        if not torch.isnan(values).any():
            filled.append(values)
            continue
        if how is None:
            raise ValueError(f"{series.source}: series {index + 1} has missing values (NaN or '?'); pass --fill-missing zero or ffill")
        filled.append(torch.nan_to_num(values, nan=0.0) if how == "zero" else _forward_fill(values))
    return Series(filled, series.labels, series.source)


def _forward_fill(values: Tensor) -> Tensor:
    out = values.clone()
    for channel in range(out.shape[1]):
        column = out[:, channel]
        valid = ~torch.isnan(column)
        if not valid.any():
            column.zero_()
            continue
        index = torch.where(valid, torch.arange(len(column)), torch.zeros(len(column), dtype=torch.long))
        index = torch.cummax(index, dim=0).values
        first = int(valid.nonzero()[0])
        index[:first] = first
        out[:, channel] = column[index]
    return out


@dataclass(frozen=True)
class Standardizer:
    """Per-channel z-scores with the training data's mean and standard deviation."""

    mean: list[float]
    std: list[float]

    @classmethod
    def fit(cls, values: list[Tensor]) -> Standardizer:
        stacked = torch.cat(values, dim=0).double()  # (sum T, C)
        std = stacked.std(dim=0, unbiased=False)
        return cls(stacked.mean(dim=0).tolist(), torch.where(std > 0, std, torch.ones_like(std)).tolist())

    def __call__(self, values: Tensor) -> Tensor:
        if values.shape[1] != len(self.mean):
            raise ValueError(f"series have {values.shape[1]} channels; the model was trained on {len(self.mean)}")
        return (values - torch.tensor(self.mean, dtype=values.dtype)) / torch.tensor(self.std, dtype=values.dtype)
