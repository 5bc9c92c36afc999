"""Irregularly sampled records (ICU stays, patient monitoring): long-format observations per stay,
static descriptors, labels by id, and explicit cleaning rules.

Layouts read:
- a folder with one file per stay, `Time,Parameter,Value` rows (PhysioNet 2012's layout); the stay's
  id is the file name without its suffix;
- one CSV/TSV table with an id column and time, parameter and value columns.

Times are `HH:MM` (hours and minutes since admission) or plain numbers in `time_unit`; inside rnnkit
they are hours. Static descriptors are the rows at time 0 whose parameter is a static name (Age,
Gender, Height, ICUType, Weight in PhysioNet), or columns of a separate table. Cleaning rules, each
counted and reported (`CleaningRules` below): missing codes in descriptors (PhysioNet's -1),
implausible values outside per-variable ranges, observations past the window, and duplicates at one
time. Stays without any series are kept and listed (models see them as one empty step).
"""

from __future__ import annotations

import csv
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# Plausible ranges for PhysioNet 2012 names (units as PhysioNet records them). Values outside are
# recording errors (pH 735, Temp -17.8, heart rate or blood pressure 0, weight 0) and are dropped.
# Urine 0 is real and MechVent is always 1, so neither has a range.
DEFAULT_RANGES: dict[str, tuple[float, float]] = {
    "HR": (1, 300), "SysABP": (1, 300), "DiasABP": (1, 300), "MAP": (1, 300),
    "NISysABP": (1, 300), "NIDiasABP": (1, 300), "NIMAP": (1, 300),
    "Temp": (25, 45), "pH": (6.5, 8.0), "Weight": (1, 400), "Height": (50, 250),
    "RespRate": (0, 100), "SaO2": (1, 100), "FiO2": (0.21, 1.0), "GCS": (3, 15),
    "PaO2": (1, 800), "PaCO2": (1, 200), "Age": (0, 120),
}
PHYSIONET_STATIC = ("Age", "Gender", "Height", "ICUType", "Weight")
ID_ROWS = ("RecordID",)
DUPLICATES = ("mean", "last", "first")
EDGES = ("keep", "drop")


@dataclass(frozen=True)
class CleaningRules:
    """What happens to each kind of doubtful observation.

    window_hours: observations after it are dropped (counted); `edge` says whether one exactly at it
      (PhysioNet's 48:00) is kept ("keep") or dropped ("drop").
    duplicates: several values of one variable at one time become their "mean", the "last" or the
      "first" in file order.
    missing_codes: descriptor values that mean "not recorded" (PhysioNet: -1).
    ranges: per-variable (low, high) plausible values, inclusive; others are dropped and counted.
      None: DEFAULT_RANGES (PhysioNet's names); {} turns range checks off.
    static: the parameter names that are descriptors when recorded at time 0.
    """

    window_hours: float = 48.0
    edge: str = "keep"
    duplicates: str = "mean"
    missing_codes: tuple[float, ...] = (-1.0,)
    ranges: dict | None = None
    static: tuple[str, ...] = PHYSIONET_STATIC

    def __post_init__(self) -> None:
        if self.edge not in EDGES:
            raise ValueError(f"edge must be one of {EDGES}; got {self.edge!r}")
        if self.duplicates not in DUPLICATES:
            raise ValueError(f"duplicates must be one of {DUPLICATES}; got {self.duplicates!r}")
        if not self.window_hours > 0:
            raise ValueError(f"window_hours must be positive; got {self.window_hours}")
        for name, bounds in self.value_ranges.items():
            if len(bounds) != 2 or not bounds[0] <= bounds[1]:
                raise ValueError(f"the range of {name} must be [low, high] with low <= high; got {bounds}")

    @property
    def value_ranges(self) -> dict[str, tuple[float, float]]:
        return DEFAULT_RANGES if self.ranges is None else self.ranges


@dataclass
class Stay:
    """One stay: observations in time order (times in hours, variable names, values) and descriptors
    (name -> value, NaN where not recorded)."""

    id: str
    times: np.ndarray
    names: list[str]
    values: np.ndarray
    static: dict[str, float] = field(default_factory=dict)

    def only(self, names: set[str]) -> Stay:
        """The stay with the observations of `names` alone."""
        keep = np.array([n in names for n in self.names], dtype=bool)
        return Stay(self.id, self.times[keep], [n for n, k in zip(self.names, keep) if k], self.values[keep], self.static)

    def until(self, hours: float) -> Stay:
        """The stay as known after `hours` (observations at times <= hours)."""
        keep = self.times <= hours
        return Stay(self.id, self.times[keep], [n for n, k in zip(self.names, keep) if k], self.values[keep], self.static)


