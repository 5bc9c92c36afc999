"""Panels: many series in one long table with an id column, and one global forecaster trained across
them (neuralforecast's `unique_id`, darts' lists of series).

Each series is read and checked on its own (its own start, end, length and gaps), split in time
order by the same rule, and scaled with its own training rows; windows never cross from one series
into the next. The linear baseline is fitted per series. Evaluation reports every series and all of
them pooled (every window of every series), next to the baselines. With `id_features` the series'
identity is a one-hot known input at every step (a learned embedding, through the first layer).
A series too short for a window in each of train, validation and test is left out and reported.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from safetensors.torch import save_file

from rnnkit.data.timeseries import read_rows, split_series
from rnnkit.data.windows import Scaler, WindowBatches, window_origins
from rnnkit.tasks.forecast.core import fit_forecaster, fit_linear_baseline, season_and_shape
from rnnkit.tasks.forecast.frames import ForecastDataConfig, Frame, make_frame, windows
from rnnkit.tasks.forecast.inference import (
    LoadedRun,
    build_forecaster,
    error_sums,
    evaluate_windows,
    forecast_rows,
    plot_last_window,
    plot_prediction,
    sums_metrics,
)
from rnnkit.training import TrainConfig
from rnnkit.training.checkpoint import read_json
from rnnkit.training.state import seed_everything


@dataclass
class Panel:
    """The series of a panel in the order of `ids`, and the ones left out: {id: why}."""

    ids: list[str]
    frames: list[Frame]
    left_out: dict[str, str] = field(default_factory=dict)

    def frame(self, name: str) -> Frame:
        return self.frames[self.ids.index(name)]


def load_panel(path: str, config: ForecastDataConfig, parts: tuple[str, ...], run_ids: list[str] | None = None,
               scalers: dict[str, Scaler] | None = None) -> Panel:
    """Read every series of the table; keep those with a window in each of `parts`. `run_ids` are the
    trained run's series (identity features and scalers follow them; other ids are left out)."""
    header, rows, source = read_rows(Path(path))
    groups = split_series(header, rows, source, config.id_column)
    panel, notes = Panel([], []), set()
    for name, (group, lines) in groups.items():
        if run_ids is not None and name not in run_ids:
            panel.left_out[name] = "not a series of the trained run (scalers and baselines are per series)"
            continue
        table = config.table(header, group, f"{source}, series {name!r}", lines)
        notes.update(note.replace(f"{source}, series {name!r}", source) for note in table.notes)
        try:
            frame = make_frame(table, config, None if scalers is None else scalers[name])
        except ValueError as err:  # its rows do not reach the split dates
            panel.left_out[name] = f"{len(table.values)} rows: {err}"
            continue
        reason = _too_short(frame, config, parts)
        if reason:
            panel.left_out[name] = reason
            continue
        panel.ids.append(name)
        panel.frames.append(frame)
    for note in sorted(notes):
        print(f"rnnkit forecast: {note}", file=sys.stderr)
    if panel.left_out:
        shown = "; ".join(f"{name}: {why}" for name, why in list(panel.left_out.items())[:5])
        print(f"rnnkit forecast: {len(panel.left_out)} of {len(groups)} series left out ({shown}"
              f"{' ...' if len(panel.left_out) > 5 else ''})", file=sys.stderr)
    if not panel.ids:
        raise ValueError(f"{source}: no series of the panel can be used ({len(panel.left_out)} left out: "
                         f"{next(iter(panel.left_out.values()), 'none in the file')})")
    if config.id_features:
        _add_identity(panel, run_ids or panel.ids)
    return panel


def _too_short(frame: Frame, config: ForecastDataConfig, parts: tuple[str, ...]) -> str | None:
    for part in parts:
        try:
            window_origins(frame.split, part, config.lookback, config.horizon)
        except ValueError:
            start, end = frame.split.part(part)
            return (f"{len(frame.features)} rows: its {part} part has {end - start} rows, too few for one window of "
                    f"lookback {config.lookback} + horizon {config.horizon}")
    return None


def identity(ids: list[str], name: str) -> np.ndarray:
    """The one-hot identity of series `name` among the run's `ids`."""
    onehot = np.zeros(len(ids), dtype=np.float32)
    onehot[ids.index(name)] = 1.0
    return onehot


def _add_identity(panel: Panel, ids: list[str]) -> None:
    for name, frame in zip(panel.ids, panel.frames):
        onehot = np.broadcast_to(identity(ids, name), (len(frame.features), len(ids)))
        frame.features = np.concatenate([frame.features, onehot], axis=1)
        frame.names = frame.names + [f"id={i}" for i in ids]
        frame.num_known += len(ids)


def panel_windows(panel: Panel, config: ForecastDataConfig, part: str, stride: int, shuffle: bool, batch_size: int) -> WindowBatches:
    """The windows of `part` of every series, over the series laid end to end: each window's origin is
    shifted by its series' offset, and no window reaches into another series."""
    offsets = np.cumsum([0] + [len(frame.features) for frame in panel.frames])
    origins = [window_origins(frame.split, part, config.lookback, config.horizon, stride) + offset
               for frame, offset in zip(panel.frames, offsets)]
    return WindowBatches(np.concatenate([frame.features for frame in panel.frames]), np.concatenate(origins),
                         lookback=config.lookback, horizon=config.horizon, num_targets=len(config.targets),
                         batch_size=batch_size, num_known=panel.frames[0].num_known, shuffle=shuffle)


