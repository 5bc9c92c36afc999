"""Time columns as tables write them: every detected layout against its ISO spelling, day/month order
(settled by the column or refused), UTC offsets, Unix times, strptime formats, daylight-saving repeats
and gaps, and monthly/quarterly/yearly series, which step by calendar months and have no gaps."""

import numpy as np
import pytest

from rnnkit.data.timeseries import calendar_features, future_times, natural_seasons, read_table, time_step
from rnnkit.data.timestamps import MonthGrid, TimeError, TimeParsing, parse_time, parse_times


def iso(*texts):
    return np.array(texts, dtype="datetime64[s]")


def parsed(texts, **how):
    times, _ = parse_times(list(texts), "f.csv", "time", TimeParsing(**how))
    return times


@pytest.mark.parametrize("texts, expected", [
    (["2010-01-01", "2010-01-02"], ["2010-01-01", "2010-01-02"]),
    (["2010-01-01T13:00", "2010-01-01 14:00:30"], ["2010-01-01T13:00", "2010-01-01T14:00:30"]),
    (["2010/01/01 00:00", "2010/1/2 13:05"], ["2010-01-01T00:00", "2010-01-02T13:05"]),
    (["2010.01.31", "2010.02.01"], ["2010-01-31", "2010-02-01"]),
    (["31/01/2010 13:00", "01/02/2010 14:00"], ["2010-01-31T13:00", "2010-02-01T14:00"]),  # settled by 31
    (["01/31/2010", "02/01/2010"], ["2010-01-31", "2010-02-01"]),  # settled by 31 in second place
    (["31.01.2010", "1.2.2010"], ["2010-01-31", "2010-02-01"]),
    (["31-01-2010", "01-02-2010"], ["2010-01-31", "2010-02-01"]),
    (["Jan 1 2000", "January 2, 2000", "Feb 3rd 2000"], ["2000-01-01", "2000-01-02", "2000-02-03"]),
    (["1 January 2000", "02-Jan-2000", "3 Sept 2000"], ["2000-01-01", "2000-01-02", "2000-09-03"]),
    (["Jan 2000", "Feb 2000"], ["2000-01-01", "2000-02-01"]),
    (["2000-01", "2000-02"], ["2000-01-01", "2000-02-01"]),
    (["2010-01-01 12:30 AM", "2010-01-01 12:30 PM", "2010-01-01 1:30 pm"], ["2010-01-01T00:30", "2010-01-01T12:30", "2010-01-01T13:30"]),
])
def test_every_layout_parses_to_the_instants_of_its_iso_spelling(texts, expected):
    assert (parsed(texts) == iso(*expected)).all()


def test_utc_offsets_are_converted_to_utc_and_said():
    times, notes = parse_times(["2010-01-01T00:00+01:00", "2010-01-01 00:00Z", "2010-01-01T00:00:00-0530", "2010-01-01 02:00 +02"],
                               "f.csv", "time")
    assert (times == iso("2009-12-31T23:00", "2010-01-01T00:00", "2010-01-01T05:30", "2010-01-01T00:00")).all()
    assert "converted to UTC" in notes[0]
    with pytest.raises(TimeError, match="line 3: time column 'time' holds '2010-01-01 01:00' without a UTC offset, but line 2"):
        parse_times(["2010-01-01 00:00+01:00", "2010-01-01 01:00"], "f.csv", "time")


def test_day_month_order_is_settled_by_the_column_or_refused():
    _, notes = parse_times(["01/02/2010", "13/02/2010"], "f.csv", "time")
    assert notes == ["time column 'time' read as day/month/year, as line 3 ('13/02/2010') shows"]
    with pytest.raises(TimeError, match="line 2: .*'01/02/2010', which could be day/month or month/day.*--dayfirst or --monthfirst"):
        parsed(["01/02/2010", "03/04/2010"])
    with pytest.raises(TimeError, match=r"'13/02/2010' \(day first\) but line 3 holds '02/13/2010' \(month first\)"):
        parsed(["13/02/2010", "02/13/2010"])
    assert parsed(["01/02/2010"], dayfirst=True)[0] == np.datetime64("2010-02-01")
    assert parsed(["01/02/2010"], dayfirst=False)[0] == np.datetime64("2010-01-02")
    with pytest.raises(TimeError, match="not a valid date"):
        parsed(["13/02/2010"], dayfirst=False)


