"""Forecasting data as the model sees it: the data config (columns, time parsing, window sizes, split
rule, panel id), and a table turned into scaled features with its chronological split and windows.

Columns: targets (forecast), past-only covariates (seen in the lookback only), known-future covariates
(seen in the horizon too: user columns and, on request, calendar features from the timestamps).
The split is chronological (fractions, row counts or start dates); the scaler is fitted on the
training rows only.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.data.timeseries import (
    Table,
    calendar_features,
    read_rows,
    table_from_rows,
    time_step,
)
from rnnkit.data.timestamps import TimeParsing, parse_time
from rnnkit.data.windows import Scaler, Split, WindowBatches, split_rows, window_origins

TASK = "forecast"


@dataclass(frozen=True)
class ForecastDataConfig:
    """What to read and how to cut it. The split is `split_rows` (train, val, test counts) if given, else
    `val_start`/`test_start` dates, else `split` fractions; `stride` spaces training windows.
    `time_format`, `dayfirst`, `time_unit`: how to read the time column (data.timestamps.TimeParsing);
    `id_column`: the table is a panel of many series (see panel.py), `id_features` gives the model
    each series' identity."""

    targets: tuple[str, ...]
    time_column: str | None = None
    id_column: str | None = None
    id_features: bool = False
    time_format: str | None = None
    dayfirst: bool | None = None
    time_unit: str | None = None
    covariates: tuple[str, ...] = ()
    known: tuple[str, ...] = ()
    calendar: bool = False
    lookback: int = 96
    horizon: int = 24
    stride: int = 1
    split: tuple[float, float, float] = (0.7, 0.1, 0.2)
    split_rows: tuple[int, int, int] | None = None
    val_start: str | None = None
    test_start: str | None = None
    fill: str | None = None
    season: int | None = None
    batch_size: int = 64
    level: float = 0.9

    def __post_init__(self) -> None:
        if not self.targets:
            raise ValueError("give at least one target column (--target NAME)")
        named = [*self.targets, *self.covariates, *self.known]
        repeated = sorted({n for n in named if named.count(n) > 1})
        if repeated:
            raise ValueError(f"column(s) {repeated} are named more than once among targets, covariates and known covariates")
        if self.calendar and not self.time_column:
            raise ValueError("calendar features need a time column (--time-column NAME)")
        if self.id_features and not self.id_column:
            raise ValueError("series identity features need an id column (--id-column NAME)")
        if self.id_column and self.split_rows is not None:
            raise ValueError("--split-rows counts rows of one series; a panel (--id-column) splits each series by --split "
                             "fractions or --val-start/--test-start dates")
        if self.id_column and self.id_column in (*self.targets, *self.covariates, *self.known, self.time_column):
            raise ValueError(f"the id column {self.id_column!r} is also named as a time, target or covariate column")
        if (self.val_start is None) != (self.test_start is None):
            raise ValueError("give both --val-start and --test-start, or neither")
        if self.lookback < 1 or self.horizon < 1 or self.stride < 1:
            raise ValueError(f"lookback, horizon and stride must be at least 1; got {self.lookback}, {self.horizon}, {self.stride}")
        if not 0 < self.level < 1:
            raise ValueError(f"level must be in (0, 1); got {self.level}")

    @property
    def columns(self) -> list[str]:
        return [*self.targets, *self.covariates, *self.known]

    @property
    def time_parsing(self) -> TimeParsing:
        return TimeParsing(self.time_format, self.dayfirst, self.time_unit)

    def table(self, header: list[str], rows: list[list[str]], source: str, lines=None) -> Table:
        """The rows as a validated Table of this config's columns, times read its way."""
        return table_from_rows(header, rows, source, self.columns, self.time_column, self.fill, self.time_parsing, lines)

    @classmethod
    def from_dict(cls, values: dict) -> ForecastDataConfig:
        """From JSON, where the tuples came back as lists."""
        tuples = ("targets", "covariates", "known", "split", "split_rows")
        return cls(**{k: tuple(v) if k in tuples and v is not None else v for k, v in values.items()})


@dataclass
class Frame:
    """A table turned into model features (N, F) in the layout [targets | covariates | known | calendar]."""

    table: Table
    features: np.ndarray
    names: list[str]
    split: Split
    scaler: Scaler
    num_known: int


def make_split(table: Table, config: ForecastDataConfig) -> Split:
    n = len(table.values)
    if config.split_rows is not None:
        return split_rows(n, rows=config.split_rows)
    if config.val_start is not None:
        if not table.is_datetime:
            raise ValueError("--val-start/--test-start need a time column of dates; use --split or --split-rows instead")
        starts = [int(np.searchsorted(table.times, parse_time(d, config.time_parsing))) for d in (config.val_start, config.test_start)]
        return split_rows(n, starts=tuple(starts))
    return split_rows(n, fractions=config.split)


def make_frame(table: Table, config: ForecastDataConfig, scaler: Scaler | None = None) -> Frame:
    """Scale the table's columns (fitting the scaler on the training rows unless given) and add the
    calendar features."""
    split = make_split(table, config)
    if scaler is None:
        scaler = Scaler.fit(table.values[: split.train_end])
    if len(scaler.mean) != table.values.shape[1]:
        raise ValueError(f"{table.source} gives {table.values.shape[1]} columns; the run was trained on {len(scaler.mean)}")
    features, names = scaler.transform(table.values), list(table.columns)
    if config.calendar:
        calendar, calendar_names = calendar_features(table.times, time_step(table.times))
        features, names = np.concatenate([features, calendar], axis=1), names + calendar_names
    num_known = len(config.known) + (len(names) - len(table.columns))
    return Frame(table, features.astype(np.float32), names, split, scaler, num_known)


def load_frame(path: str, config: ForecastDataConfig, scaler: Scaler | None = None) -> Frame:
    table = config.table(*read_rows(Path(path)))
    for note in table.notes:
        print(f"rnnkit forecast: {note}", file=sys.stderr)
    return make_frame(table, config, scaler)


def windows(frame: Frame, config: ForecastDataConfig, part: str, stride: int, shuffle: bool, batch_size: int) -> WindowBatches:
    origins = window_origins(frame.split, part, config.lookback, config.horizon, stride)
    return WindowBatches(frame.features, origins, lookback=config.lookback, horizon=config.horizon, num_targets=len(config.targets),
                         batch_size=batch_size, num_known=frame.num_known, shuffle=shuffle)
