"""SegRNN (segments, parallel decoding, channel-independent weights) and RevIN (reversible instance
normalisation): shapes, no look-ahead, exact round trips, equivariance to each window's level and
scale, channel independence, a fit of a noiseless two-season series, and the CLI."""

import json

import numpy as np
import pytest
import torch

from rnnkit.cli import main
from rnnkit.layers.revin import RevIN
from rnnkit.models.forecaster import Forecaster, ForecasterConfig, _scale, revin_outputs
from rnnkit.models.segrnn import SegRNN, SegRNNConfig
from rnnkit.tasks import forecast

FAST = ["--lookback", "48", "--horizon", "12", "--epochs", "2", "--hidden-size", "16", "--stride", "4", "--no-progress", "--device", "cpu"]


def segrnn(**values):
    torch.manual_seed(0)
    config = {"num_features": 2, "num_targets": 2, "lookback": 48, "horizon": 10, "segment": 12, "hidden_size": 16, **values}
    return SegRNN(SegRNNConfig(**config)).eval()


def test_revin_round_trip_is_exact_with_any_affine_terms():
    torch.manual_seed(0)
    revin = RevIN(3)
    with torch.no_grad():
        revin.weight.copy_(torch.tensor([0.5, -2.0, 3.0]))
        revin.bias.copy_(torch.tensor([1.0, 0.0, -4.0]))
    x = torch.randn(4, 20, 3, dtype=torch.float64) * torch.tensor([1.0, 100.0, 0.1], dtype=torch.float64) + 50
    revin = revin.double()
    normalised, stats = revin.normalise(x)
    assert torch.allclose(revin.denormalise(normalised, stats), x, atol=1e-9)
    plain = RevIN(3, affine=False).double()
    z, (mu, sigma) = plain.normalise(x)
    assert torch.allclose(z.mean(1), torch.zeros(4, 3, dtype=torch.float64), atol=1e-9)
    assert torch.allclose(z.std(1, unbiased=False), torch.ones(4, 3, dtype=torch.float64), atol=1e-3)  # eps in the variance
    with pytest.raises(ValueError, match=r"RevIN expects \(..., channels = 3\)"):
        revin.normalise(torch.zeros(2, 5, 4))


@pytest.mark.parametrize("make", [
    lambda: segrnn(revin=True, relative=False),
    lambda: segrnn(revin=True),
    lambda: Forecaster(ForecasterConfig(num_features=2, num_targets=2, lookback=48, horizon=10, revin=True, hidden_size=8)).eval(),
])
def test_revin_forecasts_follow_each_window_s_level_and_scale(make):
    model = make()
    x = torch.randn(3, 58, 2)
    x[:, 48:] = 0.0
    shifted = x.clone()
    shifted[:, :48] = x[:, :48] * torch.tensor([3.0, 0.5]) + torch.tensor([10.0, -2.0])
    with torch.no_grad():
        a, b = model(x)[..., 0], model(shifted)[..., 0]
    assert torch.allclose(b, a * torch.tensor([3.0, 0.5]) + torch.tensor([10.0, -2.0]), atol=1e-4)


def test_gaussian_spread_maps_back_through_revin():
    revin = RevIN(1)
    stats = (torch.full((2, 1, 1), 5.0), torch.full((2, 1, 1), 4.0))
    config = ForecasterConfig(num_features=1, num_targets=1, lookback=4, horizon=3, distribution="gaussian")
    params = torch.randn(2, 3, 1, 2)
    out = revin_outputs(revin, config, params, stats)
    assert torch.allclose(out[..., 0], params[..., 0] * 4 + 5, atol=1e-5)
    assert torch.allclose(_scale(out[..., 1]), 4 * _scale(params[..., 1]), rtol=1e-4)


def test_segrnn_shapes_and_no_look_ahead():
    model = segrnn()
    x = torch.randn(3, 58, 2)
    params = model(x)
    assert params.shape == (3, 10, 2, 1)
    future = x.clone()
    future[:, 48:] = torch.randn(3, 10, 2) * 100
    assert torch.equal(model(future), params)
    earlier = x.clone()
    earlier[:, 0] += 1.0  # the lookback is read
    assert not torch.allclose(model(earlier), params)
    rows = model(x[1:2])
    assert torch.allclose(rows, params[1:2], atol=1e-6)  # windows are independent
    quantile = segrnn(distribution="quantile", quantiles=(0.1, 0.5, 0.9), revin=True)
    forecast_ = quantile.forecast(quantile(x))
    assert forecast_.mean.shape == (3, 10, 2) and (forecast_.lower <= forecast_.upper).all()


