"""Anomaly scores from a trained forecaster's errors (Malhotra et al., "Long Short Term Memory
Networks for Anomaly Detection in Time Series", ESANN 2015).

Each row t of a series is forecast `steps` times, from the origins t, t-1, ..., t-steps+1 (horizon
1, 2, ..., steps of those forecasts). Its error vector (targets x steps, on the scaled values) is
scored by its squared Mahalanobis distance under a Gaussian fitted to the error vectors of the
run's validation rows, so a score of about targets x steps is typical there. Rows whose score passes
the `quantile` of the validation scores (or a given threshold) are flagged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from rnnkit.data.timeseries import read_rows
from rnnkit.data.windows import WindowBatches
from rnnkit.tasks.forecast.frames import ForecastDataConfig, Frame, load_frame
from rnnkit.tasks.forecast.inference import LoadedRun, load_run
from rnnkit.training.distributed import resolve_device
from rnnkit.training.risk import auroc, average_precision, best_f1


@dataclass
class Detection:
    """Per row of the scored file: time (or row number), the first target (original scale), score
    (NaN where a row cannot be scored: the first lookback + steps - 1 rows), flag; the threshold
    and, with labels, the metrics."""

    times: np.ndarray
    values: np.ndarray
    scores: np.ndarray
    flags: np.ndarray
    threshold: float
    labels: np.ndarray | None
    summary: dict


@torch.no_grad()
def error_vectors(loaded: LoadedRun, frame: Frame, steps: int, device) -> tuple[np.ndarray, np.ndarray]:
    """(rows (M,), errors (M, targets * steps)) of every row that `steps` forecasts cover."""
    c = loaded.data_config
    lookback, horizon, targets = c.lookback, c.horizon, len(c.targets)
    features = frame.features
    n = len(features)
    if frame.num_known == 0:  # nothing is read past the origin, so origins may run to the last row
        features = np.concatenate([features, np.zeros((horizon - 1, features.shape[1]), dtype=features.dtype)])
        last_origin = n - 1
    else:  # known covariates must exist for the whole horizon
        last_origin = n - horizon
    if last_origin - lookback + 1 < steps:
        raise ValueError(f"{frame.table.source}: {n} rows are too few to score with lookback {lookback} and {steps} steps")
    origins = np.arange(lookback, last_origin + 1)
    data = WindowBatches(features, origins, lookback=lookback, horizon=horizon, num_targets=targets, batch_size=512,
                         num_known=frame.num_known, shuffle=False)
    forecasts = torch.cat([loaded.model.forecast(loaded.model(b.inputs.to(device))).mean.cpu() for b in data.batches(0, 0)])
    forecasts = forecasts.double().numpy()  # (origins, H, D): forecasts[i, j] is row origins[i] + j
    truth = frame.features[:, :targets].astype(np.float64)
    rows = np.arange(lookback + steps - 1, last_origin + 1)
    errors = np.concatenate([truth[rows] - forecasts[rows - lookback - k, k] for k in range(steps)], axis=1)
    return rows, errors


def fit_gaussian(errors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and precision matrix of error vectors (a small ridge keeps the covariance invertible)."""
    mean = errors.mean(axis=0)
    centred = errors - mean
    cov = centred.T @ centred / max(len(errors) - 1, 1)
    ridge = 1e-6 * max(np.trace(cov) / len(cov), 1e-12)
    return mean, np.linalg.inv(cov + ridge * np.eye(len(cov)))


def mahalanobis(errors: np.ndarray, mean: np.ndarray, precision: np.ndarray) -> np.ndarray:
    centred = errors - mean
    return np.einsum("ij,jk,ik->i", centred, precision, centred)


def detect(run_dir: Path, path: str | None = None, *, labels: str | None = None, steps: int | None = None,
           quantile: float = 0.99, threshold: float | None = None, device_name: str = "auto") -> Detection:
    """Score every row of the file `path` (default: the run's training file) by its forecast errors."""
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must be in (0, 1); got {quantile}")
    given = threshold
    device = resolve_device(device_name)
    loaded = load_run(run_dir, device)
    c = loaded.data_config
    if c.id_column:
        raise ValueError(f"{run_dir} is a panel run (--id-column {c.id_column}); detect scores one series: train a run on that "
                         "series' rows alone")
    steps = steps or c.horizon
    if not 1 <= steps <= c.horizon:
        raise ValueError(f"steps must be in 1..{c.horizon} (the run's horizon); got {steps}")
    reference = load_frame(loaded.path, c, loaded.scaler)
    rows, errors = error_vectors(loaded, reference, steps, device)
    val = (rows >= reference.split.train_end) & (rows < reference.split.val_end)
    if val.sum() < 2:
        raise ValueError(f"the run's validation rows of {loaded.path} give {int(val.sum())} error vectors; at least 2 are needed")
    mean, precision = fit_gaussian(errors[val])
    val_scores = mahalanobis(errors[val], mean, precision)
    threshold = float(np.quantile(val_scores, quantile)) if threshold is None else float(threshold)
    frame = reference if path is None else load_frame(path, c, loaded.scaler)
    if path is not None:
        rows, errors = error_vectors(loaded, frame, steps, device)
    n = len(frame.features)
    scores = np.full(n, np.nan)
    scores[rows] = mahalanobis(errors, mean, precision)
    flags = scores > threshold
    times = frame.table.times if frame.table.times is not None else np.arange(n)
    summary = {"rows": n, "scored": len(rows), "flagged": int(flags.sum()), "threshold": threshold,
               "quantile": quantile if given is None else None, "steps": steps, "validation_rows": int(val.sum()),
               "typical_score": len(mean)}
    truth = None
    if labels is not None:
        truth = label_column(path or loaded.path, labels, c, n)
        scored = ~np.isnan(scores)
        if len(set(truth[scored].tolist())) < 2:
            raise ValueError(f"the scored rows of {path or loaded.path} hold only one value of {labels}; AUROC needs both 0 and 1")
        best = best_f1(truth[scored], scores[scored])
        summary.update(auroc=auroc(truth[scored], scores[scored]), auprc=average_precision(truth[scored], scores[scored]),
                       best_f1=best["f1"], best_threshold=best["threshold"], anomalies=int(truth[scored].sum()))
    return Detection(times, frame.table.values[:, 0], scores, flags, threshold, truth, summary)


def label_column(path: str, column: str, config: ForecastDataConfig, rows: int) -> np.ndarray:
    """The 0/1 `column` of the file, read with the run's time column and fill (so its rows line up)."""
    header, table_rows, source = read_rows(Path(path))
    only_labels = replace(config, targets=(column,), covariates=(), known=(), calendar=False)
    values = only_labels.table(header, table_rows, source).values[:, 0]
    if len(values) != rows or not np.isin(values, (0.0, 1.0)).all():
        raise ValueError(f"{source}: the label column {column!r} must hold 0 or 1 on every row")
    return values
