"""`rnnkit forecast` end to end in a temporary directory: example -> train -> evaluate -> predict
(with the plot), resume, probabilistic heads, and every bad input the issue lists."""

import json

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.data.timeseries import write_example

FAST = ["--lookback", "48", "--horizon", "12", "--epochs", "2", "--hidden-size", "8", "--stride", "4", "--no-progress", "--device", "cpu"]


@pytest.fixture(scope="module")
def demand(tmp_path_factory):
    return str(write_example(tmp_path_factory.mktemp("data") / "demand.csv", days=40))


def test_example_train_evaluate_predict(tmp_path, demand, capsys):
    run = tmp_path / "run"
    assert main(["forecast", "train", "--data", demand, "--time-column", "time", "--target", "demand", "--known", "temperature",
                 "--calendar", "--out", str(run), *FAST]) == 0
    out = capsys.readouterr().out
    assert "persistence" in out and "seasonal_naive" in out and "linear" in out
    assert (run / "plots" / "loss.png").is_file() and (run / "baselines.safetensors").is_file()

    assert main(["forecast", "evaluate", str(run), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    for name in ("model", "persistence", "seasonal_naive", "linear"):
        assert set(metrics[name]) >= {"mse", "mae", "mse_scaled", "mae_scaled", "smape"}
        assert metrics[name]["mse"] > 0
    assert metrics["season"] == 24 and metrics["part"] == "test" and metrics["horizon"] == 12
    assert metrics["windows"] == 40 * 24 - int(40 * 24 * 0.8) - 12 + 1
    assert (run / "plots" / "forecast-demand-test.png").is_file()
    # evaluate on the validation part, rolling origin every 6 steps
    assert main(["forecast", "evaluate", str(run), "--part", "val", "--stride", "6", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["windows"] == len(range(int(40 * 24 * 0.7), int(40 * 24 * 0.8) - 12 + 1, 6))

    future = tmp_path / "future.csv"
    lines = open(demand).read().splitlines()
    future.write_text("\n".join(lines) + "\n" + "".join(f"2024-02-10 {h:02d}:00:00,,{5 + h / 10}\n" for h in range(12)))
    plot = tmp_path / "forecast.png"
    assert main(["forecast", "predict", str(run), "--data", str(future), "--plot", str(plot)]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == "time,demand" and len(rows) == 13
    assert rows[1].startswith("2024-02-10 00:00:00,") and float(rows[1].split(",")[1]) > 0
    assert plot.is_file()
    # known covariates are required for the future steps
    assert main(["forecast", "predict", str(run), "--data", demand]) == 1
    assert "add 12 rows after the history with their values and empty targets (found 0)" in capsys.readouterr().err


def test_gaussian_autoregressive_run_has_intervals_and_resumes(tmp_path, demand, capsys):
    run = tmp_path / "run"
    args = ["forecast", "train", "--data", demand, "--time-column", "time", "--target", "demand", "temperature",
            "--head", "autoregressive", "--loss", "gaussian", "--out", str(run), *FAST]
    assert main(args) == 0
    assert "coverage" in capsys.readouterr().out
    assert main(["forecast", "evaluate", str(run), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert 0 <= metrics["model"]["coverage"] <= 1 and metrics["targets"] == ["demand", "temperature"]
    assert main(["forecast", "predict", str(run), "--data", demand]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert header == "time,demand,demand_lower,demand_upper,temperature,temperature_lower,temperature_upper"
    steps = json.loads((run / "last" / "state.json").read_text())["trainer"]["progress"]["step"]
    assert main(["forecast", "train", "--resume", str(run), "--epochs", "3", "--no-progress"]) == 0
    assert json.loads((run / "last" / "state.json").read_text())["trainer"]["progress"]["step"] == steps * 3 // 2


def test_quantile_loss_and_numeric_time(tmp_path, capsys):
    path = tmp_path / "steps.csv"
    path.write_text("t,y\n" + "".join(f"{i},{(i % 7) + 0.1 * (i % 3)}\n" for i in range(400)))
    run = tmp_path / "run"
    assert main(["forecast", "train", "--data", str(path), "--time-column", "t", "--target", "y", "--loss", "quantile",
                 "--quantiles", "0.1,0.5,0.9", "--out", str(run), *FAST]) == 0
    capsys.readouterr()
    assert main(["forecast", "predict", str(run), "--data", str(path)]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == "time,y,y_lower,y_upper" and rows[1].startswith("400,")
    lower, upper = (float(v) for v in rows[1].split(",")[2:])
    assert lower <= upper


def test_monthly_series_with_spreadsheet_dates_and_a_time_format(tmp_path, capsys):
    months = [np.datetime64("1990-01") + i for i in range(240)]
    values = [10 + 3 * np.sin(2 * np.pi * i / 12) + 0.01 * i for i in range(240)]
    path = tmp_path / "monthly.csv"
    path.write_text("month,sales\n" + "".join(f"{m.astype(object):%b %Y},{v:.3f}\n" for m, v in zip(months, values)))
    run = tmp_path / "run"
    assert main(["forecast", "train", "--data", str(path), "--time-column", "month", "--target", "sales", "--calendar",
                 "--out", str(run), *FAST]) == 0
    assert "season 12" in capsys.readouterr().out
    assert main(["forecast", "predict", str(run), "--data", str(path)]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[1].startswith("2010-01-01 00:00:00,") and rows[12].startswith("2010-12-01 00:00:00,")
    dotted = tmp_path / "dotted.csv"
    dotted.write_text("day,y\n" + "".join(f"{(np.datetime64('2020-01-01') + i).astype(object):%d.%m.%Y},{i % 7}\n" for i in range(120)))
    assert main(["forecast", "train", "--data", str(dotted), "--time-column", "day", "--target", "y", "--time-format", "%d.%m.%Y",
                 "--out", str(tmp_path / "daily"), *FAST]) == 0
    capsys.readouterr()
    firsts = tmp_path / "firsts.csv"  # the 1st of every month: no day above 12 settles the order
    firsts.write_text("day,y\n" + "".join(f"{m.astype(object):01.%m.%Y},{v:.3f}\n" for m, v in zip(months, values)))
    assert main(["forecast", "train", "--data", str(firsts), "--time-column", "day", "--target", "y",
                 "--out", str(tmp_path / "ambiguous"), *FAST]) == 1
    assert "pass --dayfirst or --monthfirst" in capsys.readouterr().err
    assert main(["forecast", "train", "--data", str(firsts), "--time-column", "day", "--target", "y", "--dayfirst",
                 "--out", str(tmp_path / "dayfirst"), *FAST]) == 0
    assert "season 12" in capsys.readouterr().out
    assert json.loads((tmp_path / "dayfirst" / "forecast.json").read_text())["data"]["dayfirst"] is True


def write(tmp_path, text):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    return str(path)


GOOD = "".join(f"2024-01-01 {h % 24:02d}:00:00,{h}\n" for h in range(3))


@pytest.mark.parametrize("text, extra, message", [
    ("time,load\n" + GOOD, ["--target", "price"], "no column(s) ['price']; the file has columns ['time', 'load']"),
    ("time,load\n" + GOOD.replace("2024-01-01 01:00:00", "01/02/2024 1am"), ["--target", "load"], "line 3: time column 'time' holds '01/02/2024 1am'"),
    ("time,load\n" + GOOD.replace("01:00:00", "02:00:00"), ["--target", "load"], "the timestamp repeats at line 4"),
    ("time,load\n" + GOOD.replace("01:00:00", "05:00:00"), ["--target", "load"], "goes back in time at line 4"),
    ("time,load\n" + GOOD.replace(",1\n", ",n/a!\n"), ["--target", "load"], "line 3: column 'load' holds 'n/a!', which is not a number"),
    ("time,load\n" + GOOD, ["--target", "load"], "is too short for one window of lookback 48 + horizon 12"),
])
def test_bad_input_is_one_clear_line(tmp_path, capsys, text, extra, message):
    assert main(["forecast", "train", "--data", write(tmp_path, text), "--time-column", "time", *extra,
                 "--out", str(tmp_path / "run"), *FAST]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_usage_errors(tmp_path, demand, capsys):
    assert main(["forecast", "train", "--data", demand, "--out", str(tmp_path / "r")]) == 1
    assert "--target COLUMN are required" in capsys.readouterr().err
    assert main(["forecast", "train", "--data", demand, "--target", "demand", "--calendar", "--out", str(tmp_path / "r")]) == 1
    assert "calendar features need a time column" in capsys.readouterr().err
    assert main(["forecast", "train", "--data", demand, "--target", "demand", "--split", "0.7,0.3", "--out", str(tmp_path / "r")]) == 1
    assert "--split takes 3 comma-separated numbers" in capsys.readouterr().err
    assert main(["forecast", "evaluate", str(tmp_path)]) == 1
    assert "not an rnnkit run directory" in capsys.readouterr().err