def test_channels_share_weights_without_the_channel_embedding():
    model = segrnn(channel_embedding=False)
    x = torch.randn(2, 58, 2)
    swapped = x.flip(-1)
    with torch.no_grad():
        assert torch.allclose(model(swapped), model(x).flip(2), atol=1e-6)
        single = SegRNN(SegRNNConfig(num_features=1, num_targets=1, lookback=48, horizon=10, segment=12, hidden_size=16,
                                     channel_embedding=False)).eval()
        single.load_state_dict(model.state_dict())  # the same weights fit any number of channels
        assert torch.allclose(single(x[..., 1:]), model(x)[:, :, 1:], atol=1e-6)
    with_channels = segrnn()
    with torch.no_grad():
        assert not torch.allclose(with_channels(swapped), with_channels(x).flip(2), atol=1e-4)


def test_segrnn_config_errors_are_clear():
    with pytest.raises(ValueError, match=r"segment length \(10\) must divide the lookback \(48\)"):
        SegRNNConfig(num_features=1, num_targets=1, lookback=48, horizon=4, segment=10)
    with pytest.raises(ValueError, match="no covariates or known inputs"):
        SegRNNConfig(num_features=3, num_targets=1, lookback=48, horizon=4, num_known=2)


def test_segrnn_fits_a_noiseless_two_season_series(tmp_path):
    t = np.arange(1500)
    path = tmp_path / "s.csv"
    values = np.sin(2 * np.pi * t / 12) + 0.5 * np.sin(2 * np.pi * t / 30)
    path.write_text("t,y\n" + "".join(f"{i},{v:.6f}\n" for i, v in zip(t, values)))
    data = forecast.ForecastDataConfig(targets=("y",), time_column="t", lookback=60, horizon=24, stride=2)
    summary = forecast.train(str(path), data, {"model": "segrnn", "segment": 12, "hidden_size": 64, "dropout": 0.0},
                             {"epochs": 40, "lr": 3e-3, "device": "cpu", "progress": False, "early_stopping": None}, tmp_path / "run")
    test = summary["test"]
    assert test["model"]["mse_scaled"] < 0.01 < test["persistence"]["mse_scaled"]


def test_cli_segrnn_and_revin_train_evaluate_predict(tmp_path, capsys):
    data = tmp_path / "demand.csv"
    assert main(["forecast", "example", str(data), "--days", "30"]) == 0
    run = tmp_path / "seg"
    assert main(["forecast", "train", "--data", str(data), "--time-column", "time", "--target", "demand", "--model", "segrnn",
                 "--segment", "12", "--revin", "--out", str(run), *FAST]) == 0
    saved = json.loads((run / "run.json").read_text())["model"]
    assert saved["class"].endswith("SegRNN") and saved["config"]["segment"] == 12 and saved["config"]["revin"] is True
    capsys.readouterr()
    assert main(["forecast", "evaluate", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"]["mse"] > 0
    assert main(["forecast", "predict", str(run), "--data", str(data)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 13
    assert main(["forecast", "train", "--data", str(data), "--time-column", "time", "--target", "demand", "--revin",
                 "--loss", "gaussian", "--out", str(tmp_path / "rnn"), *FAST]) == 0
    capsys.readouterr()
    assert main(["forecast", "train", "--data", str(data), "--time-column", "time", "--target", "demand", "--model", "segrnn",
                 "--head", "autoregressive", "--out", str(tmp_path / "bad"), *FAST]) == 1
    assert "--model segrnn has no option --head" in capsys.readouterr().err
    assert main(["forecast", "train", "--data", str(data), "--time-column", "time", "--target", "demand", "--known", "temperature",
                 "--model", "segrnn", "--segment", "12", "--out", str(tmp_path / "bad2"), *FAST]) == 1
    assert "no covariates or known inputs" in capsys.readouterr().err
