"""Panels of many series in one long table (--id-column): rows grouped per series, windows that never
cross series, scaling per series from its training rows, a global model that fits two different
sines, per-series metrics equal to evaluating that series alone, short series left out and counted,
and the CLI from the generated panel to per-series forecasts."""

import json

import numpy as np
import pytest
import torch

from rnnkit.cli import main
from rnnkit.data.timeseries import read_rows, split_series
from rnnkit.data.windows import Scaler
from rnnkit.tasks import forecast
from rnnkit.tasks.forecast.panel import load_panel, panel_windows

FAST = ["--lookback", "24", "--horizon", "6", "--epochs", "2", "--hidden-size", "8", "--stride", "4", "--no-progress", "--device", "cpu"]


def write_sines(path, periods=(12, 30), rows=(400, 300), extra=""):
    lines = ["id,t,y"]
    for name, period, n in zip("ab", periods, rows):
        lines += [f"{name},{i},{(1 + 9 * (name == 'b')) * np.sin(2 * np.pi * i / period):.6f}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def config(**values):
    return forecast.ForecastDataConfig(**{"targets": ("y",), "time_column": "t", "id_column": "id", "lookback": 24, "horizon": 6,
                                          **values})


def test_rows_are_grouped_per_series_in_file_order(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("id,t,y\nb,0,1\na,0,2\nb,1,3\na,1,4\n")
    groups = split_series(*read_rows(path), "id")
    assert list(groups) == ["b", "a"]
    assert [r[2] for r in groups["a"][0]] == ["2", "4"] and groups["a"][1].tolist() == [3, 5]
    path.write_text("id,t,y\nb,0,1\n,1,3\n")
    with pytest.raises(ValueError, match="line 3: the id column 'id' is empty"):
        split_series(*read_rows(path), "id")
    with pytest.raises(ValueError, match="no id column 'site'"):
        split_series(*read_rows(path), "site")


def test_a_series_error_names_the_series_and_its_line_in_the_file(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("id,t,y\na,0,1\nb,0,1\na,1,2\nb,1,x\n")
    with pytest.raises(ValueError, match="series 'b', line 5: column 'y' holds 'x'"):
        load_panel(str(path), config(lookback=1, horizon=1), ("train",))


def test_windows_never_cross_series_and_scaling_is_per_series_training_rows(tmp_path):
    path = write_sines(tmp_path / "p.csv")
    c = config()
    panel = load_panel(str(path), c, ("train", "val", "test"))
    assert panel.ids == ["a", "b"] and [len(f.features) for f in panel.frames] == [400, 300]
    for part in ("train", "val", "test"):
        data = panel_windows(panel, c, part, 1, False, 64)
        starts = np.cumsum([0, 400, 300])
        for origin in data.origins.tolist():
            k = int(np.searchsorted(starts, origin, side="right")) - 1
            assert starts[k] <= origin - c.lookback and origin + c.horizon <= starts[k + 1]
            frame, local = panel.frames[k], origin - starts[k]
            first, last = frame.split.part(part)
            assert first <= local and local + c.horizon <= last  # targets inside the series' own part
        window = data.collate(torch.tensor([len(data.origins) - 1]))  # the last window: series b's
        local = int(data.origins[-1]) - 400
        assert torch.equal(window.inputs[0, : c.lookback], torch.as_tensor(panel.frames[1].features[local - c.lookback : local]))
        assert torch.equal(window.targets[0, :, 0], torch.as_tensor(panel.frames[1].features[local : local + c.horizon, 0]))
    for frame in panel.frames:
        expected = Scaler.fit(frame.table.values[: frame.split.train_end])
        assert frame.scaler == expected and frame.split.train_end == int(len(frame.features) * 0.7)
    # changing series b's test rows leaves every scaler as it was
    lines = path.read_text().splitlines()
    lines[-10:] = [line.rsplit(",", 1)[0] + ",1000" for line in lines[-10:]]
    path.write_text("\n".join(lines) + "\n")
    changed = load_panel(str(path), c, ("train", "val", "test"))
    assert [f.scaler for f in changed.frames] == [f.scaler for f in panel.frames]


def test_a_global_model_fits_two_different_sines_and_series_metrics_equal_evaluating_that_series_alone(tmp_path):
    path = write_sines(tmp_path / "p.csv")
    run = tmp_path / "run"
    summary = forecast.train(str(path), config(), {"hidden_size": 32}, {"epochs": 25, "lr": 1e-2, "device": "cpu", "progress": False,
                                                                         "early_stopping": None}, run)
    test = summary["test"]
    assert set(test["series"]) == {"a", "b"}
    for name in "ab":
        row = test["series"][name]
        assert row["model"]["mse_scaled"] < 0.02 < row["persistence"]["mse_scaled"]
    assert test["model"]["mse_scaled"] < 0.02 and test["beats_persistence"]
    pooled_windows = sum(row["windows"] for row in test["series"].values())
    assert test["windows"] == pooled_windows
    weighted = sum(row["model"]["mse_scaled"] * row["windows"] for row in test["series"].values()) / pooled_windows
    assert test["model"]["mse_scaled"] == pytest.approx(weighted)
    alone = tmp_path / "b.csv"
    alone.write_text("\n".join(line for line in path.read_text().splitlines() if not line.startswith("a,")) + "\n")
    only_b = forecast.evaluate_run(run, str(alone), "test", plot=False, device_name="cpu")
    assert only_b["series"]["b"] == test["series"]["b"] and list(only_b["series"]) == ["b"]
    assert only_b["model"]["mse_scaled"] == pytest.approx(test["series"]["b"]["model"]["mse_scaled"])


def test_short_series_and_unknown_series_are_left_out_and_counted(tmp_path, capsys):
    path = write_sines(tmp_path / "p.csv", extra="".join(f"c,{i},{i}\n" for i in range(20)))
    run = tmp_path / "run"
    assert main(["forecast", "train", "--data", str(path), "--time-column", "t", "--target", "y", "--id-column", "id",
                 "--out", str(run), *FAST]) == 0
    captured = capsys.readouterr()
    assert "1 of 3 series left out (c: 20 rows: its train part has 14 rows, too few for one window" in captured.err
    assert "left out: c:" in captured.out
    saved = json.loads((run / "forecast.json").read_text())["panel"]
    assert saved["ids"] == ["a", "b"] and "c" in saved["left_out"]
    other = write_sines(tmp_path / "q.csv", extra="".join(f"d,{i},{i}\n" for i in range(200)))
    assert main(["forecast", "evaluate", str(run), "--data", str(other), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert list(metrics["series"]) == ["a", "b"] and "not a series of the trained run" in metrics["left_out"]["d"]


def test_cli_example_panel_train_evaluate_predict_resume(tmp_path, capsys):
    data = tmp_path / "panel.csv"
    assert main(["forecast", "example", str(data), "--series", "3", "--days", "30"]) == 0
    capsys.readouterr()
    run = tmp_path / "run"
    assert main(["forecast", "train", "--data", str(data), "--time-column", "time", "--target", "demand", "--known", "temperature",
                 "--calendar", "--id-column", "id", "--id-features", "--out", str(run), *FAST]) == 0
    out = capsys.readouterr().out
    assert "each series, MSE(z)" in out and "site3" in out
    assert main(["forecast", "evaluate", str(run), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert list(metrics["series"]) == ["site1", "site2", "site3"]
    assert json.loads((run / "run.json").read_text())["model"]["config"]["num_features"] == 2 + 6 + 3  # targets+known, calendar, ids
    # known future temperatures: 6 trailing rows per series with empty demand
    lines = data.read_text().splitlines()
    future = [f"site2,2024-02-{d:02d} 00:00:00,,10.0" for d in range(20, 26)]
    history = [line for line in lines if line.startswith("site2,")]
    (tmp_path / "site2.csv").write_text("\n".join([lines[0], *history[:-10], *future]) + "\n")
    assert main(["forecast", "predict", str(run), "--data", str(tmp_path / "site2.csv"), "--plot", str(tmp_path / "f.png")]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == "id,time,demand" and len(rows) == 7 and all(r.startswith("site2,") for r in rows[1:])
    assert (tmp_path / "f.png").stat().st_size > 0
    assert main(["forecast", "predict", str(run), "--data", str(data), "--ids", "site4"]) == 1
    assert "['site4'] are not series of the trained run" in capsys.readouterr().err
    assert main(["forecast", "detect", str(run)]) == 1
    assert "is a panel run" in capsys.readouterr().err
    assert main(["forecast", "train", "--resume", str(run), "--epochs", "3", "--no-progress"]) == 0


def test_panel_config_is_checked():
    with pytest.raises(ValueError, match="--split-rows counts rows of one series"):
        config(split_rows=(10, 5, 5))
    with pytest.raises(ValueError, match="need an id column"):
        forecast.ForecastDataConfig(targets=("y",), id_features=True)
    with pytest.raises(ValueError, match="id column 'y' is also named"):
        forecast.ForecastDataConfig(targets=("y",), id_column="y")
