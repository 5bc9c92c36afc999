"""The Forecaster (direct and autoregressive heads; point, Gaussian and quantile outputs) and the
baselines: overfitting a noiseless sine, interval coverage near nominal, no reading of the future."""

import math

import numpy as np
import pytest
import torch

from rnnkit.data.windows import WindowBatches
from rnnkit.models import Forecaster, ForecasterConfig, LinearBaseline
from rnnkit.models.baselines import infer_season, persistence, seasonal_naive
from rnnkit.tasks.forecast import validation_metrics
from rnnkit.training import TrainConfig, fit

L, H = 24, 8


def sine(n=600, period=20.0):
    t = torch.arange(n, dtype=torch.float32)
    return torch.sin(2 * math.pi * t / period).unsqueeze(1)


def windows(features, origins, shuffle=True, num_known=0):
    return WindowBatches(features, origins, lookback=L, horizon=H, num_targets=1, batch_size=32, num_known=num_known, shuffle=shuffle)


def train(model, data, epochs, lr=1e-2):
    def loss_fn(model, batch, state):
        return model.loss(model(batch.inputs, batch.targets), batch.targets), None

    fit(model, data, TrainConfig(epochs=epochs, lr=lr, progress=False, device="cpu", clip_norm=1.0, seed=0), loss_fn=loss_fn)
    return model


@pytest.mark.parametrize("head", ["direct", "autoregressive"])
def test_overfits_a_noiseless_sine(head):
    features = sine()
    model = Forecaster(ForecasterConfig(num_features=1, num_targets=1, lookback=L, horizon=H, hidden_size=32, dropout=0.0, head=head))
    train(model, windows(features, range(L, 500 - H)), epochs=25 if head == "direct" else 20)
    held_out = windows(features, range(500, 600 - H), shuffle=False)
    assert validation_metrics(model, held_out, "cpu")["mse"] < 2e-3


def test_gaussian_interval_covers_gaussian_noise_near_nominal():
    torch.manual_seed(1)
    features = torch.randn(3000, 1) * 0.5 + 1.0
    config = ForecasterConfig(num_features=1, num_targets=1, lookback=L, horizon=H, hidden_size=16, dropout=0.0,
                              distribution="gaussian", relative=False)
    model = train(Forecaster(config), windows(features, range(L, 2000 - H)), epochs=8, lr=5e-3).eval()
    batch = windows(features, range(2000, 3000 - H), shuffle=False).collate(torch.arange(3000 - H - 2000))
    with torch.no_grad():
        forecast = model.forecast(model(batch.inputs), level=0.9)
    covered = ((batch.targets >= forecast.lower) & (batch.targets <= forecast.upper)).float().mean().item()
    assert 0.86 <= covered <= 0.94, covered
    assert abs(forecast.mean.mean().item() - 1.0) < 0.05


def test_quantile_head_brackets_the_median():
    torch.manual_seed(2)
    features = torch.rand(2500, 1)  # uniform noise: the 0.1 / 0.5 / 0.9 quantiles are 0.1, 0.5, 0.9
    config = ForecasterConfig(num_features=1, num_targets=1, lookback=L, horizon=H, hidden_size=16, dropout=0.0,
                              distribution="quantile", quantiles=(0.1, 0.5, 0.9), relative=False)
    model = train(Forecaster(config), windows(features, range(L, 2000 - H)), epochs=8, lr=5e-3).eval()
    batch = windows(features, range(2000, 2500 - H), shuffle=False).collate(torch.arange(500 - H))
    with torch.no_grad():
        forecast = model.forecast(model(batch.inputs))
    assert forecast.level == pytest.approx(0.8)
    for value, expected in ((forecast.lower, 0.1), (forecast.mean, 0.5), (forecast.upper, 0.9)):
        assert abs(value.mean().item() - expected) < 0.05


@pytest.mark.parametrize("head", ["direct", "autoregressive"])
@pytest.mark.parametrize("relative, highway", [(True, True), (False, True), (True, False)])
def test_never_reads_the_unknown_future(head, relative, highway):
    config = ForecasterConfig(num_features=3, num_targets=1, lookback=L, horizon=H, num_known=1, head=head, relative=relative,
                              highway=highway, hidden_size=8)
    model = Forecaster(config).eval()
    x = torch.randn(2, L + H, 3)
    leaked = x.clone()
    leaked[:, L:, :2] = torch.randn(2, H, 2) * 100  # future target and past-only covariate
    torch.testing.assert_close(model(x), model(leaked))
    changed = x.clone()
    changed[:, L:, 2] += 1.0  # the known covariate does count
    assert not torch.allclose(model(x), model(changed))


