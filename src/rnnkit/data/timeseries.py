"""Time series users bring as tables: a CSV/TSV (gzipped or not, or Parquet through pandas) with a time
column and numeric columns. Reading checks what forecasting relies on and names the rows of the
first problems: timestamps that do not parse, are unsorted or repeat, gaps in a regular series,
values that are not numbers, and NaNs (an error unless an explicit fill is asked for).

Also here: calendar features derived from timestamps, and a documented generated example series.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnnkit.data.timestamps import MonthGrid, TimeParsing, parse_times

MISSING = {"", "nan", "NaN", "NA", "N/A", "null", "None"}
FILLS = ("ffill", "interpolate")


@dataclass
class Table:
    """Rows in time order. times: datetime64[s] (N,), or float step numbers when the time column holds
    plain numbers, or None without a time column; values (N, C) float64 of `columns`; `lines` maps each
    row to its line in the file (0 for rows a fill inserted); `notes` say how the times were read."""

    times: np.ndarray | None
    values: np.ndarray
    columns: list[str]
    source: str
    lines: np.ndarray
    notes: list[str] = field(default_factory=list)

    def column(self, name: str) -> np.ndarray:
        return self.values[:, self.columns.index(name)]

    @property
    def is_datetime(self) -> bool:
        return self.times is not None and np.issubdtype(self.times.dtype, np.datetime64)


def read_rows(path: Path) -> tuple[list[str], list[list[str]], str]:
    """(header, rows of strings, source) of a CSV/TSV (.gz read transparently) or a Parquet file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix == ".parquet":
        return _read_parquet(path)
    raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text (byte {err.start}); expected a CSV or TSV table") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise ValueError(f"{path} is empty: expected a header line with column names, then one row per time step")
    first = lines[0]
    delimiter = "\t" if "\t" in first else (";" if ";" in first and "," not in first else ",")
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    header = [name.strip() for name in rows[0]]
    data = rows[1:]
    if not data:
        raise ValueError(f"{path} has a header but no rows")
    return header, data, str(path)


