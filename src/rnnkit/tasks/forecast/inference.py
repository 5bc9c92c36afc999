"""Using a trained forecast run: loading it, rolling-origin evaluation next to persistence, seasonal
naive and the linear baseline on the same windows, and forecasts past the end of the data with
prediction intervals.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

from rnnkit.data.timeseries import (
    Table,
    calendar_features,
    future_times,
    read_rows,
    split_future_rows,
    time_step,
)
from rnnkit.data.windows import Scaler, WindowBatches
from rnnkit.models.baselines import LinearBaseline, persistence, seasonal_naive
from rnnkit.models.choice import build_model, model_from_description
from rnnkit.models.forecaster import Forecaster, ForecasterConfig
from rnnkit.models.segrnn import SegRNN, SegRNNConfig
from rnnkit.models.transformer_forecaster import TransformerForecaster, TransformerForecasterConfig
from rnnkit.tasks.forecast.frames import TASK, ForecastDataConfig, Frame, load_frame, windows
from rnnkit.training.checkpoint import read_json
from rnnkit.training.distributed import resolve_device
from rnnkit.training.metrics import ErrorSums
from rnnkit.training.plots import plot_forecast
from rnnkit.training.rundir import load_trained_weights, read_run

BASELINES = ("persistence", "seasonal_naive", "linear")


# The one mapping from --model names to forecasters: (class, config class, defaults).
FORECASTERS = {
    "rnn": (Forecaster, ForecasterConfig, dict(cell="lstm", hidden_size=64, num_layers=1, dropout=0.1, head="direct", distribution="point")),
    "segrnn": (SegRNN, SegRNNConfig, dict(segment=24, cell="gru", hidden_size=256, dropout=0.1, distribution="point")),
    "transformer": (TransformerForecaster, TransformerForecasterConfig, dict(d_model=64, num_layers=2, num_heads=4, dropout=0.1,
                                                                             distribution="point")),
}


def build_forecaster(overrides: dict, **shape) -> nn.Module:
    """The forecaster named by overrides["model"] (default rnn), its defaults updated by the other
    `overrides`; `shape` gives num_features, num_targets, lookback, horizon and num_known."""
    return build_model(FORECASTERS, overrides, **shape)


def model_from_run(run: dict) -> nn.Module:
    """The forecaster described in run.json, with freshly initialised weights."""
    return model_from_description(FORECASTERS, run["model"])


@dataclass
class LoadedRun:
    """A trained run. A panel run has one scaler and linear baseline per series in `series` (ids in
    training order) instead of `scaler` and `linear`."""

    model: Forecaster | SegRNN
    data_config: ForecastDataConfig
    scaler: Scaler | None
    season: int
    linear: LinearBaseline | None
    path: str
    series: dict[str, tuple[Scaler, LinearBaseline]] | None = None

    def of_series(self, name: str) -> LoadedRun:
        """The run as seen by one series of its panel: that series' scaler and baseline."""
        scaler, linear = self.series[name]
        return replace(self, scaler=scaler, linear=linear, series=None)


def load_run(run_dir: Path, device="cpu") -> LoadedRun:
    run_dir = Path(run_dir)
    run = read_run(run_dir, TASK)
    model = model_from_run(run)
    load_trained_weights(run_dir, model)
    saved = read_json(run_dir / "forecast.json")
    config = ForecastDataConfig.from_dict(saved["data"])
    weights = load_file(str(run_dir / "baselines.safetensors"))
    scalers = read_json(run_dir / "scaler.json")
    if config.id_column:
        series = {}
        for i, name in enumerate(saved["panel"]["ids"]):
            linear = LinearBaseline(config.lookback, config.horizon)
            linear.load_state_dict({k.split(".", 1)[1]: v for k, v in weights.items() if k.split(".", 1)[0] == str(i)})
            series[name] = (Scaler(**scalers["series"][name]), linear)
        return LoadedRun(model.to(device).eval(), config, None, saved["season"], None, saved["path"], series)
    linear = LinearBaseline(config.lookback, config.horizon)
    linear.load_state_dict(weights)
    return LoadedRun(model.to(device).eval(), config, Scaler(**scalers), saved["season"], linear, saved["path"])


