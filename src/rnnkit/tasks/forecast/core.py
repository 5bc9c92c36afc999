"""Time-series forecasting: a table with a time column -> scaled windows -> a Forecaster trained with
the shared loop, evaluated next to persistence, seasonal naive and a linear model on the same windows,
and forecasts past the end of the data with prediction intervals.

Columns: targets (forecast), past-only covariates (seen in the lookback only), known-future covariates
(seen in the horizon too: user columns and, on request, calendar features from the timestamps).
The split is chronological (fractions, row counts or start dates); the scaler, the season and the
linear baseline are fitted on the training rows only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from rnnkit.data.timeseries import (
    Table,
    calendar_features,
    future_times,
    natural_seasons,
    read_rows,
    split_future_rows,
    table_from_rows,
    time_step,
)
from rnnkit.data.windows import Scaler, Split, WindowBatches, split_rows, window_origins
from rnnkit.models.baselines import LinearBaseline, infer_season, persistence, seasonal_naive
from rnnkit.models.forecaster import Forecaster, ForecasterConfig
from rnnkit.training import TrainConfig, fit
from rnnkit.training.checkpoint import read_json
from rnnkit.training.distributed import resolve_device
from rnnkit.training.metrics import ErrorSums
from rnnkit.training.plots import plot_forecast
from rnnkit.training.rundir import load_trained_weights, read_run
from rnnkit.training.state import seed_everything

TASK = "forecast"
BASELINES = ("persistence", "seasonal_naive", "linear")
MODEL_DEFAULTS = dict(cell="lstm", hidden_size=64, num_layers=1, dropout=0.1, head="direct", distribution="point")
TRAIN_DEFAULTS = dict(epochs=30, lr=1e-3, clip_norm=1.0, monitor="val_mse", monitor_mode="min", early_stopping=5)


@dataclass(frozen=True)
class ForecastDataConfig:
    """What to read and how to cut it. The split is `split_rows` (train, val, test counts) if given, else
    `val_start`/`test_start` dates, else `split` fractions; `stride` spaces training windows."""

    targets: tuple[str, ...]
    time_column: str | None = None
    covariates: tuple[str, ...] = ()
    known: tuple[str, ...] = ()
    calendar: bool = False
    lookback: int = 96
    horizon: int = 24
    stride: int = 1
    split: tuple[float, float, float] = (0.7, 0.1, 0.2)
    split_rows: tuple[int, int, int] | None = None
    val_start: str | None = None
    test_start: str | None = None
    fill: str | None = None
    season: int | None = None
    batch_size: int = 64
    level: float = 0.9

    def __post_init__(self) -> None:
        if not self.targets:
            raise ValueError("give at least one target column (--target NAME)")
        named = [*self.targets, *self.covariates, *self.known]
        repeated = sorted({n for n in named if named.count(n) > 1})
        if repeated:
            raise ValueError(f"column(s) {repeated} are named more than once among targets, covariates and known covariates")
        if self.calendar and not self.time_column:
            raise ValueError("calendar features need a time column (--time-column NAME)")
        if (self.val_start is None) != (self.test_start is None):
            raise ValueError("give both --val-start and --test-start, or neither")
        if self.lookback < 1 or self.horizon < 1 or self.stride < 1:
            raise ValueError(f"lookback, horizon and stride must be at least 1; got {self.lookback}, {self.horizon}, {self.stride}")
        if not 0 < self.level < 1:
            raise ValueError(f"level must be in (0, 1); got {self.level}")

    @property
    def columns(self) -> list[str]:
        return [*self.targets, *self.covariates, *self.known]

    @classmethod
    def from_dict(cls, values: dict) -> ForecastDataConfig:
        """From JSON, where the tuples came back as lists."""
        tuples = ("targets", "covariates", "known", "split", "split_rows")
        return cls(**{k: tuple(v) if k in tuples and v is not None else v for k, v in values.items()})


@dataclass
class Frame:
    """A table turned into model features (N, F) in the layout [targets | covariates | known | calendar]."""

    table: Table
    features: np.ndarray
    names: list[str]
    split: Split
    scaler: Scaler
    num_known: int


def make_split(table: Table, config: ForecastDataConfig) -> Split:
    n = len(table.values)
    if config.split_rows is not None:
        return split_rows(n, rows=config.split_rows)
    if config.val_start is not None:
        if not table.is_datetime:
            raise ValueError("--val-start/--test-start need a time column of dates; use --split or --split-rows instead")
        starts = [int(np.searchsorted(table.times, _date(d))) for d in (config.val_start, config.test_start)]
        return split_rows(n, starts=tuple(starts))
    return split_rows(n, fractions=config.split)


def _date(text: str) -> np.datetime64:
    try:
        return np.datetime64(text.strip().replace(" ", "T", 1), "s")
    except ValueError:
        raise ValueError(f"{text!r} is not a date (expected ISO 8601 like 2017-06-26 or 2017-06-26 00:00)") from None


def make_frame(table: Table, config: ForecastDataConfig, scaler: Scaler | None = None) -> Frame:
    """Scale the table's columns (fitting the scaler on the training rows unless given) and add the
    calendar features."""
    split = make_split(table, config)
    if scaler is None:
        scaler = Scaler.fit(table.values[: split.train_end])
    if len(scaler.mean) != table.values.shape[1]:
        raise ValueError(f"{table.source} gives {table.values.shape[1]} columns; the run was trained on {len(scaler.mean)}")
    features, names = scaler.transform(table.values), list(table.columns)
    if config.calendar:
        calendar, calendar_names = calendar_features(table.times, time_step(table.times))
        features, names = np.concatenate([features, calendar], axis=1), names + calendar_names
    num_known = len(config.known) + (len(names) - len(table.columns))
    return Frame(table, features.astype(np.float32), names, split, scaler, num_known)


def load_frame(path: str, config: ForecastDataConfig, scaler: Scaler | None = None) -> Frame:
    header, rows, source = read_rows(Path(path))
    return make_frame(table_from_rows(header, rows, source, config.columns, config.time_column, config.fill), config, scaler)


def windows(frame: Frame, config: ForecastDataConfig, part: str, stride: int, shuffle: bool, batch_size: int) -> WindowBatches:
    origins = window_origins(frame.split, part, config.lookback, config.horizon, stride)
    return WindowBatches(frame.features, origins, lookback=config.lookback, horizon=config.horizon, num_targets=len(config.targets),
                         batch_size=batch_size, num_known=frame.num_known, shuffle=shuffle)


# -- train --------------------------------------------------------------------------------------------
def train(path: str, data_config: ForecastDataConfig, model_overrides: dict, train_overrides: dict, out: Path) -> dict:
    """Train a forecaster on the file `path` into the run directory `out`; return a summary with the
    test-part evaluation (model and baselines)."""
    training = TrainConfig(**{**TRAIN_DEFAULTS, **train_overrides})
    frame = load_frame(path, data_config)
    train_data = windows(frame, data_config, "train", data_config.stride, True, data_config.batch_size)
    targets = len(data_config.targets)
    season = data_config.season or infer_season(frame.features[: frame.split.train_end, :targets], data_config.lookback,
                                                natural_seasons(frame.table))
    config = ForecasterConfig(num_features=len(frame.names), num_targets=targets, lookback=data_config.lookback,
                              horizon=data_config.horizon, num_known=frame.num_known, **{**MODEL_DEFAULTS, **model_overrides})
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    linear = fit_linear_baseline(frame, data_config)
    save_file({k: v.contiguous() for k, v in linear.state_dict().items()}, str(out / "baselines.safetensors"))
    artifacts = {"forecast": {"data": asdict(data_config), "path": str(path), "features": frame.names, "season": int(season)},
                 "scaler": asdict(frame.scaler)}
    seed_everything(training.seed)  # the initial weights follow --seed
    return _fit(Forecaster.from_config(config), frame, train_data, data_config, training, out, artifacts=artifacts)


def resume(out: Path, overrides: dict) -> dict:
    """Continue the run in `out` on the file it was trained on, scaled as before."""
    run = read_run(out, TASK)
    saved = read_json(Path(out) / "forecast.json")
    data_config = ForecastDataConfig.from_dict(saved["data"])
    frame = load_frame(saved["path"], data_config, Scaler(**read_json(Path(out) / "scaler.json")))
    train_data = windows(frame, data_config, "train", data_config.stride, True, data_config.batch_size)
    training = TrainConfig.from_dict({**run["training"], **overrides})
    model = Forecaster.from_config(_model_config(run))
    return _fit(model, frame, train_data, data_config, training, out, resume=True)


def _model_config(run: dict) -> ForecasterConfig:
    values = dict(run["model"]["config"])
    values["quantiles"] = tuple(values["quantiles"])
    return ForecasterConfig(**values)


def _fit(model, frame: Frame, train_data, data_config, training: TrainConfig, out: Path, **fit_args) -> dict:
    device = resolve_device(training.device)
    val = windows(frame, data_config, "val", 1, False, 256)

    def loss_fn(model, batch, state):
        return model.loss(model(batch.inputs, batch.targets), batch.targets), None

    def evaluate_fn(model):
        return validation_metrics(model, val, device)

    history = fit(model, train_data, training, loss_fn=loss_fn, run_dir=out, task=TASK, evaluate_fn=evaluate_fn, **fit_args)
    summary = {"steps": history.steps, "stop_reason": history.stop_reason, "best_val_mse": history.best}
    if history.stop_reason == "interrupted":
        summary["test_error"] = "training was interrupted"
        return summary
    try:
        summary["test"] = evaluate_run(out, None, "test", device_name=training.device)
    except ValueError as err:  # no test windows: say so instead of failing the finished run
        summary["test_error"] = str(err)
    return summary


def fit_linear_baseline(frame: Frame, config: ForecastDataConfig) -> LinearBaseline:
    """Least squares on every training window (stride 1), targets only, scaled."""
    data = windows(frame, config, "train", 1, False, 4096)
    past, future = [], []
    for batch in data.batches(epoch=0, seed=0):
        past.append(batch.inputs[:, : config.lookback, : len(config.targets)])
        future.append(batch.targets)
    return LinearBaseline(config.lookback, config.horizon).fit(torch.cat(past), torch.cat(future))


@torch.no_grad()
def validation_metrics(model: Forecaster, data: WindowBatches, device) -> dict:
    """Mean loss and MSE of the point forecast on scaled targets."""
    was_training = model.training
    model.eval()
    loss, sums = 0.0, ErrorSums()
    try:
        for batch in data.batches(epoch=0, seed=0):
            batch = batch.to(device)
            params = model(batch.inputs)
            loss += float(model.loss(params, batch.targets)) * len(batch.targets)
            sums.add(model.forecast(params).mean, batch.targets)
    finally:
        model.train(was_training)
    errors = sums.result()
    return {"loss": loss / len(data.origins), "mse": errors["mse"], "mae": errors["mae"]}


# -- evaluate and predict from a run directory ------------------------------------------------------------
@dataclass
class LoadedRun:
    model: Forecaster
    data_config: ForecastDataConfig
    scaler: Scaler
    season: int
    linear: LinearBaseline
    path: str


def load_run(run_dir: Path, device="cpu") -> LoadedRun:
    run_dir = Path(run_dir)
    run = read_run(run_dir, TASK)
    model = Forecaster.from_config(_model_config(run))
    load_trained_weights(run_dir, model)
    saved = read_json(run_dir / "forecast.json")
    config = ForecastDataConfig.from_dict(saved["data"])
    linear = LinearBaseline(config.lookback, config.horizon)
    linear.load_state_dict(load_file(str(run_dir / "baselines.safetensors")))
    return LoadedRun(model.to(device).eval(), config, Scaler(**read_json(run_dir / "scaler.json")), saved["season"], linear, saved["path"])


def evaluate_run(run_dir: Path, path: str | None, part: str = "test", stride: int = 1, device_name: str = "auto",
                 plot: bool = True) -> dict:
    """Rolling-origin evaluation over `part` (test, val, train or all) of the file (default: the
    training file), cut with the run's split rule: a forecast from every `stride`-th origin. Returns
    {model, persistence, seasonal_naive, linear}: each with mse/mae (original scale), mse_scaled/
    mae_scaled, mape, smape (original scale), and coverage for probabilistic models."""
    device = resolve_device(device_name)
    loaded = load_run(run_dir, device)
    config = loaded.data_config
    frame = load_frame(path or loaded.path, config, loaded.scaler)
    data = windows(frame, config, part, stride, False, 256)
    results = _evaluate_windows(loaded, data, device)
    results.update({"part": part, "windows": len(data.origins), "horizon": config.horizon, "lookback": config.lookback,
                    "season": loaded.season, "targets": list(config.targets)})
    results["beats_persistence"] = results["model"]["mse"] < results["persistence"]["mse"]
    if plot:
        name = Path(path or loaded.path).name.split(".")[0]
        results["plot"] = str(_plot_last_window(loaded, frame, data, Path(run_dir) / "plots" / f"forecast-{name}-{part}.png"))
    return results


@torch.no_grad()
def _evaluate_windows(loaded: LoadedRun, data: WindowBatches, device) -> dict:
    config, targets = loaded.data_config, len(loaded.data_config.targets)
    sums = {name: (ErrorSums(), ErrorSums()) for name in ("model", *BASELINES)}  # (scaled, original)
    original = lambda x: loaded.scaler.inverse(x, slice(0, targets))  # noqa: E731
    for batch in data.batches(epoch=0, seed=0):
        inputs, truth = batch.inputs, batch.targets
        forecast = loaded.model.forecast(loaded.model(inputs.to(device)), config.level)
        outputs = {"model": (forecast.mean.cpu(), forecast.lower, forecast.upper), **{
            name: (forecast_baseline(name, loaded, inputs), None, None) for name in BASELINES}}
        for name, (mean, lower, upper) in outputs.items():
            lower = None if lower is None else lower.cpu()
            upper = None if upper is None else upper.cpu()
            sums[name][0].add(mean, truth, lower, upper)
            sums[name][1].add(original(mean), original(truth))
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
def _plot_last_window(loaded: LoadedRun, frame: Frame, data: WindowBatches, path: Path) -> Path:
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


@torch.no_grad()
def predict(run_dir: Path, path: str, device_name: str = "auto", plot: Path | None = None) -> dict:
    """Forecast the `horizon` steps after the end of the file: {"times", "targets", "mean" (H, D),
    "lower"/"upper" (H, D) or None, "level"} on the original scale. Known-future covariate columns
    must be given for those steps as trailing rows with the targets left empty."""
    device = resolve_device(device_name)
    loaded = load_run(run_dir, device)
    c = loaded.data_config
    header, rows, source = read_rows(Path(path))
    history, future = split_future_rows(header, rows, list(c.targets))
    if not history:
        raise ValueError(f"{source}: no rows with target values to forecast from")
    table = table_from_rows(header, history, source, c.columns, c.time_column, c.fill)
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
    inputs = torch.from_numpy(window).unsqueeze(0).to(device)
    forecast = loaded.model.forecast(loaded.model(inputs), c.level)
    back = lambda x: None if x is None else loaded.scaler.inverse(x.cpu()[0].double(), slice(0, len(c.targets))).numpy()  # noqa: E731
    result = {"times": times, "targets": list(c.targets), "mean": back(forecast.mean), "lower": back(forecast.lower),
              "upper": back(forecast.upper), "level": forecast.level}
    if plot is not None:
        shown = min(len(table.values), max(3 * c.horizon, c.lookback))
        past_times = table.times[-shown:] if table.times is not None else np.arange(len(table.values))[-shown:]
        interval = None if result["lower"] is None else (result["lower"][:, 0], result["upper"][:, 0])
        result["plot"] = str(plot_forecast(past_times, table.values[-shown:, 0], times, {"forecast": result["mean"][:, 0]}, interval,
                                           Path(plot), title=f"{c.targets[0]}: forecast of the next {c.horizon} steps"))
    return result


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
