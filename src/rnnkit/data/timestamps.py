"""Timestamps as tables write them, read into numpy datetime64[s].

Detected without options (every value of a column must have the same layout):
    ISO 8601              2010-01-01, 2010-01-01T13:00, 2010-01-01 13:00:05.5, 2000-01 (a month)
    year first, / or .    2010/01/01, 2010/1/1 13:00, 2010.01.01
    day and month numeric 13/01/2010, 01-13-2010, 13.01.2010: the order is taken from a value that settles it
                          (a first field over 12: day first); when none does, it is an error asking for
                          --dayfirst / --monthfirst or --time-format, never a guess
    English month names   Jan 1 2000, January 1, 2000, 1 January 2000, 01-Jan-2000, Jan 2000
followed by an optional clock time (HH:MM[:SS[.fff]], optionally AM/PM) and an optional UTC offset
(Z, UTC, +02:00, -0500). Times with offsets are converted to UTC; a column that mixes times with and
without offsets is refused. Plain numbers are step numbers, or Unix times with `unit` "s" or "ms".
`format` (strptime) reads anything else.

Also here: monthly, quarterly and yearly series, whose steps are calendar months rather than a fixed
duration (`MonthGrid`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

UNITS = {"s": 1, "ms": 1000}
MONTHS = {name: i + 1 for i, name in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}
_FULL = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december")
MONTHS.update({name: i + 1 for i, name in enumerate(_FULL)})
MONTHS["sept"] = 9

_CLOCK = r"(?:(?:[T ]|,? )(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<f>\d{1,9}))?)?(?: ?(?P<ampm>[AaPp]\.?[Mm]\.?))?)?"
_ZONE = r"(?: ?(?P<z>Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?))?"
_NAME = r"(?P<mon>[A-Za-z]{3,9})\.?"
_DAY = r"(?P<d>\d{1,2})(?:st|nd|rd|th)?"
_LAYOUTS = {  # name -> date part; each is matched with the clock and zone after it
    "iso": r"(?P<y>\d{4})-(?P<m>\d{1,2})(?:-(?P<d>\d{1,2}))?",
    "year first": r"(?P<y>\d{4})(?P<sep>[/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})",
    "day and month": r"(?P<a>\d{1,2})(?P<sep>[/.-])(?P<b>\d{1,2})(?P=sep)(?P<y>\d{4})",
    "month name first": _NAME + r"[ -]" + _DAY + r",?[ -](?P<y>\d{4})",
    "day first, month name": _DAY + r"[ -]" + _NAME + r",?[ -](?P<y>\d{4})",
    "month name and year": _NAME + r",?[ -](?P<y>\d{4})",
}
_PATTERNS = {name: re.compile(date + _CLOCK + _ZONE) for name, date in _LAYOUTS.items()}
_PLAIN_ISO = re.compile(r"\d{4}-\d{2}(?:-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?)?")


@dataclass(frozen=True)
class TimeParsing:
    """How to read a time column. format: a strptime format (overrides detection); dayfirst: True for
    13/01/2010, False for 01/13/2010, None to take the order from the column; unit: "s" or "ms" when
    plain numbers are Unix times (None: they are step numbers)."""

    format: str | None = None
    dayfirst: bool | None = None
    unit: str | None = None

    def __post_init__(self) -> None:
        if self.unit is not None and self.unit not in UNITS:
            raise ValueError(f"time unit must be one of {sorted(UNITS)} (Unix seconds or milliseconds); got {self.unit!r}")
        if self.format is not None and "%" not in self.format:
            raise ValueError(f"--time-format takes a strptime format such as '%d.%m.%Y %H:%M'; got {self.format!r}")


class TimeError(ValueError):
    """A time column that cannot be read; the message names the line and what was expected."""


def parse_times(texts: list[str], source: str, column: str, how: TimeParsing = TimeParsing(),
                lines=None) -> tuple[np.ndarray, list[str]]:
    """(times, notes): datetime64[s] for dates and times, float64 for plain step numbers; notes say
    what was decided (day/month order, offsets converted to UTC). Row r is line lines[r] of the file
    (default r + 2: after a header)."""
    texts = [t.strip() for t in texts]
    where = _Where(source, column, lines)
    for r, text in enumerate(texts):
        if not text:
            raise TimeError(f"{where(r)} is empty; every row needs a time")
    if how.format is not None:
        return _strptime(texts, how.format, where)
    numbers = _numbers(texts)
    if numbers is not None:
        if how.unit is None:
            return numbers, []
        return _unix(numbers, how.unit, where), []
    if how.unit is not None:
        bad = next(r for r, t in enumerate(texts) if _numbers([t]) is None)
        raise TimeError(f"{where(bad)} holds {texts[bad][:40]!r}; --time-unit {how.unit} expects Unix times (plain numbers)")
    if all(_PLAIN_ISO.fullmatch(t) for t in texts):
        return _numpy_times([t.replace(" ", "T", 1) for t in texts], texts, where), []
    return _detected(texts, how, where)


def parse_time(text: str, how: TimeParsing = TimeParsing(), what: str = "date") -> np.datetime64:
    """One timestamp (a --val-start date, say), read the way the column is."""
    try:
        times, _ = parse_times([text], "", what, how)
    except TimeError:
        raise ValueError(f"{text!r} is not a {what} (expected ISO 8601 like 2017-06-26 or 2017-06-26 00:00, "
                         "or the layout of the time column)") from None
    if not np.issubdtype(times.dtype, np.datetime64):
        raise ValueError(f"{text!r} is a number, not a {what}")
    return times[0]


class _Where:
    def __init__(self, source: str, column: str, lines):
        self.source, self.column, self.lines = source, column, lines

    def line(self, row: int) -> int:
        return int(self.lines[row]) if self.lines is not None else row + 2

    def __call__(self, row: int) -> str:
        head = f"{self.source}, line {self.line(row)}: " if self.source else ""
        return f"{head}time column {self.column!r}"


def _numbers(texts: list[str]) -> np.ndarray | None:
    try:
        return np.array([float(t) for t in texts])
    except ValueError:
        return None


def _unix(numbers: np.ndarray, unit: str, where: _Where) -> np.ndarray:
    seconds = numbers / UNITS[unit]
    bad = np.flatnonzero(~np.isfinite(seconds) | (seconds != np.round(seconds)))
    if len(bad):
        raise TimeError(f"{where(int(bad[0]))} holds {numbers[bad[0]]!r}: not a whole number of seconds "
                        "(sub-second Unix times are not supported; leave out --time-unit to use them as step numbers)")
    return seconds.astype(np.int64).astype("datetime64[s]")


def _numpy_times(iso: list[str], texts: list[str], where: _Where) -> np.ndarray:
    try:
        return np.array(iso, dtype="datetime64[s]")
    except ValueError:
        for r, text in enumerate(iso):
            try:
                np.datetime64(text, "s")
            except ValueError:
                raise TimeError(f"{where(r)} holds {texts[r][:40]!r}, which is not a valid date/time") from None
        raise


def _strptime(texts: list[str], fmt: str, where: _Where) -> tuple[np.ndarray, list[str]]:
    values, aware = [], []
    for r, text in enumerate(texts):
        try:
            when = datetime.strptime(text, fmt)
        except ValueError:
            raise TimeError(f"{where(r)} holds {text[:40]!r}, which does not match --time-format {fmt!r}") from None
        aware.append(when.tzinfo is not None)
        values.append(when.astimezone(timezone.utc).replace(tzinfo=None) if when.tzinfo else when)
    notes = _check_zones(aware, texts, where)
    return np.array(values, dtype="datetime64[s]"), notes


def _check_zones(aware: list[bool], texts: list[str], where: _Where) -> list[str]:
    if all(aware):
        return [f"time column {where.column!r}: the times carry UTC offsets; they were converted to UTC"]
    if any(aware):
        with_zone, without = aware.index(True), aware.index(False)
        raise TimeError(f"{where(without)} holds {texts[without][:40]!r} without a UTC offset, but line "
                        f"{where.line(with_zone)} ({texts[with_zone][:40]!r}) has one; give every time an offset or none")
    return []


def _detected(texts: list[str], how: TimeParsing, where: _Where) -> tuple[np.ndarray, list[str]]:
    """Find the one layout every value has, then turn its fields into times."""
    name, matches = _layout(texts, where)
    fields = {key: [m.group(key) if key in m.re.groupindex else None for m in matches]
              for key in ("y", "m", "d", "a", "b", "mon", "H", "M", "S", "ampm", "z")}  # fractions of a second are dropped
    notes = []
    if name == "day and month":
        dayfirst, note = _day_order(fields["a"], fields["b"], texts, how.dayfirst, where)
        fields["d"], fields["m"] = (fields["a"], fields["b"]) if dayfirst else (fields["b"], fields["a"])
        notes += [note] if note else []
    if fields["mon"][0] is not None:
        fields["m"] = [_month_number(text, texts[r], r, where) for r, text in enumerate(fields["mon"])]
    hours = [_hour(h, ampm, texts[r], r, where) for r, (h, ampm) in enumerate(zip(fields["H"], fields["ampm"]))]
    iso = []
    for r in range(len(texts)):
        day = fields["d"][r] or "1"
        clock = f"T{hours[r]:02d}:{fields['M'][r]}:{fields['S'][r] or '00'}" if fields["H"][r] is not None else "T00:00:00"
        iso.append(f"{fields['y'][r]}-{int(fields['m'][r]):02d}-{int(day):02d}{clock}")
    times = _numpy_times(iso, texts, where)
    offsets = [_offset_seconds(z) for z in fields["z"]]
    notes += _check_zones([o is not None for o in offsets], texts, where)
    if offsets[0] is not None:
        times = times - np.array(offsets, dtype="timedelta64[s]")
    return times, notes


def _layout(texts: list[str], where: _Where):
    for name, pattern in _PATTERNS.items():
        matches = [pattern.fullmatch(t) for t in texts]
        if all(matches):
            return name, matches
    first = next((name for name, pattern in _PATTERNS.items() if pattern.fullmatch(texts[0])), None)
    bad = 0 if first is None else next(r for r, t in enumerate(texts) if not _PATTERNS[first].fullmatch(t))
    if any(pattern.fullmatch(texts[bad]) for pattern in _PATTERNS.values()):
        raise TimeError(f"{where(bad)} holds {texts[bad][:40]!r}, written differently from line {where.line(0)} "
                        f"({texts[0][:40]!r}); every time in a column must have the same layout, or give --time-format")
    raise TimeError(f"{where(bad)} holds {texts[bad][:40]!r}, which is not a date/time rnnkit recognises (expected ISO 8601 "
                    "like 2016-07-01 00:00:00, 2016/07/01 00:00, 01/07/2016, Jul 1 2016, Unix times with --time-unit s, "
                    "or a plain number); give --time-format, e.g. '%d.%m.%Y %H:%M'")


def _day_order(first: list[str], second: list[str], texts: list[str], dayfirst: bool | None, where: _Where):
    """(day first?, a note saying which value settled it)."""
    if dayfirst is not None:
        return dayfirst, None
    a, b = np.array(first, dtype=np.int64), np.array(second, dtype=np.int64)
    over_a, over_b = np.flatnonzero(a > 12), np.flatnonzero(b > 12)
    if len(over_a) and len(over_b):
        r, s = int(over_a[0]), int(over_b[0])
        raise TimeError(f"{where(r)} holds {texts[r]!r} (day first) but line {where.line(s)} holds {texts[s]!r} "
                        "(month first); fix the column or give --time-format")
    if len(over_a) or len(over_b):
        r = int((over_a if len(over_a) else over_b)[0])
        order = "day/month/year" if len(over_a) else "month/day/year"
        return bool(len(over_a)), f"time column {where.column!r} read as {order}, as line {where.line(r)} ({texts[r]!r}) shows"
    raise TimeError(f"{where(0)} holds {texts[0]!r}, which could be day/month or month/day, and no time in the column "
                    "settles it; pass --dayfirst or --monthfirst, or --time-format (e.g. '%d/%m/%Y %H:%M')")


def _month_number(name: str, text: str, row: int, where: _Where) -> int:
    number = MONTHS.get(name.lower())
    if number is None:
        raise TimeError(f"{where(row)} holds {text[:40]!r}: {name!r} is not an English month name or abbreviation")
    return number


def _hour(hour: str | None, ampm: str | None, text: str, row: int, where: _Where) -> int:
    if hour is None:
        return 0
    value = int(hour)
    if ampm is None:
        return value
    if not 1 <= value <= 12:
        raise TimeError(f"{where(row)} holds {text[:40]!r}: hour {value} with AM/PM (expected 1 to 12)")
    return value % 12 + (12 if ampm[0] in "Pp" else 0)


def _offset_seconds(zone: str | None) -> int | None:
    if zone is None:
        return None
    if zone in ("Z", "UTC", "GMT"):
        return 0
    digits = zone[1:].replace(":", "")
    seconds = int(digits[:2]) * 3600 + (int(digits[2:]) * 60 if len(digits) > 2 else 0)
    return seconds if zone[0] == "+" else -seconds


# -- calendar steps -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MonthGrid:
    """A series stepping by whole calendar months: every time on the same day of its month (1-28) at
    the same clock time, or every one on the last day of its month. `months` is the step (1 monthly,
    3 quarterly, 12 yearly)."""

    months: int
    day: int | None  # None: the last day of each month
    clock: np.timedelta64

    @classmethod
    def of(cls, times: np.ndarray) -> MonthGrid | None:
        """The grid of `times`, or None when they are not month-anchored (or step by under 28 days)."""
        if len(times) < 2 or not np.issubdtype(times.dtype, np.datetime64):
            return None
        times = times.astype("datetime64[s]")
        days = times.astype("datetime64[D]")
        clock = times - days
        if (clock != clock[0]).any():
            return None
        steps = np.diff(times)
        values, counts = np.unique(steps, return_counts=True)
        if values[counts.argmax()] < np.timedelta64(28, "D"):
            return None
        month_starts = days.astype("datetime64[M]").astype("datetime64[D]")
        day_of_month = (days - month_starts).astype(np.int64) + 1
        last = (days + 1).astype("datetime64[M]") != days.astype("datetime64[M]")
        if last.all():
            day = None
        elif (day_of_month == day_of_month[0]).all() and day_of_month[0] <= 28:
            day = int(day_of_month[0])
        else:
            return None
        index = cls.index(times)
        values, counts = np.unique(np.diff(index), return_counts=True)
        return cls(int(values[counts.argmax()]), day, clock[0].astype("timedelta64[s]"))

    @staticmethod
    def index(times: np.ndarray) -> np.ndarray:
        """Months since 1970-01 of each time (int64)."""
        return times.astype("datetime64[M]").astype(np.int64)

    def at(self, index: np.ndarray) -> np.ndarray:
        """The grid's time in each month `index` (months since 1970-01)."""
        months = np.asarray(index, dtype=np.int64).astype("datetime64[M]")
        if self.day is None:
            days = (months + 1).astype("datetime64[D]") - 1
        else:
            days = months.astype("datetime64[D]") + (self.day - 1)
        return days.astype("datetime64[s]") + self.clock

    @property
    def name(self) -> str:
        return {1: "monthly", 3: "quarterly", 12: "yearly"}.get(self.months, f"every {self.months} months")