def evaluate_run(run_dir: Path, path: str | None, part: str = "test", stride: int = 1, device_name: str = "auto",
                 plot: bool = True) -> dict:
    """Rolling-origin evaluation over `part` (test, val, train or all) of the file (default: the
    training file), cut with the run's split rule: a forecast from every `stride`-th origin. Returns
    {model, persistence, seasonal_naive, linear}: each with mse/mae (original scale), mse_scaled/
    mae_scaled, mape, smape (original scale), and coverage for probabilistic models."""
    device = resolve_device(device_name)
    loaded = load_run(run_dir, device)
    config = loaded.data_config
    if config.id_column:
        from rnnkit.tasks.forecast import panel  # imported here: panel.py builds on this module
        return panel.evaluate(loaded, run_dir, path, part, stride, device, plot)
    frame = load_frame(path or loaded.path, config, loaded.scaler)
    data = windows(frame, config, part, stride, False, 256)
    results = evaluate_windows(loaded, data, device)
    results.update({"part": part, "windows": len(data.origins), "horizon": config.horizon, "lookback": config.lookback,
                    "season": loaded.season, "targets": list(config.targets)})
    results["beats_persistence"] = results["model"]["mse"] < results["persistence"]["mse"]
    if plot:
        name = Path(path or loaded.path).name.split(".")[0]
        results["plot"] = str(plot_last_window(loaded, frame, data, Path(run_dir) / "plots" / f"forecast-{name}-{part}.png"))
    return results


def error_sums() -> dict:
    """{model or baseline: (sums on the scaled values, sums on the original scale)}."""
    return {name: (ErrorSums(), ErrorSums()) for name in ("model", *BASELINES)}


@torch.no_grad()
def evaluate_windows(loaded: LoadedRun, data: WindowBatches, device, pooled: dict | None = None) -> dict:
    """Metrics of the model and the baselines on `data`; their errors are also added to `pooled`
    (from error_sums) when given, to score many series together."""
    targets = len(loaded.data_config.targets)
    sums = error_sums()
    original = lambda x: loaded.scaler.inverse(x, slice(0, targets))  # noqa: E731
    for batch in data.batches(epoch=0, seed=0):
        inputs, truth = batch.inputs, batch.targets
        forecast = loaded.model.forecast(loaded.model(inputs.to(device)), loaded.data_config.level)
        outputs = {"model": (forecast.mean.cpu(), forecast.lower, forecast.upper), **{
            name: (forecast_baseline(name, loaded, inputs), None, None) for name in BASELINES}}
        for name, (mean, lower, upper) in outputs.items():
            lower = None if lower is None else lower.cpu()
            upper = None if upper is None else upper.cpu()
            for scaled, unscaled in (sums[name], *([pooled[name]] if pooled is not None else [])):
                scaled.add(mean, truth, lower, upper)
                unscaled.add(original(mean), original(truth))
    return sums_metrics(sums, loaded)


def sums_metrics(sums: dict, loaded: LoadedRun) -> dict:
    """The metrics of error_sums (see evaluate_run)."""
    config = loaded.data_config
    results = {}
    for name, (scaled, unscaled) in sums.items():
        a, b = scaled.result(), unscaled.result()
        results[name] = {"mse": b["mse"], "mae": b["mae"], "mse_scaled": a["mse"], "mae_scaled": a["mae"], "mape": b["mape"], "smape": b["smape"]}
        if "coverage" in a:
            results[name]["coverage"] = a["coverage"]
            results[name]["level"] = config.level if loaded.model.config.distribution == "gaussian" else None
    return results


def forecast_baseline(name: str, loaded: LoadedRun, inputs: torch.Tensor) -> torch.Tensor:
    c = loaded.data_config
    targets = len(c.targets)
    if name == "persistence":
        return persistence(inputs, c.lookback, c.horizon, targets)
    if name == "seasonal_naive":
        return seasonal_naive(inputs, c.lookback, c.horizon, targets, min(loaded.season, c.lookback))
    return loaded.linear(inputs, targets)


@torch.no_grad()
def plot_last_window(loaded: LoadedRun, frame: Frame, data: WindowBatches, path: Path) -> Path:
    config = loaded.data_config
    last = data.collate(torch.tensor([len(data.origins) - 1]))
    origin = int(data.origins[-1])
    forecast = loaded.model.forecast(loaded.model(last.inputs.to(next(loaded.model.parameters()).device)), config.level)
    back = lambda x: loaded.scaler.inverse(x.cpu()[0, :, 0].double(), slice(0, 1)).numpy()  # noqa: E731  first target only
    lines = {"model": back(forecast.mean)}
    lines.update({name: back(forecast_baseline(name, loaded, last.inputs)) for name in BASELINES})
    interval = None if forecast.lower is None else (back(forecast.lower), back(forecast.upper))
    times = frame.table.times if frame.table.times is not None else np.arange(len(frame.features))
    history = frame.table.values[origin - config.lookback : origin + config.horizon, 0]
    return plot_forecast(times[origin - config.lookback : origin], history[: config.lookback], times[origin : origin + config.horizon],
                         lines, interval, path, truth=history[config.lookback :], title=f"{config.targets[0]}: last window of the evaluation")


