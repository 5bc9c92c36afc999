"""Training forecasters: a table -> scaled windows -> a Forecaster trained with the shared loop, with
the linear baseline fitted on the training windows and the test part evaluated at the end (see
inference.py); panels of many series go through panel.py.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import save_file

from rnnkit.data.timeseries import (
    natural_seasons,
)
from rnnkit.data.windows import Scaler, WindowBatches
from rnnkit.models.baselines import LinearBaseline, infer_season
from rnnkit.models.forecaster import Forecaster
from rnnkit.tasks.forecast.frames import TASK, ForecastDataConfig, Frame, load_frame, windows
from rnnkit.tasks.forecast.inference import build_forecaster, evaluate_run, model_from_run
from rnnkit.training import TrainConfig, fit
from rnnkit.training.checkpoint import read_json
from rnnkit.training.distributed import resolve_device
from rnnkit.training.metrics import ErrorSums
from rnnkit.training.rundir import read_run, write_summary
from rnnkit.training.state import seed_everything

TRAIN_DEFAULTS = dict(epochs=30, lr=1e-3, clip_norm=1.0, monitor="val_mse", monitor_mode="min", early_stopping=5)


# -- train --------------------------------------------------------------------------------------------
def train(path: str, data_config: ForecastDataConfig, model_overrides: dict, train_overrides: dict, out: Path) -> dict:
    """Train a forecaster on the file `path` into the run directory `out`; return a summary with the
    test-part evaluation (model and baselines). With an id column, one global model over the panel
    (see panel.py)."""
    training = TrainConfig(**{**TRAIN_DEFAULTS, **train_overrides})
    if data_config.id_column:
        from rnnkit.tasks.forecast import panel  # imported here: panel.py builds on this module
        return panel.train(path, data_config, model_overrides, training, out)
    frame = load_frame(path, data_config)
    train_data = windows(frame, data_config, "train", data_config.stride, True, data_config.batch_size)
    season, shape = season_and_shape(frame, data_config)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    linear = fit_linear_baseline(frame, data_config)
    save_file({k: v.contiguous() for k, v in linear.state_dict().items()}, str(out / "baselines.safetensors"))
    artifacts = {"forecast": {"data": asdict(data_config), "path": str(path), "features": frame.names, "season": int(season)},
                 "scaler": asdict(frame.scaler)}
    seed_everything(training.seed)  # the initial weights follow --seed
    val = windows(frame, data_config, "val", 1, False, 256)
    return fit_forecaster(build_forecaster(model_overrides, **shape), train_data, val, training, out, artifacts=artifacts)


def season_and_shape(frame: Frame, config: ForecastDataConfig) -> tuple[int, dict]:
    """(the seasonal-naive season, from the frame's training rows unless configured; the model's
    sizes: num_features, num_targets, lookback, horizon, num_known)."""
    targets = len(config.targets)
    season = config.season or infer_season(frame.features[: frame.split.train_end, :targets], config.lookback,
                                           natural_seasons(frame.table))
    return season, dict(num_features=len(frame.names), num_targets=targets, lookback=config.lookback, horizon=config.horizon,
                        num_known=frame.num_known)


def resume(out: Path, overrides: dict) -> dict:
    """Continue the run in `out` on the file it was trained on, scaled as before."""
    run = read_run(out, TASK)
    saved = read_json(Path(out) / "forecast.json")
    data_config = ForecastDataConfig.from_dict(saved["data"])
    training = TrainConfig.from_dict({**run["training"], **overrides})
    model = model_from_run(run)
    if data_config.id_column:
        from rnnkit.tasks.forecast import panel  # imported here: panel.py builds on this module
        train_data, val = panel.resume_windows(out, saved, data_config)
    else:
        frame = load_frame(saved["path"], data_config, Scaler(**read_json(Path(out) / "scaler.json")))
        train_data = windows(frame, data_config, "train", data_config.stride, True, data_config.batch_size)
        val = windows(frame, data_config, "val", 1, False, 256)
    return fit_forecaster(model, train_data, val, training, out, resume=True)


def fit_forecaster(model, train_data: WindowBatches, val: WindowBatches, training: TrainConfig, out: Path, **fit_args) -> dict:
    """Train with the shared loop, validating on `val`; the summary ends with the test evaluation."""
    device = resolve_device(training.device)

    def loss_fn(model, batch, state):
        return model.loss(model(batch.inputs, batch.targets), batch.targets), None

    def evaluate_fn(model):
        return validation_metrics(model, val, device)

    history = fit(model, train_data, training, loss_fn=loss_fn, run_dir=out, task=TASK, evaluate_fn=evaluate_fn, **fit_args)
    summary = {"steps": history.steps, "stop_reason": history.stop_reason, "best_val_mse": history.best}
    if history.stop_reason == "interrupted":
        summary["test_error"] = "training was interrupted"
    else:
        try:
            summary["test"] = evaluate_run(out, None, "test", device_name=training.device)
        except ValueError as err:  # no test windows: say so instead of failing the finished run
            summary["test_error"] = str(err)
    write_summary(out, summary)
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
