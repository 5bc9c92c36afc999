"""Forecasting data: reading tables with time columns and every bad input, fills, calendar features,
chronological splits, window construction, the scaler round trip, and no leakage of the future."""

import gzip

import numpy as np
import pytest
import torch

from rnnkit.data.timeseries import calendar_features, example_series, read_table, split_future_rows, time_step, write_example
from rnnkit.data.windows import Scaler, WindowBatches, split_rows, window_origins
from rnnkit.tasks.forecast import ForecastDataConfig, fit_linear_baseline, load_frame


def write(tmp_path, text, name="series.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


HOURLY = "time,load,temp\n" + "".join(f"2024-01-01 {h:02d}:00:00,{10 + h},{h * 0.5}\n" for h in range(6))


def test_reads_named_columns_in_time_order(tmp_path):
    table = read_table(write(tmp_path, HOURLY), ["load", "temp"], "time")
    assert table.columns == ["load", "temp"] and table.values.shape == (6, 2)
    assert table.values[:, 0].tolist() == [10, 11, 12, 13, 14, 15]
    assert table.is_datetime and time_step(table.times) == np.timedelta64(1, "h")


def test_reads_tsv_and_gzip_and_numeric_time(tmp_path):
    tsv = write(tmp_path, HOURLY.replace(",", "\t"), "series.tsv")
    assert read_table(tsv, ["temp"], "time").values[-1, 0] == 2.5
    gz = tmp_path / "series.csv.gz"
    gz.write_bytes(gzip.compress(HOURLY.encode()))
    assert read_table(gz, ["load"], "time").values.shape == (6, 1)
    steps = write(tmp_path, "t,y\n1,5\n2,6\n3,7\n", "steps.csv")
    table = read_table(steps, ["y"], "t")
    assert not table.is_datetime and table.times.tolist() == [1, 2, 3]


@pytest.mark.parametrize("text, columns, message", [
    (HOURLY, ["load", "price"], "no column(s) ['price']; the file has columns ['time', 'load', 'temp']"),
    (HOURLY.replace("2024-01-01 03:00:00", "yesterday"), ["load"], "line 5: time column 'time' holds 'yesterday', which is not a date"),
    (HOURLY.replace("2024-01-01 03:00:00", "2024-01-01 02:00:00"), ["load"], "the timestamp repeats at line 5"),
    (HOURLY.replace("2024-01-01 03:00:00", "2024-01-01 00:30:00"), ["load"], "goes back in time at line 5"),
    (HOURLY.replace(",13,", ",thirteen,"), ["load"], "line 5: column 'load' holds 'thirteen', which is not a number"),
    (HOURLY.replace(",13,", ",,"), ["load"], "1 missing value(s) (empty or NaN): line 5 column 'load'"),
    (HOURLY.replace("2024-01-01 03:00:00,13,1.5\n", ""), ["load"], "1 gap(s) in the time steps"),
    (HOURLY.replace("2024-01-01 03:00:00", "2024-01-01 03:20:00"), ["load"], "irregular time step at line 5"),
    ("", ["load"], "is empty"),
    ("time,load\n", ["load"], "has a header but no rows"),
])
def test_bad_tables_name_the_problem_and_the_rows(tmp_path, text, columns, message):
    with pytest.raises(ValueError) as err:
        read_table(write(tmp_path, text), columns, "time")
    assert message in str(err.value)


def test_fills_are_explicit_and_fill_gaps_and_nans(tmp_path):
    text = HOURLY.replace(",13,", ",,").replace("2024-01-01 04:00:00,14,2.0\n", "")
    path = write(tmp_path, text)
    ffill = read_table(path, ["load"], "time", fill="ffill")
    assert ffill.values[:, 0].tolist() == [10, 11, 12, 12, 12, 15]
    interpolated = read_table(path, ["load"], "time", fill="interpolate")
    assert interpolated.values[:, 0].tolist() == [10, 11, 12, 13, 14, 15]
    assert len(interpolated.times) == 6 and interpolated.lines.tolist() == [2, 3, 4, 5, 0, 6]
    leading = write(tmp_path, "t,y\n1,\n2,4\n3,5\n", "lead.csv")
    assert read_table(leading, ["y"], "t", fill="ffill").values[:, 0].tolist() == [4, 4, 5]


def test_future_rows_are_the_trailing_rows_without_targets():
    header = ["time", "y", "x"]
    rows = [["1", "5", "0"], ["2", "", "1"], ["3", "7", "2"], ["4", "", "3"], ["5", " ", "4"]]
    history, future = split_future_rows(header, rows, ["y"])
    assert [r[0] for r in history] == ["1", "2", "3"] and [r[0] for r in future] == ["4", "5"]


def test_calendar_features_follow_the_clock_and_the_week():
    times = np.datetime64("2024-01-01T00:00") + np.arange(24 * 8) * np.timedelta64(1, "h")
    features, names = calendar_features(times, np.timedelta64(1, "h"))
    assert names == ["hour_sin", "hour_cos", "weekday_sin", "weekday_cos", "yearday_sin", "yearday_cos"]
    np.testing.assert_allclose(features[6, :2], [1.0, 0.0], atol=1e-12)  # 06:00 is a quarter of the day
    np.testing.assert_allclose(features[0, 2:4], features[24 * 7, 2:4])  # same weekday a week later
    assert not np.allclose(features[0, 2:4], features[24, 2:4])
    daily, names = calendar_features(times[::24], np.timedelta64(1, "D"))
    assert names[0] == "weekday_sin"


def test_splits_are_chronological_by_fraction_rows_or_start():
    assert split_rows(100) == split_rows(100, fractions=(0.7, 0.1, 0.2))
    split = split_rows(100)
    assert (split.train_end, split.val_end, split.end) == (70, 80, 100)
    split = split_rows(20000, rows=(8640, 2880, 2880))
    assert (split.train_end, split.val_end, split.end) == (8640, 11520, 14400)
    assert split_rows(50, starts=(30, 40)).part("test") == (40, 50)
    with pytest.raises(ValueError, match="summing to at most"):
        split_rows(10, rows=(8, 2, 2))


def test_validation_and_test_windows_start_on_the_boundary():
    split = split_rows(100, rows=(60, 20, 20))
    val = window_origins(split, "val", lookback=10, horizon=5)
    assert val[0] == 60 and val[-1] + 5 == 80  # targets inside the part, inputs reach back into train
    train = window_origins(split, "train", lookback=10, horizon=5, stride=3)
    assert train[0] == 10 and train[-1] + 5 <= 60 and np.all(np.diff(train) == 3)
    with pytest.raises(ValueError, match="too short for one window of lookback 30 \\+ horizon 25"):
        window_origins(split, "test", lookback=30, horizon=25)


def test_windows_hide_the_unknown_future_and_keep_known_covariates():
    features = torch.arange(30.0).view(10, 3)  # columns: target, past covariate, known covariate
    data = WindowBatches(features, [5], lookback=4, horizon=3, num_targets=1, batch_size=4, num_known=1)
    batch = next(data.batches(epoch=0, seed=0))
    assert batch.inputs.shape == (1, 7, 3) and batch.targets.shape == (1, 3, 1)
    assert batch.targets[0, :, 0].tolist() == [15.0, 18.0, 21.0]
    assert batch.inputs[0, 4:, :2].abs().sum() == 0  # target and past covariate zeroed over the horizon
    assert batch.inputs[0, :, 2].tolist() == [5.0, 8.0, 11.0, 14.0, 17.0, 20.0, 23.0]
    assert batch.inputs[0, :4, 0].tolist() == [3.0, 6.0, 9.0, 12.0]
    assert features[6, 0] == 18.0  # the source array is untouched


def test_scaler_round_trip_and_fitted_on_training_rows_only(tmp_path):
    path = write_example(tmp_path / "demand.csv", days=30)
    config = ForecastDataConfig(targets=("demand",), covariates=("temperature",), time_column="time", lookback=48, horizon=12)
    frame = load_frame(str(path), config)
    train = frame.table.values[: frame.split.train_end]
    np.testing.assert_allclose(frame.scaler.mean, train.mean(axis=0))
    assert not np.allclose(frame.scaler.mean, frame.table.values.mean(axis=0))
    np.testing.assert_allclose(frame.scaler.inverse(frame.scaler.transform(frame.table.values)), frame.table.values, rtol=1e-10)
    # changing the test rows changes neither the scaler nor the linear baseline
    changed = frame.table.values.copy()
    changed[frame.split.val_end :] += 1000.0
    frame.table.values[:] = changed
    from rnnkit.tasks.forecast import make_frame

    again = make_frame(frame.table, config)
    assert again.scaler == frame.scaler
    torch.testing.assert_close(fit_linear_baseline(again, config).weight, fit_linear_baseline(frame, config).weight)


def test_example_series_is_deterministic_with_daily_and_weekly_seasons():
    times, demand, temperature = example_series(days=28, seed=3)
    again = example_series(days=28, seed=3)[1]
    assert len(times) == 28 * 24 and np.array_equal(demand, again)
    by_hour = demand.reshape(28, 24).mean(axis=0)
    assert by_hour.max() - by_hour.min() > 10  # a daily profile
    by_day = demand.reshape(4, 7, 24).mean(axis=(0, 2))
    assert by_day[:5].mean() - by_day[5:].mean() > 5  # weekends lower
    assert not np.isnan(temperature).any()


def test_scaler_keeps_constant_columns_finite():
    scaler = Scaler.fit(np.array([[1.0, 5.0], [3.0, 5.0]]))
    assert scaler.std == [1.0, 1.0] and np.isfinite(scaler.transform(np.array([[2.0, 5.0]]))).all()