def test_teacher_forced_decoder_in_one_call_equals_the_step_loop():
    config = ForecasterConfig(num_features=2, num_targets=2, lookback=L, horizon=H, head="autoregressive", dropout=0.0, hidden_size=8)
    model = Forecaster(config).train()
    x, y = torch.randn(3, L + H, 2), torch.randn(3, H, 2)
    one_call = model(x, y)
    looped = Forecaster(ForecasterConfig(**{**config.__dict__, "teacher_forcing": 0.9999999}))
    looped.load_state_dict(model.state_dict())
    torch.manual_seed(0)
    torch.testing.assert_close(looped.train()(x, y), one_call)


@pytest.mark.parametrize("head", ["direct", "autoregressive"])
def test_relative_output_follows_a_level_shift(head):
    config = ForecasterConfig(num_features=1, num_targets=1, lookback=L, horizon=H, hidden_size=8, head=head)
    model = Forecaster(config).eval()
    x = torch.randn(2, L + H, 1)
    x[:, L:] = 0
    shifted = x.clone()
    shifted[:, :L] += 5.0
    torch.testing.assert_close(model(shifted), model(x) + 5.0)


def test_highway_alone_is_the_linear_map_of_the_lookback():
    config = ForecasterConfig(num_features=1, num_targets=1, lookback=L, horizon=H, hidden_size=8, relative=False)
    model = Forecaster(config).eval()
    with torch.no_grad():
        model.output.weight.zero_()
        model.output.bias.zero_()
    x = torch.randn(2, L + H, 1)
    expected = (x[:, :L, 0] @ model.highway.weight.T + model.highway.bias).unsqueeze(-1)
    torch.testing.assert_close(model(x)[..., 0], expected)


def test_bad_shapes_and_settings_are_clear_errors():
    model = Forecaster(ForecasterConfig(num_features=2, num_targets=1, lookback=L, horizon=H))
    with pytest.raises(ValueError, match=r"inputs must be \(batch, lookback \+ horizon = 32, features = 2\); got \(4, 30, 2\)"):
        model(torch.zeros(4, 30, 2))
    with pytest.raises(ValueError, match="head must be one of"):
        ForecasterConfig(num_features=1, num_targets=1, lookback=4, horizon=2, head="sideways")
    with pytest.raises(ValueError, match="num_targets must be in"):
        ForecasterConfig(num_features=2, num_targets=2, lookback=4, horizon=2, num_known=1)


def test_baselines_on_known_patterns():
    x = torch.arange(12.0).view(1, 12, 1)  # lookback 8, horizon 4
    assert persistence(x, 8, 4, 1)[0, :, 0].tolist() == [7.0] * 4
    assert seasonal_naive(x, 8, 4, 1, season=3)[0, :, 0].tolist() == [5.0, 6.0, 7.0, 5.0]
    with pytest.raises(ValueError, match="season must be in"):
        seasonal_naive(x, 8, 4, 1, season=9)
    # a sine obeys y_t = 2 cos(w) y_{t-1} - y_{t-2}: least squares on the window recovers it exactly
    features = sine(400)
    data = windows(features, range(L, 400 - H), shuffle=False).collate(torch.arange(400 - H - L))
    linear = LinearBaseline(L, H).fit(data.inputs[:, :L], data.targets, ridge=1e-9)
    assert float(((linear(data.inputs, 1) - data.targets) ** 2).mean()) < 1e-5


def test_infers_the_season():
    t = np.arange(2000)
    values = np.sin(2 * np.pi * t / 12) + 0.1 * np.random.default_rng(0).normal(size=2000)
    assert infer_season(values[:, None], max_lag=40) == 12
    assert infer_season(values[:, None], max_lag=40, candidates=(24, 168)) == 24  # a natural period that correlates wins
    assert infer_season(np.random.default_rng(1).normal(size=(500, 1)), max_lag=40) == 1
