"""`rnnkit forecast detect`: anomaly scores from forecast errors (Malhotra et al. 2015). Each row's
error vector holds the forecasts made for it from the `steps` latest origins; the Gaussian of the
validation errors makes typical scores about targets x steps; planted anomalies in the generated
series are found; labels give AUROC, AUPRC and the best F1."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rnnkit.cli import main
from rnnkit.tasks import forecast
from rnnkit.tasks.forecast.detect import error_vectors, fit_gaussian, mahalanobis


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("detect")
    data = root / "series.csv"
    assert main(["forecast", "example", str(data), "--days", "80", "--anomalies", "8"]) == 0
    out = root / "run"
    assert main(["forecast", "train", "--data", str(data), "--time-column", "time", "--target", "demand", "--lookback", "24",
                 "--horizon", "4", "--epochs", "2", "--hidden-size", "16", "--no-progress", "--out", str(out)]) == 0
    return root, data, out


def test_each_row_gets_the_forecasts_made_for_it(run):
    _, data, out = run
    loaded = forecast.load_run(out)
    frame = forecast.load_frame(str(data), loaded.data_config, loaded.scaler)
    rows, errors = error_vectors(loaded, frame, 3, "cpu")
    assert rows[0] == 24 + 2 and rows[-1] == len(frame.features) - 1 and errors.shape == (len(rows), 3)
    t = 100
    for k in range(3):  # the forecast from origin t - k, k steps ahead
        origin = t - k
        window = np.zeros((24 + 4, frame.features.shape[1]), dtype=np.float32)
        window[:24] = frame.features[origin - 24:origin]
        with torch.no_grad():
            predicted = loaded.model.forecast(loaded.model(torch.from_numpy(window)[None])).mean[0, k, 0].item()
        assert errors[rows == t][0, k] == pytest.approx(frame.features[t, 0] - predicted, abs=1e-5)


def test_gaussian_scores_are_about_the_dimension_on_its_own_data():
    errors = np.random.default_rng(0).normal(size=(5000, 4)) @ np.array([[1, 0.5, 0, 0], [0, 1, 0, 0], [0, 0, 2, 0], [0, 0, 0, 0.1]])
    mean, precision = fit_gaussian(errors)
    assert mahalanobis(errors, mean, precision).mean() == pytest.approx(4, rel=0.01)


def test_detect_finds_the_planted_anomalies(run, capsys):
    root, data, out = run
    capsys.readouterr()
    assert main(["forecast", "detect", str(out), "--labels", "anomaly", "--json", "--plot", str(root / "a.png")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {"auroc", "auprc", "best_f1", "threshold", "flagged", "scored"} <= set(summary)
    assert summary["auroc"] > 0.75 and summary["steps"] == 4 and (root / "a.png").is_file()
    csv_path = root / "scores.csv"
    assert main(["forecast", "detect", str(out), "--data", str(data), "--out", str(csv_path), "--steps", "1"]) == 0
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "time,score,flag" and len(lines) == 1 + 80 * 24
    assert lines[1].endswith(",,") and lines[-1].split(",")[2] in ("0", "1")


def test_bad_settings_are_clear_errors(run, capsys):
    _, data, out = run
    capsys.readouterr()
    assert main(["forecast", "detect", str(out), "--steps", "9"]) == 1
    assert "steps must be in 1..4" in capsys.readouterr().err
    assert main(["forecast", "detect", str(out), "--labels", "demand"]) == 1
    assert "must hold 0 or 1" in capsys.readouterr().err
