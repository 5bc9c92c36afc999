"""Numeric series readers (.ts, label-first tables, NPZ), missing values and standardisation."""

import math

import numpy as np
import pytest
import torch

from rnnkit.data.series import Standardizer, fill_missing, read_series

UNIVARIATE = """# a comment
@problemName tiny
@timeStamps false
@univariate true
@classLabel true a b
@data
1,2,3:a
4,5,6,7:b
"""
MULTIVARIATE = """@problemName tiny
@univariate false
@dimensions 2
@classLabel true 1.0 2.0
@data
1,2,3:10,20,30:1.0
4,?,6:40,50,60:2.0
"""


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_ts_univariate_unequal_lengths(tmp_path):
    series = read_series(_write(tmp_path, "u.ts", UNIVARIATE))
    assert [v.shape for v in series.values] == [(3, 1), (4, 1)] and series.labels == ["a", "b"]
    assert series.values[1][:, 0].tolist() == [4, 5, 6, 7]


def test_ts_multivariate_with_missing_values(tmp_path):
    series = read_series(_write(tmp_path, "m.ts", MULTIVARIATE))
    assert series.values[0].tolist() == [[1, 10], [2, 20], [3, 30]]
    assert math.isnan(series.values[1][1, 0]) and series.labels == ["1", "2"]


@pytest.mark.parametrize("text, message", [
    ("1,2,3:a\n", r"line 1: expected a @header or @data"),
    ("@problemName x\n@classLabel true a\n", "no @data line"),
    ("@classLabel true a\n@data\n1,2:3,4:a\n5,6:a\n", r"line 4: 1 channels, but earlier series have 2"),
    ("@classLabel true a\n@data\n1,x,3:a\n", r"line 3: 'x' is not a number"),
])
def test_ts_errors_name_the_line(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        read_series(_write(tmp_path, "bad.ts", text))


def test_label_first_table_any_separator(tmp_path):
    series = read_series(_write(tmp_path, "t.txt", "  1.0000000e+00  0.5  0.25\n-1 1.5 2.5\n"))
    assert series.labels == ["1", "-1"] and series.values[1][:, 0].tolist() == [1.5, 2.5]
    assert read_series(_write(tmp_path, "t.csv", "a,1,2,3\n")).values[0].shape == (3, 1)


def test_npz(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.arange(24, dtype=np.float32).reshape(2, 4, 3), y=np.array([0, 1]), lengths=np.array([4, 2]))
    series = read_series(path)
    assert [v.shape for v in series.values] == [(4, 3), (2, 3)] and series.labels == ["0", "1"]
    np.savez(tmp_path / "bad.npz", data=np.zeros(3))
    with pytest.raises(ValueError, match=r"expected arrays named X .* and y"):
        read_series(tmp_path / "bad.npz")


def test_missing_values_need_an_explicit_fill(tmp_path):
    series = read_series(_write(tmp_path, "m.ts", MULTIVARIATE))
    with pytest.raises(ValueError, match="series 2 has missing values .*--fill-missing zero or ffill"):
        fill_missing(series, None)
    assert fill_missing(series, "zero").values[1][1, 0] == 0
    assert fill_missing(series, "ffill").values[1][:, 0].tolist() == [4, 4, 6]


def test_forward_fill_backfills_a_leading_gap():
    from rnnkit.data.series import Series

    filled = fill_missing(Series([torch.tensor([[math.nan], [math.nan], [3.0], [math.nan]])], ["a"], "x"), "ffill")
    assert filled.values[0][:, 0].tolist() == [3, 3, 3, 3]


def test_standardizer_uses_training_statistics_only():
    train = [torch.tensor([[0.0, 10.0], [2.0, 10.0]])]
    scaler = Standardizer.fit(train)
    assert scaler.mean == [1.0, 10.0] and scaler.std == [1.0, 1.0]  # a constant channel keeps std 1
    assert scaler(torch.tensor([[3.0, 12.0]])).tolist() == [[2.0, 2.0]]
    with pytest.raises(ValueError, match="series have 3 channels; the model was trained on 2"):
        scaler(torch.zeros(1, 3))