def _read_parquet(path: Path):
    try:
        import pandas
    except ImportError:
        raise ValueError(f"{path}: reading Parquet needs pandas and pyarrow (pip install pandas pyarrow), or convert it to CSV") from None
    frame = pandas.read_parquet(path)
    header = [str(c) for c in frame.columns]
    rows = [["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in row] for row in frame.itertuples(index=False)]
    return header, rows, str(path)


def read_table(path: Path, columns: list[str], time_column: str | None, fill: str | None = None,
               time_parsing: TimeParsing | None = None) -> Table:
    """The named numeric `columns` (and the time column) of a table, validated and in time order.
    With `fill` (ffill | interpolate), NaNs and missing time steps are filled; otherwise they are errors.
    `time_parsing` says how to read the time column (default: detected, see data.timestamps)."""
    return table_from_rows(*read_rows(path), columns, time_column, fill, time_parsing)


def table_from_rows(header: list[str], rows: list[list[str]], source: str, columns: list[str], time_column: str | None,
                    fill: str | None = None, time_parsing: TimeParsing | None = None, lines=None) -> Table:
    """read_table for rows already read (see read_rows); `lines` gives each row's line in the file
    (default: row r is line r + 2, after the header)."""
    wanted = ([time_column] if time_column else []) + list(columns)
    missing = [name for name in wanted if name not in header]
    if missing:
        raise ValueError(f"{source}: no column(s) {missing}; the file has columns {header}")
    if fill is not None and fill not in FILLS:
        raise ValueError(f"fill must be one of {FILLS} (or None); got {fill!r}")
    index = [header.index(name) for name in columns]
    values = np.empty((len(rows), len(columns)))
    lines = np.arange(2, len(rows) + 2) if lines is None else np.asarray(lines, dtype=np.int64)
    for r, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(f"{source}, line {lines[r]}: {len(row)} fields; the header has {len(header)}")
        for c, i in enumerate(index):
            values[r, c] = _number(row[i], source, lines[r], columns[c])
    times, notes = None, []
    if time_column:
        texts = [row[header.index(time_column)] for row in rows]
        times, notes = parse_times(texts, source, time_column, time_parsing or TimeParsing(), lines)
        _check_order(times, lines, source)
        times, values, lines = _regularise(times, values, lines, source, fill)
    table = Table(times, values, list(columns), source, lines, notes)
    _fill_missing(table, fill)
    return table


def split_series(header: list[str], rows: list[list[str]], source: str, id_column: str) -> dict[str, tuple[list, np.ndarray]]:
    """The rows of each series of a long table (a panel: one series id per row), as {id: (rows, their
    lines in the file)}, series in order of first appearance, rows in file order."""
    if id_column not in header:
        raise ValueError(f"{source}: no id column {id_column!r}; the file has columns {header}")
    column = header.index(id_column)
    series: dict[str, tuple[list, list]] = {}
    for r, row in enumerate(rows):
        name = row[column].strip() if column < len(row) else ""
        if not name:
            raise ValueError(f"{source}, line {r + 2}: the id column {id_column!r} is empty; every row needs its series id")
        group = series.setdefault(name, ([], []))
        group[0].append(row)
        group[1].append(r + 2)
    return {name: (group, np.array(lines)) for name, (group, lines) in series.items()}


def split_future_rows(header: list[str], rows: list[list[str]], columns: list[str]) -> tuple[list, list]:
    """(history rows, future rows): the future rows are the trailing rows where every one of `columns`
    is empty, as when known-future covariates are given for steps whose targets are to be forecast."""
    index = [header.index(name) for name in columns if name in header]
    cut = len(rows)
    while cut > 0 and index and all(len(rows[cut - 1]) > i and rows[cut - 1][i].strip() in MISSING for i in index):
        cut -= 1
    return rows[:cut], rows[cut:]


def _number(text: str, source: str, line: int, column: str) -> float:
    text = text.strip()
    if text in MISSING:
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{source}, line {line}: column {column!r} holds {text[:30]!r}, which is not a number") from None


def _check_order(times: np.ndarray, lines: np.ndarray, source: str) -> None:
    steps = np.diff(times)
    zero = np.zeros((), dtype=steps.dtype)
    for kind, bad in (("repeats", steps == zero), ("goes back in time", steps < zero)):
        rows = np.flatnonzero(bad)
        if len(rows):
            where = ", ".join(f"line {lines[r + 1]} ({times[r + 1]})" for r in rows[:5])
            raise ValueError(f"{source}: the timestamp {kind} at {where}{' ...' if len(rows) > 5 else ''}; "
                             "rows must be in increasing time order with one row per time step" + _dst_hint(times[rows + 1]))


def _dst_hint(times: np.ndarray) -> str:
    """A hint when the problem times are at night: daylight-saving changes repeat or skip an hour there."""
    if not np.issubdtype(times.dtype, np.datetime64):
        return ""
    hours = (times - times.astype("datetime64[D]")) // np.timedelta64(1, "h")
    if not (hours <= 3).any():
        return ""
    return (". Local clock times repeat an hour when daylight saving ends and skip one when it starts: times with "
            "UTC offsets (or Unix times) avoid both")


def is_months(step) -> bool:
    """Whether a step from time_step counts calendar months (monthly, quarterly, yearly series)."""
    return isinstance(step, np.timedelta64) and np.datetime_data(step.dtype)[0] == "M"


def time_step(times: np.ndarray):
    """The series' regular step: the most common difference between consecutive timestamps, or for
    series on a month grid (see MonthGrid) that many calendar months, as timedelta64[M]."""
    return _step_and_grid(times)[0]


def _step_and_grid(times: np.ndarray):
    """(time_step, the MonthGrid or None)."""
    steps = np.diff(times)
    if len(steps) == 0:
        raise ValueError("a series needs at least two time steps")
    grid = MonthGrid.of(times)
    if grid is not None:
        return np.timedelta64(grid.months, "M"), grid
    values, counts = np.unique(steps, return_counts=True)
    return values[counts.argmax()], None


def _regularise(times, values, lines, source: str, fill: str | None):
    """Check the spacing is regular; missing steps are an error, or inserted as NaN rows with `fill`."""
    if len(times) < 2:
        return times, values, lines
    step, grid = _step_and_grid(times)
    position = MonthGrid.index(times) if grid else times
    unit = grid.months if grid else step
    ratio = np.diff(position) / unit
    irregular = np.flatnonzero(ratio != np.round(ratio))
    if len(irregular):
        r = irregular[0]
        raise ValueError(f"{source}: irregular time step at line {lines[r + 1]} ({times[r]} -> {times[r + 1]}); the series "
                         f"steps by {_step_text(step)} elsewhere. Resample it to a regular step first")
    gaps = np.flatnonzero(ratio > 1)
    if len(gaps) == 0:
        return times, values, lines
    if fill is None:
        where = ", ".join(f"{times[r]} -> {times[r + 1]} (line {lines[r + 1]})" for r in gaps[:5])
        raise ValueError(f"{source}: {len(gaps)} gap(s) in the time steps (step {_step_text(step)}): {where}. "
                         "Pass a fill (--fill ffill or --fill interpolate) to insert and fill the missing steps"
                         + _dst_hint(times[gaps]))
    slots = np.round((position - position[0]) / unit).astype(np.int64)
    full = np.full((slots[-1] + 1, values.shape[1]), np.nan)
    full[slots] = values
    full_lines = np.zeros(slots[-1] + 1, dtype=np.int64)
    full_lines[slots] = lines
    counts = np.arange(slots[-1] + 1)
    filled = grid.at(position[0] + grid.months * counts) if grid else times[0] + step * counts
    return filled, full, full_lines


def _step_text(step) -> str:
    if is_months(step):
        months = int(step.astype(np.int64))
        return {1: "1 month", 3: "3 months (quarterly)", 12: "12 months (yearly)"}.get(months, f"{months} months")
    return str(step)


def _fill_missing(table: Table, fill: str | None) -> None:
    values = table.values
    bad = np.isnan(values)
    if not bad.any():
        return
    if fill is None:
        rows, cols = np.nonzero(bad)
        where = ", ".join(f"line {table.lines[r]} column {table.columns[c]!r}" for r, c in zip(rows[:5], cols[:5]))
        raise ValueError(f"{table.source}: {int(bad.sum())} missing value(s) (empty or NaN): {where}"
                         f"{' ...' if len(rows) > 5 else ''}. Pass --fill ffill or --fill interpolate to fill them")
    for c in range(values.shape[1]):
        column, missing = values[:, c], bad[:, c]
        known = np.flatnonzero(~missing)
        if len(known) == 0:
            raise ValueError(f"{table.source}: column {table.columns[c]!r} has no values at all")
        if fill == "interpolate":
            column[missing] = np.interp(np.flatnonzero(missing), known, column[known])
        else:  # forward fill; leading gaps take the first known value
            last = np.maximum.accumulate(np.where(missing, 0, np.arange(len(column))))
            last[: known[0]] = known[0]
            values[:, c] = column[last]


# -- calendar features -------------------------------------------------------------------------------
def calendar_features(times: np.ndarray, step) -> tuple[np.ndarray, list[str]]:
    """Sine/cosine of the hour of day (steps under a day), day of week (under a week) and day of year:
    (N, F) float values in [-1, 1] and their names. Known for any future time, so usable as
    known-future covariates."""
    if not np.issubdtype(times.dtype, np.datetime64):
        raise ValueError("calendar features need a time column of dates/times; this one holds plain numbers")
    days = times.astype("datetime64[D]")
    parts = []
    within_week = not is_months(step) and step < np.timedelta64(7, "D")  # on a month grid only the time of year varies
    if within_week and step < np.timedelta64(1, "D"):
        hours = (times - days) / np.timedelta64(1, "h")
        parts.append(("hour", hours / 24.0))
    if within_week:
        parts.append(("weekday", ((days.astype(np.int64) + 3) % 7) / 7.0))  # 1970-01-01 was a Thursday
    parts.append(("yearday", (days - times.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64) / 365.25))
    columns, names = [], []
    for name, phase in parts:
        columns += [np.sin(2 * np.pi * phase), np.cos(2 * np.pi * phase)]
        names += [f"{name}_sin", f"{name}_cos"]
    return np.stack(columns, axis=1), names


def natural_seasons(table: Table) -> tuple[int, ...]:
    """A day and a week, in time steps, when the steps divide them (hourly data: 24 and 168); a year for
    monthly (12) and quarterly (4) series."""
    if not table.is_datetime:
        return ()
    step = time_step(table.times)
    if is_months(step):  # a year: 12 months, 4 quarters
        months = int(step.astype(np.int64))
        return (12 // months,) if months < 12 and 12 % months == 0 else ()
    spans = (np.timedelta64(1, "D"), np.timedelta64(7, "D"))
    return tuple(int(span // step) for span in spans if span >= step and span % step == np.timedelta64(0, "s"))


def future_times(times: np.ndarray, count: int) -> np.ndarray:
    """The `count` timestamps after the last one, at the series' step (calendar months on a month grid)."""
    step, grid = _step_and_grid(times)
    if grid is not None:
        return grid.at(MonthGrid.index(times[-1:])[0] + grid.months * np.arange(1, count + 1))
    return times[-1] + step * np.arange(1, count + 1)


# -- a generated example ---------------------------------------------------------------------------------
def example_series(days: int = 280, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An hourly energy-demand-like series from 2024-01-01: (times, demand (N,), temperature (N,)).

        temperature = 12 + 8 sin(2 pi (doy - 110) / 365) + 4 sin(2 pi (hour - 9) / 24) + noise (AR(1))
        demand = 100 + 0.02 t + 15 daily(hour) + 8 weekday(dow) + 1.5 |temperature - 18| + noise (AR(1))

    where daily() has a morning and an evening peak and weekends are 8 lower. Deterministic in `seed`.
    """
    rng = np.random.default_rng(seed)
    n = days * 24
    times = np.datetime64("2024-01-01T00:00:00") + np.arange(n) * np.timedelta64(1, "h")
    t = np.arange(n, dtype=np.float64)
    hour, day = t % 24, t // 24
    doy = day % 365
    weekday = (day + 0) % 7  # 2024-01-01 was a Monday
    temperature = 12 + 8 * np.sin(2 * np.pi * (doy - 110) / 365) + 4 * np.sin(2 * np.pi * (hour - 9) / 24) + _ar1(rng, n, 0.95, 0.5)
    daily = np.exp(-((hour - 8) ** 2) / 6) + 1.3 * np.exp(-((hour - 19) ** 2) / 8)
    demand = 100 + 0.02 * t + 15 * daily + np.where(weekday >= 5, -8.0, 0.0) + 1.5 * np.abs(temperature - 18) + _ar1(rng, n, 0.8, 1.5)
    return times, demand, temperature


def _ar1(rng, n: int, phi: float, sigma: float) -> np.ndarray:
    noise = rng.normal(0.0, sigma, n)
    out = np.empty(n)
    out[0] = noise[0]
    for i in range(1, n):
        out[i] = phi * out[i - 1] + noise[i]
    return out


def write_example(path: Path, days: int = 280, seed: int = 0, anomalies: int = 0) -> Path:
    """Write the example series as a CSV with columns time, demand, temperature. With `anomalies`,
    that many events of 2-6 hours are planted in demand (a level shift of 3-6 standard deviations of
    its hourly change, up or down, or the series frozen at one value) and an `anomaly` column marks
    their rows with 1."""
    times, demand, temperature = example_series(days, seed)
    label = plant_anomalies(demand, anomalies, np.random.default_rng(seed + 1)) if anomalies else None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("time,demand,temperature" + (",anomaly" if label is not None else "") + "\n")
        for i, (when, d, temp) in enumerate(zip(times, demand, temperature)):
            tail = f",{int(label[i])}" if label is not None else ""
            f.write(f"{str(when).replace('T', ' ')},{d:.3f},{temp:.3f}{tail}\n")
    return path


def write_panel_example(path: Path, series: int = 3, days: int = 280, seed: int = 0) -> Path:
    """Write a panel of `series` example series as one long CSV (columns id, time, demand, temperature):
    series i is example_series(days - 7 i, seed + i) starting i days later, its demand scaled by
    1 + i / 2 (so each has its own level, start, end and length)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("id,time,demand,temperature\n")
        for i in range(series):
            times, demand, temperature = example_series(max(days - 7 * i, 2), seed + i)
            times = times + np.timedelta64(i, "D")
            for when, d, temp in zip(times, demand * (1 + i / 2), temperature):
                f.write(f"site{i + 1},{str(when).replace('T', ' ')},{d:.3f},{temp:.3f}\n")
    return path


def plant_anomalies(values: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Change `values` in place at `count` non-overlapping events; return the 0/1 label per row."""
    label = np.zeros(len(values))
    scale = np.std(np.diff(values))
    for _ in range(count):
        for _attempt in range(100):
            start, length = int(rng.integers(48, len(values) - 8)), int(rng.integers(2, 7))
            if not label[max(0, start - 24):start + length + 24].any():
                break
        if rng.random() < 0.7:
            values[start:start + length] += rng.choice([-1, 1]) * rng.uniform(3, 6) * scale
        else:
            values[start:start + length] = values[start - 1]
        label[start:start + length] = 1
    return label
