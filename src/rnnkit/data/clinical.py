"""Cleaned stays (`rnnkit.data.records`) as model inputs: values, mask and the time since each
variable was last observed, at the raw observation times or on a regular grid; statistics fitted on
the training split only.

Each stay becomes a (T, 3D + S) tensor laid out [values | mask | delta | static]: D variables
z-scored with the training mean and standard deviation (0 where not observed), their mask, the hours
since each one's previous observation (GRU-D's delta, reset by the previous step's mask), and S
static columns (z-scored numeric descriptors with a missing flag each, one-hot categories), the
same at every step. Nothing is filled backwards: a model sees the training mean (0) until a
variable is first observed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.records import Stay
from rnnkit.ops.fill import time_since_observed

KINDS = ("raw", "grid")
CATEGORICAL = ("Gender", "ICUType")


@dataclass(frozen=True)
class Representation:
    """raw: one step per distinct observation time. grid: bins of `bin_hours` over `window_hours`
    (bin k holds [k w, (k + 1) w); the last also holds the window's end), several values in a bin
    averaged; its time stamp is the bin's start."""

    kind: str = "raw"
    bin_hours: float = 1.0
    window_hours: float = 48.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"representation must be one of {KINDS}; got {self.kind!r}")
        if not self.bin_hours > 0 or not self.window_hours > 0:
            raise ValueError(f"bin_hours and window_hours must be positive; got {self.bin_hours}, {self.window_hours}")

    @property
    def num_bins(self) -> int:
        return max(1, math.ceil(self.window_hours / self.bin_hours - 1e-9))


@dataclass
class ClinicalScaler:
    """Variables and their training mean and std (std 1 for a variable with one value, which then
    carries information through its mask alone); numeric descriptors' mean and std; categories."""

    variables: list[str]
    mean: list[float]
    std: list[float]
    static_numeric: list[str] = field(default_factory=list)
    static_mean: list[float] = field(default_factory=list)
    static_std: list[float] = field(default_factory=list)
    static_categories: dict[str, list[float]] = field(default_factory=dict)
    mask_only: list[str] = field(default_factory=list)

    @classmethod
    def fit(cls, stays: Sequence[Stay], categorical: Sequence[str] = CATEGORICAL) -> ClinicalScaler:
        by_name: dict[str, list[float]] = {}
        for stay in stays:
            for name, value in zip(stay.names, stay.values):
                by_name.setdefault(name, []).append(value)
        if not by_name:
            raise ValueError("the training stays hold no series observation; nothing to learn from")
        variables = sorted(by_name)
        stats = [(float(np.mean(by_name[n])), float(np.std(by_name[n]))) for n in variables]
        scaler = cls(variables, [m for m, _ in stats], [s if s > 0 else 1.0 for _, s in stats],
                     mask_only=[n for n, (_, s) in zip(variables, stats) if s == 0])
        names = sorted({n for stay in stays for n in stay.static})
        for name in names:
            seen = np.array([stay.static.get(name, math.nan) for stay in stays], dtype=np.float64)
            seen = seen[~np.isnan(seen)]
            if name in categorical:
                scaler.static_categories[name] = sorted(set(seen.tolist()))
            elif len(seen):
                scaler.static_numeric.append(name)
                scaler.static_mean.append(float(seen.mean()))
                scaler.static_std.append(float(seen.std()) or 1.0)
        return scaler

    @property
    def static_columns(self) -> list[str]:
        columns = [c for n in self.static_numeric for c in (n, f"{n} missing")]
        return columns + [f"{n}={v:g}" for n, values in self.static_categories.items() for v in values]

    def standardise(self, stay: Stay) -> tuple[np.ndarray, np.ndarray]:
        """(variable index, z-scored value) of each observation of the known variables, in time order."""
        index = {n: i for i, n in enumerate(self.variables)}
        keep = [k for k, n in enumerate(stay.names) if n in index]
        columns = np.array([index[stay.names[k]] for k in keep], dtype=np.int64)
        return columns, (stay.values[keep] - np.asarray(self.mean)[columns]) / np.asarray(self.std)[columns]

    def encode_static(self, stay: Stay) -> Tensor:
        row = []
        for name, mean, std in zip(self.static_numeric, self.static_mean, self.static_std):
            value = stay.static.get(name, math.nan)
            row += [0.0, 1.0] if math.isnan(value) else [(value - mean) / std, 0.0]
        for name, values in self.static_categories.items():
            value = stay.static.get(name, math.nan)
            row += [1.0 if value == v else 0.0 for v in values]
        return torch.tensor(row, dtype=torch.float32)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ClinicalScaler:
        return cls(**data)