def test_unix_times_need_their_unit():
    assert (parsed(["1262304000", "1262307600"], unit="s") == iso("2010-01-01T00:00", "2010-01-01T01:00")).all()
    assert (parsed(["1262304000000", "1262307600000"], unit="ms") == iso("2010-01-01T00:00", "2010-01-01T01:00")).all()
    steps = parsed(["1262304000", "1262307600"])
    assert steps.dtype == np.float64 and steps.tolist() == [1262304000, 1262307600]  # without a unit: step numbers
    with pytest.raises(TimeError, match="not a whole number of seconds"):
        parsed(["1262304000500"], unit="ms")
    with pytest.raises(TimeError, match="line 2: .*'2010-01-01'; --time-unit s expects Unix times"):
        parsed(["2010-01-01"], unit="s")
    with pytest.raises(ValueError, match="time unit must be one of"):
        TimeParsing(unit="h")


def test_strptime_format_reads_anything_else():
    assert (parsed(["20100131 1300", "20100201 1400"], format="%Y%m%d %H%M") == iso("2010-01-31T13:00", "2010-02-01T14:00")).all()
    times, notes = parse_times(["2010-01-01 00:00 +0100"], "f.csv", "time", TimeParsing(format="%Y-%m-%d %H:%M %z"))
    assert times[0] == np.datetime64("2009-12-31T23:00") and notes
    with pytest.raises(TimeError, match="line 3: .*'2010-01-02', which does not match --time-format '%d.%m.%Y'"):
        parsed(["01.01.2010", "2010-01-02"], format="%d.%m.%Y")
    with pytest.raises(ValueError, match="strptime format"):
        TimeParsing(format="dd.mm.yyyy")