@dataclass
class Records:
    """Cleaned stays and what cleaning did (counts by rule and variable, ids without series)."""

    stays: list[Stay]
    source: str
    dropped: Counter = field(default_factory=Counter)
    empty: list[str] = field(default_factory=list)

    def report(self, out=sys.stderr) -> None:
        n = sum(len(s.times) for s in self.stays)
        print(f"rnnkit: {self.source}: {len(self.stays)} stays, {n:,} observations", file=out)
        for (rule, name), count in sorted(self.dropped.items()):
            print(f"rnnkit: {self.source}: {rule}: {count} {name}", file=out)
        if self.empty:
            shown = ", ".join(self.empty[:5]) + (" ..." if len(self.empty) > 5 else "")
            print(f"rnnkit: {self.source}: {len(self.empty)} stays have no series observation ({shown}); "
                  "they are kept, and models see only their descriptors", file=out)


def parse_time(text: str, unit: str, where: str) -> float:
    """`HH:MM` or a number of `unit`s ("hours" or "minutes") -> hours."""
    text = text.strip()
    try:
        if ":" in text:
            hours, minutes = text.split(":")
            if not 0 <= int(minutes) < 60:
                raise ValueError
            return int(hours) + int(minutes) / 60
        value = float(text)
    except ValueError:
        raise ValueError(f"{where}: time {text!r} is neither HH:MM nor a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{where}: time {text!r} is not a finite number")
    return value / 60 if unit == "minutes" else value


def _parse_value(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{where}: value {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{where}: value {text!r} is not finite; leave a missing observation out of the file")
    return value


def _columns(header: list[str], wanted: dict[str, tuple[str, ...]], where: str) -> dict[str, int]:
    lower = [h.strip().lower() for h in header]
    found = {}
    for key, names in wanted.items():
        index = next((lower.index(n.lower()) for n in names if n.lower() in lower), None)
        if index is None:
            raise ValueError(f"{where}: no {key} column; expected one of {list(names)} in the header {header}")
        found[key] = index
    return found


def _rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    text = path.read_text(encoding="utf-8-sig")
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise ValueError(f"{path} is empty: expected a header (Time,Parameter,Value) and one observation per line")
    delimiter = "\t" if "\t" in lines[0] else ","
    reader = csv.reader(lines, delimiter=delimiter)
    header = next(reader)
    return header, [(number, row) for number, row in enumerate(reader, start=2) if row and any(c.strip() for c in row)]


COLUMNS = {"time": ("Time", "time", "charttime", "hours"), "parameter": ("Parameter", "variable", "name", "item"),
           "value": ("Value", "valuenum")}


def read_records(path: str | Path, rules: CleaningRules | None = None, *, id_column: str | None = None,
                 time_unit: str = "hours") -> Records:
    """Read a folder of per-stay files or one long table (see the module docstring) and clean it."""
    rules, path = rules or CleaningRules(), Path(path)
    if time_unit not in ("hours", "minutes"):
        raise ValueError(f"time_unit must be 'hours' or 'minutes'; got {time_unit!r}")
    raw: dict[str, list[tuple[float, str, float, str]]] = {}
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".txt", ".csv", ".tsv") and not p.name.startswith("."))
        if not files:
            raise ValueError(f"{path}: no .txt/.csv/.tsv files; expected one Time,Parameter,Value file per stay")
        for file in files:
            header, rows = _rows(file)
            cols = _columns(header, COLUMNS, str(file))
            raw[file.stem] = [_observation(row, cols, f"{file}:{n}", time_unit) for n, row in rows]
    elif path.is_file():
        header, rows = _rows(path)
        cols = _columns(header, {**COLUMNS, "id": (id_column,) if id_column else ("id", "RecordID", "stay_id", "patient")}, str(path))
        for n, row in rows:
            raw.setdefault(row[cols["id"]].strip(), []).append(_observation(row, cols, f"{path}:{n}", time_unit))
    else:
        raise FileNotFoundError(f"{path}: no such file or folder")
    records = Records([], str(path))
    for stay_id, observations in raw.items():
        records.stays.append(_clean(stay_id, observations, rules, records))
    return records