@dataclass
class ClinicalSet:
    """Encoded stays: ids, per-stay (T_i, 3D + S) tensors, their time stamps (T_i,), labels (N,) or None."""

    ids: list[str]
    inputs: list[Tensor]
    times: list[Tensor]
    labels: Tensor | None
    num_variables: int
    num_static: int

    def parts(self, i: int) -> dict[str, Tensor]:
        """values, mask, delta (T, D) and static (S,) of stay i."""
        d = self.num_variables
        x = self.inputs[i]
        return {"values": x[:, :d], "mask": x[:, d:2 * d], "delta": x[:, 2 * d:3 * d], "static": x[0, 3 * d:]}


def observations(stay: Stay, scaler: ClinicalScaler, rep: Representation) -> tuple[Tensor, Tensor, Tensor]:
    """(times (T,), z-scored values (T, D) with 0 where unobserved, mask (T, D)) of one stay. A stay
    without observations (in raw form) is one step at time 0 with nothing observed."""
    columns, z = scaler.standardise(stay)
    d = len(scaler.variables)
    if rep.kind == "raw":
        times, step = np.unique(stay.times, return_inverse=True)
        if len(times) == 0:
            times, step = np.zeros(1), step
    else:
        times = np.arange(rep.num_bins) * rep.bin_hours
        step = np.minimum((stay.times // rep.bin_hours).astype(np.int64), rep.num_bins - 1)
    sums, counts = np.zeros((len(times), d)), np.zeros((len(times), d))
    np.add.at(sums, (step, columns), z)
    np.add.at(counts, (step, columns), 1)
    values = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    return (torch.tensor(times, dtype=torch.float32), torch.tensor(values, dtype=torch.float32),
            torch.tensor(counts > 0, dtype=torch.float32))


def encode(stays: Sequence[Stay], scaler: ClinicalScaler, rep: Representation, labels: np.ndarray | None = None,
           unknown: str = "error", source: str = "records") -> ClinicalSet:
    """Stays -> ClinicalSet. Variables the scaler does not know are an error listing them, or with
    unknown="ignore" are left out."""
    known = set(scaler.variables)
    strange = sorted({n for s in stays for n in s.names if n not in known})
    if strange and unknown != "ignore":
        raise ValueError(f"{source}: variables the model was not trained on: {strange[:10]}"
                         f"{' ...' if len(strange) > 10 else ''} (known: {len(known)}); "
                         "leave them out with --ignore-unknown")
    inputs, all_times = [], []
    for stay in stays:
        if strange:
            stay = stay.only(known)
        times, values, mask = observations(stay, scaler, rep)
        delta = time_since_observed(times.unsqueeze(0), mask.unsqueeze(0))[0]
        static = scaler.encode_static(stay).expand(len(times), -1)
        inputs.append(torch.cat([values, mask, delta, static], dim=1))
        all_times.append(times)
    label_tensor = None if labels is None else torch.as_tensor(labels, dtype=torch.float32)
    return ClinicalSet([s.id for s in stays], inputs, all_times, label_tensor, len(scaler.variables),
                       len(scaler.static_columns))


SUMMARIES = ("last", "mean", "min", "max", "log_count", "present")


def summary_features(stays: Sequence[Stay], scaler: ClinicalScaler) -> Tensor:
    """(N, 6D + S) per-stay summaries for a logistic-regression baseline: for each variable its last,
    mean, min and max z-scored value (0, the training mean, when never observed), log(1 + count),
    and whether it was observed at all; then the static columns."""
    d = len(scaler.variables)
    rows = []
    for stay in stays:
        feats = np.zeros((len(SUMMARIES), d))
        columns, z = scaler.standardise(stay)
        for c in np.unique(columns):
            v = z[columns == c]  # in time order
            feats[:, c] = [v[-1], v.mean(), v.min(), v.max(), np.log1p(len(v)), 1.0]
        rows.append(torch.cat([torch.tensor(feats.ravel(), dtype=torch.float32), scaler.encode_static(stay)]))
    return torch.stack(rows)