@pytest.mark.parametrize("texts, message", [
    (["2010-01-01", "2010/01/02"], "line 3: time column 'time' holds '2010/01/02', written differently from line 2"),
    (["2010-01-01", "yesterday"], "line 3: time column 'time' holds 'yesterday', which is not a date/time"),
    (["2010-01-01", " "], "line 3: time column 'time' is empty"),
    (["2010-02-30"], "line 2: time column 'time' holds '2010-02-30', which is not a valid date/time"),
    (["2010/02/30 10:00"], "'2010/02/30 10:00', which is not a valid date/time"),
    (["2010-01-01 25:00"], "which is not a valid date/time"),
    (["Foo 1 2000"], "'Foo' is not an English month name"),
    (["2010-01-01 13:00 PM"], "hour 13 with AM/PM"),
])
def test_bad_times_name_the_line(texts, message):
    with pytest.raises(TimeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parsed(texts)


def test_parse_time_reads_one_date_the_column_s_way():
    assert parse_time("2017/06/26") == np.datetime64("2017-06-26")
    assert parse_time("01/02/2017", TimeParsing(dayfirst=True)) == np.datetime64("2017-02-01")
    with pytest.raises(ValueError, match="'01/02/2017' is not a date"):
        parse_time("01/02/2017")


def write(tmp_path, lines, name="series.csv"):
    path = tmp_path / name
    path.write_text("time,y\n" + "".join(f"{t},{i}\n" for i, t in enumerate(lines)))
    return path


def test_daylight_saving_repeat_and_gap_are_reported_with_the_reason(tmp_path):
    autumn = ["2021-10-31 00:00", "2021-10-31 01:00", "2021-10-31 02:00", "2021-10-31 02:00", "2021-10-31 03:00"]
    with pytest.raises(ValueError, match="repeats at line 5 .*daylight saving ends"):
        read_table(write(tmp_path, autumn), ["y"], "time")
    spring = ["2021-03-28 00:00", "2021-03-28 01:00", "2021-03-28 03:00", "2021-03-28 04:00"]
    with pytest.raises(ValueError, match="1 gap.*2021-03-28T01:00:00 -> 2021-03-28T03:00:00.*daylight saving"):
        read_table(write(tmp_path, spring), ["y"], "time")
    # with offsets the same instants are regular
    offsets = ["2021-10-31 01:00+02:00", "2021-10-31 02:00+02:00", "2021-10-31 02:00+01:00", "2021-10-31 03:00+01:00"]
    table = read_table(write(tmp_path, offsets), ["y"], "time")
    assert time_step(table.times) == np.timedelta64(1, "h") and len(table.times) == 4 and table.notes


def test_monthly_quarterly_and_yearly_series_are_regular(tmp_path):
    months = ["Jan 2000", "Feb 2000", "Mar 2000", "Apr 2000", "May 2000", "Jun 2000"]
    table = read_table(write(tmp_path, months), ["y"], "time")
    assert time_step(table.times) == np.timedelta64(1, "M") and natural_seasons(table) == (12,)
    assert (future_times(table.times, 2) == iso("2000-07-01", "2000-08-01")).all()
    ends = ["2000-01-31", "2000-02-29", "2000-03-31", "2000-04-30"]
    table = read_table(write(tmp_path, ends), ["y"], "time")
    assert (future_times(table.times, 3) == iso("2000-05-31", "2000-06-30", "2000-07-31")).all()
    quarters = ["2000-01-01", "2000-04-01", "2000-07-01", "2000-10-01", "2001-01-01"]
    table = read_table(write(tmp_path, quarters), ["y"], "time")
    assert time_step(table.times) == np.timedelta64(3, "M") and natural_seasons(table) == (4,)
    years = ["1999-12-31", "2000-12-31", "2001-12-31", "2002-12-31"]
    assert time_step(read_table(write(tmp_path, years), ["y"], "time").times) == np.timedelta64(12, "M")
    features, names = calendar_features(table.times, time_step(table.times))
    assert names == ["yearday_sin", "yearday_cos"] and features.shape == (5, 2)


def test_a_missing_month_is_a_gap_and_a_fill_inserts_that_month(tmp_path):
    months = ["2000-01-15", "2000-02-15", "2000-04-15", "2000-05-15"]
    with pytest.raises(ValueError, match=r"1 gap\(s\) in the time steps \(step 1 month\): 2000-02-15T00:00:00 -> 2000-04-15"):
        read_table(write(tmp_path, months), ["y"], "time")
    table = read_table(write(tmp_path, months), ["y"], "time", fill="interpolate")
    assert (table.times == iso("2000-01-15", "2000-02-15", "2000-03-15", "2000-04-15", "2000-05-15")).all()
    assert table.values[:, 0].tolist() == [0, 1, 1.5, 2, 3]


def test_month_grid_needs_one_anchor():
    assert MonthGrid.of(iso("2000-01-01", "2000-01-31", "2000-03-01")) is None  # day 1 and a month end
    assert MonthGrid.of(iso("2000-01-01", "2000-01-02", "2000-01-03")) is None  # daily
    assert MonthGrid.of(iso("2000-01-01", "2000-01-31", "2000-03-01", "2000-03-31")) is None
    assert MonthGrid.of(iso("2000-01-01T06:00", "2000-02-01T06:00")).clock == np.timedelta64(6, "h")
    grid = MonthGrid.of(iso("2000-01-31", "2000-02-29"))
    assert grid.day is None and (grid.at(MonthGrid.index(iso("2001-02-01"))) == iso("2001-02-28")).all()