# -- train ---------------------------------------------------------------------------------------------
def train(path: str, config: ForecastDataConfig, model_overrides: dict, training: TrainConfig, out: Path) -> dict:
    panel = load_panel(path, config, ("train", "val", "test"))
    train_data = panel_windows(panel, config, "train", config.stride, True, config.batch_size)
    longest = max(panel.frames, key=lambda frame: frame.split.train_end)
    season, shape = season_and_shape(longest, config)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    weights = {}
    for i, frame in enumerate(panel.frames):
        weights.update({f"{i}.{k}": v.contiguous() for k, v in fit_linear_baseline(frame, config).state_dict().items()})
    save_file(weights, str(out / "baselines.safetensors"))
    artifacts = {"forecast": {"data": asdict(config), "path": str(path), "features": longest.names, "season": int(season),
                              "panel": {"ids": panel.ids, "left_out": panel.left_out}},
                 "scaler": {"series": {name: asdict(frame.scaler) for name, frame in zip(panel.ids, panel.frames)}}}
    print(f"rnnkit forecast: one model over {len(panel.ids)} series, {len(train_data.origins):,} training windows", file=sys.stderr)
    seed_everything(training.seed)  # the initial weights follow --seed
    val = panel_windows(panel, config, "val", 1, False, 256)
    return fit_forecaster(build_forecaster(model_overrides, **shape), train_data, val, training, out, artifacts=artifacts)


def resume_windows(out: Path, saved: dict, config: ForecastDataConfig) -> tuple[WindowBatches, WindowBatches]:
    """The training and validation windows of the panel a run was trained on, scaled as before."""
    scalers = {name: Scaler(**values) for name, values in read_json(Path(out) / "scaler.json")["series"].items()}
    panel = load_panel(saved["path"], config, ("train", "val", "test"), saved["panel"]["ids"], scalers)
    return (panel_windows(panel, config, "train", config.stride, True, config.batch_size),
            panel_windows(panel, config, "val", 1, False, 256))


# -- evaluate and predict ----------------------------------------------------------------------------------
def evaluate(loaded: LoadedRun, run_dir: Path, path: str | None, part: str, stride: int, device, plot: bool) -> dict:
    """evaluate_run for a panel: the pooled metrics at the top level (every window of every series),
    each series' own under "series", and "left_out" {id: why}."""
    config = loaded.data_config
    ids = list(loaded.series)
    panel = load_panel(path or loaded.path, config, (part,), ids, {name: scaler for name, (scaler, _) in loaded.series.items()})
    pooled, series, count = error_sums(), {}, 0
    for name, frame in zip(panel.ids, panel.frames):
        data = windows(frame, config, part, stride, False, 256)
        series[name] = {**evaluate_windows(loaded.of_series(name), data, device, pooled), "windows": len(data.origins)}
        series[name]["beats_persistence"] = series[name]["model"]["mse"] < series[name]["persistence"]["mse"]
        count += len(data.origins)
    results = sums_metrics(pooled, loaded.of_series(panel.ids[0]))
    results.update({"part": part, "windows": count, "horizon": config.horizon, "lookback": config.lookback, "season": loaded.season,
                    "targets": list(config.targets), "series": series, "left_out": panel.left_out})
    results["beats_persistence"] = results["model"]["mse_scaled"] < results["persistence"]["mse_scaled"]
    if plot:
        name, frame = panel.ids[0], panel.frames[0]
        stem = Path(path or loaded.path).name.split(".")[0]
        results["plot"] = str(plot_last_window(loaded.of_series(name), frame, windows(frame, config, part, stride, False, 256),
                                               Path(run_dir) / "plots" / f"forecast-{stem}-{part}-{_safe(name)}.png"))
    return results


def predict(loaded: LoadedRun, path: str, device, plot: Path | None, ids: list[str] | None) -> dict:
    """{"series": {id: forecast}} for every series of the file that the run knows, or only `ids`."""
    config = loaded.data_config
    header, rows, source = read_rows(Path(path))
    groups = split_series(header, rows, source, config.id_column)
    run_ids = list(loaded.series)
    wanted = ids or [name for name in groups if name in loaded.series]
    unknown = [name for name in wanted if name not in loaded.series]
    missing = [name for name in wanted if name not in groups]
    if unknown or missing:
        raise ValueError(f"series {unknown or missing} " + ("are not series of the trained run" if unknown else f"are not in {source}")
                         + f"; the run knows {run_ids[:10]}{' ...' if len(run_ids) > 10 else ''}")
    if not wanted:
        raise ValueError(f"{source}: none of its series ({list(groups)[:10]}) is a series of the trained run")
    results = {}
    for name in wanted:
        group, lines = groups[name]
        extra = identity(run_ids, name) if config.id_features else None
        table, results[name] = forecast_rows(loaded.of_series(name), header, group, f"{source}, series {name!r}", device, lines, extra)
        if plot is not None and name == wanted[0]:
            results[name]["plot"] = str(plot_prediction(table, results[name], config, Path(plot),
                                                        f"{config.targets[0]} of series {name}: the next {config.horizon} steps"))
    return {"series": results, "targets": list(config.targets)}


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:40]