def predict(run_dir: Path, path: str, device_name: str = "auto", plot: Path | None = None, ids: list[str] | None = None) -> dict:
    """Forecast the `horizon` steps after the end of the file: {"times", "targets", "mean" (H, D),
    "lower"/"upper" (H, D) or None, "level"} on the original scale. Known-future covariate columns
    must be given for those steps as trailing rows with the targets left empty. A panel run returns
    {"series": {id: that dict}} for every series (or `ids`)."""
    device = resolve_device(device_name)
    loaded = load_run(run_dir, device)
    if loaded.data_config.id_column:
        from rnnkit.tasks.forecast import panel  # imported here: panel.py builds on this module
        return panel.predict(loaded, path, device, plot, ids)
    if ids:
        raise ValueError("--ids picks series of a panel; this run was trained on a single series (no --id-column)")
    header, rows, source = read_rows(Path(path))
    table, result = forecast_rows(loaded, header, rows, source, device)
    if plot is not None:
        result["plot"] = str(plot_prediction(table, result, loaded.data_config, Path(plot)))
    return result


@torch.no_grad()
def forecast_rows(loaded: LoadedRun, header: list[str], rows: list, source: str, device, lines=None, identity=None) -> tuple[Table, dict]:
    """(history table, forecast dict) for the rows of one series; `identity` (F_id,) are the series'
    identity features of a panel run, appended to every step."""
    c = loaded.data_config
    history, future = split_future_rows(header, rows, list(c.targets))
    if not history:
        raise ValueError(f"{source}: no rows with target values to forecast from")
    table = c.table(header, history, source, None if lines is None else lines[: len(history)])
    if len(table.values) < c.lookback:
        raise ValueError(f"{source} has {len(table.values)} rows; the model needs the last {c.lookback} (its lookback)")
    scaled = loaded.scaler.transform(table.values[-c.lookback :]).astype(np.float32)
    times = _future_times(table, c.horizon)
    window = np.zeros((c.lookback + c.horizon, scaled.shape[1]), dtype=np.float32)
    window[: c.lookback] = scaled
    if c.known:
        window[c.lookback :, -len(c.known) :] = _known_future(header, future, source, c, loaded.scaler)
    if c.calendar:
        past_calendar, _ = calendar_features(table.times[-c.lookback :], time_step(table.times))
        future_calendar, _ = calendar_features(times, time_step(table.times))
        window = np.concatenate([window, np.concatenate([past_calendar, future_calendar]).astype(np.float32)], axis=1)
    if identity is not None:
        window = np.concatenate([window, np.broadcast_to(identity, (len(window), len(identity))).astype(np.float32)], axis=1)
    inputs = torch.from_numpy(window).unsqueeze(0).to(device)
    forecast = loaded.model.forecast(loaded.model(inputs), c.level)
    back = lambda x: None if x is None else loaded.scaler.inverse(x.cpu()[0].double(), slice(0, len(c.targets))).numpy()  # noqa: E731
    return table, {"times": times, "targets": list(c.targets), "mean": back(forecast.mean), "lower": back(forecast.lower),
                   "upper": back(forecast.upper), "level": forecast.level}


def plot_prediction(table: Table, result: dict, c: ForecastDataConfig, path: Path, title: str | None = None) -> Path:
    shown = min(len(table.values), max(3 * c.horizon, c.lookback))
    past_times = table.times[-shown:] if table.times is not None else np.arange(len(table.values))[-shown:]
    interval = None if result["lower"] is None else (result["lower"][:, 0], result["upper"][:, 0])
    return plot_forecast(past_times, table.values[-shown:, 0], result["times"], {"forecast": result["mean"][:, 0]}, interval,
                         path, title=title or f"{c.targets[0]}: forecast of the next {c.horizon} steps")


def _future_times(table: Table, horizon: int) -> np.ndarray:
    if table.times is None:
        return np.arange(len(table.values), len(table.values) + horizon)
    return future_times(table.times, horizon)


def _known_future(header, future_rows, source, c: ForecastDataConfig, scaler: Scaler) -> np.ndarray:
    """The scaled known-future covariates of the first `horizon` future rows, (H, K)."""
    if len(future_rows) < c.horizon:
        raise ValueError(f"{source}: the model uses known-future covariates {list(c.known)}; add {c.horizon} rows after the history "
                         f"with their values and empty targets (found {len(future_rows)})")
    values = np.empty((c.horizon, len(c.known)))
    for r, row in enumerate(future_rows[: c.horizon]):
        for k, name in enumerate(c.known):
            text = row[header.index(name)].strip() if header.index(name) < len(row) else ""
            try:
                values[r, k] = float(text)
            except ValueError:
                raise ValueError(f"{source}: future row {r + 1} (after the last target value) has {text[:30]!r} in known covariate "
                                 f"{name!r}; expected a number") from None
    columns = slice(len(c.targets) + len(c.covariates), None)
    return (values - np.asarray(scaler.mean)[columns]) / np.asarray(scaler.std)[columns]