def _observation(row: list[str], cols: dict[str, int], where: str, unit: str) -> tuple[float, str, float, str]:
    if len(row) <= max(cols.values()):
        raise ValueError(f"{where}: expected at least {max(cols.values()) + 1} fields; got {len(row)}: {row}")
    name = row[cols["parameter"]].strip()
    if not name:
        raise ValueError(f"{where}: empty parameter name")
    return parse_time(row[cols["time"]], unit, where), name, _parse_value(row[cols["value"]], where), where


def _clean(stay_id: str, observations: list, rules: CleaningRules, records: Records) -> Stay:
    static: dict[str, float] = {}
    series: dict[tuple[float, str], list[float]] = {}
    ranges, dropped = rules.value_ranges, records.dropped
    for time, name, value, _ in observations:
        if name in ID_ROWS:
            continue
        if name in rules.static and time == 0 and name not in static:
            missing = value in rules.missing_codes or not _in_range(value, ranges.get(name))
            if missing:
                dropped[("descriptor missing or implausible", name)] += 1
            static[name] = math.nan if missing else value
            continue
        if time > rules.window_hours or (time == rules.window_hours and rules.edge == "drop") or time < 0:
            dropped[("outside the window", name)] += 1
            continue
        if not _in_range(value, ranges.get(name)):
            dropped[("implausible", name)] += 1
            continue
        series.setdefault((time, name), []).append(value)
    times, names, values = [], [], []
    for (time, name), found in sorted(series.items()):
        if len(found) > 1:
            dropped[(f"duplicates at one time ({rules.duplicates} kept)", name)] += len(found) - 1
        times.append(time)
        names.append(name)
        values.append({"mean": float(np.mean(found)), "last": found[-1], "first": found[0]}[rules.duplicates])
    for name in rules.static:
        static.setdefault(name, math.nan)
    if not times:
        records.empty.append(stay_id)
    return Stay(stay_id, np.asarray(times, dtype=np.float64), names, np.asarray(values, dtype=np.float64), static)


def _in_range(value: float, bounds) -> bool:
    return bounds is None or bounds[0] <= value <= bounds[1]


def read_table_by_id(path: str | Path, id_column: str | None = None) -> tuple[list[str], dict[str, list[str]]]:
    """(header without the id column, id -> fields) of a CSV/TSV keyed by its id column (the first
    column unless named)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    header, rows = _rows(path)
    index = 0 if id_column is None else _columns(header, {"id": (id_column,)}, str(path))["id"]
    table = {}
    for n, row in rows:
        key = row[index].strip()
        if key in table:
            raise ValueError(f"{path}:{n}: id {key} appears twice")
        table[key] = row[:index] + row[index + 1:]
    return header[:index] + header[index + 1:], table


def read_labels(path: str | Path, label: str, ids: list[str], id_column: str | None = None) -> np.ndarray:
    """0/1 labels of `ids` from the column `label` of an outcomes table. Ids without a label, and
    labels other than 0 and 1, are errors that list them."""
    header, table = read_table_by_id(path, id_column)
    if label not in header:
        raise ValueError(f"{path}: no column {label!r}; columns: {header}")
    column = header.index(label)
    missing = [i for i in ids if i not in table]
    if missing:
        raise ValueError(f"{path}: {len(missing)} stay(s) have no row in the outcomes: {missing[:5]}")
    values = []
    for i in ids:
        text = table[i][column].strip()
        if text not in ("0", "1", "0.0", "1.0"):
            raise ValueError(f"{path}: id {i}: {label} is {text!r}; expected 0 or 1")
        values.append(float(text))
    return np.asarray(values)


def attach_static(records: Records, path: str | Path, id_column: str | None = None) -> None:
    """Descriptors from a separate table (one row per id; numeric columns; empty = not recorded)
    replace those read from time-0 rows."""
    header, table = read_table_by_id(path, id_column)
    for stay in records.stays:
        if stay.id not in table:
            raise ValueError(f"{path}: stay {stay.id} has no row")
        stay.static = {}
        for name, text in zip(header, table[stay.id]):
            stay.static[name] = math.nan if not text.strip() else _parse_value(text, f"{path}: id {stay.id}, {name}")
