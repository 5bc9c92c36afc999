"""Anomalies in clips from next-frame prediction: train a ConvLSTM encoder-predictor on normal clips
(labels unused), then score every frame of new clips by its prediction error, normalised within
each clip into a regularity score (Hasan et al. 2016); with labelled frames, AUROC.

Every frame of every clip is read (no sampling), so frame labels index the clip's own frames.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from rnnkit.data.batches import PaddedBatches
from rnnkit.data.clips import read_frame_labels
from rnnkit.models.frame_predictor import FramePredictor, FramePredictorConfig
from rnnkit.tasks.video import clips as clip_kind
from rnnkit.tasks.video.common import TASK, batches, part, random_split, read_video_run
from rnnkit.training.anomaly import regularity
from rnnkit.training.checkpoint import read_json
from rnnkit.training.config import TrainConfig
from rnnkit.training.distributed import resolve_device
from rnnkit.training.loop import fit
from rnnkit.training.plots import plot_regularity
from rnnkit.training.risk import auroc, average_precision
from rnnkit.training.rundir import load_trained_weights
from rnnkit.training.state import seed_everything

TRAIN_DEFAULTS = {"epochs": 20, "lr": 2e-3, "clip_norm": 5.0}


def _check_config(config: clip_kind.ClipDataConfig) -> None:
    if config.frames is not None:
        raise ValueError("frame prediction reads every frame of a clip; leave the frame count unset (frames=None)")


def _prediction_loss(model, batch, state):
    return model.loss(batch.inputs, batch.lengths), None


def train(path: str, data_config: clip_kind.ClipDataConfig, model_overrides: dict, train_overrides: dict,
          out: Path) -> dict:
    """Train a frame predictor on the (normal) clips at `path`; a random `val_fraction` of them
    validates (checkpoint of lowest validation error), else the last weights are kept."""
    _check_config(data_config)
    training = TrainConfig(**{**TRAIN_DEFAULTS, **train_overrides})
    clips = clip_kind.load(path, data_config, labelled=False)
    parts = random_split(clips.names, 0.0, data_config.val_fraction, data_config.split_seed)
    config = FramePredictorConfig(channels=clips.sequences[0].shape[1], **model_overrides)
    artifacts = {"video": {"kind": "clips", "objective": "predict", "data": asdict(data_config), "path": str(path)},
                 "split": parts}
    seed_everything(training.seed)
    return _fit(FramePredictor.from_config(config), clips, parts, data_config, training, out, artifacts=artifacts)


def resume(out: Path, overrides: dict) -> dict:
    """Continue a frame-prediction run on the clips it was trained on."""
    run, info = read_video_run(out)
    config = clip_kind.ClipDataConfig(**info["data"])
    training = TrainConfig.from_dict({**run["training"], **overrides})
    clips = clip_kind.load(info["path"], config, labelled=False)
    model = FramePredictor.from_config(FramePredictorConfig(**run["model"]["config"]))
    return _fit(model, clips, read_json(Path(out) / "split.json"), config, training, out, resume=True)


def _fit(model, clips, parts: dict, config, training: TrainConfig, out: Path, **fit_args) -> dict:
    device = resolve_device(training.device)
    val = batches(part(clips, parts["val"]), None, 32, shuffle=False) if parts["val"] else None
    evaluate_fn = None if val is None else (lambda m: {"loss": _mean_error(m, val, device)})
    history = fit(model, batches(part(clips, parts["train"]), None, config.batch_size), training,
                  loss_fn=_prediction_loss, run_dir=out, task=TASK, evaluate_fn=evaluate_fn, **fit_args)
    return {"steps": history.steps, "stop_reason": history.stop_reason, "best_val_loss": history.best,
            "clips": {"train": len(parts["train"]), "val": len(parts["val"])}}


@torch.no_grad()
def _mean_error(model, data: PaddedBatches, device) -> float:
    model.eval()
    total, count = 0.0, 0
    for batch in data.batches(0, 0):
        errors = model.errors(batch.inputs.to(device), batch.lengths.to(device))
        valid = ~errors.isnan()
        total, count = total + float(errors[valid].sum()), count + int(valid.sum())
    model.train()
    return total / max(count, 1)


def load_predictor(run_dir: Path, device="cpu") -> tuple[FramePredictor, clip_kind.ClipDataConfig]:
    run, info = read_video_run(run_dir)
    if info.get("objective") != "predict":
        raise ValueError(f"{run_dir} is a classifier; detect needs a frame-prediction run "
                         f"(rnnkit video train --objective predict)")
    model = FramePredictor.from_config(FramePredictorConfig(**run["model"]["config"]))
    load_trained_weights(run_dir, model)
    return model.to(device).eval(), clip_kind.ClipDataConfig(**info["data"])


@dataclass
class ClipScores:
    """Per clip: frame errors (NaN at frame 0), regularity, anomaly = 1 - regularity, labels or None."""

    name: str
    errors: np.ndarray
    regularity: np.ndarray
    labels: np.ndarray | None

    @property
    def anomaly(self) -> np.ndarray:
        return 1.0 - self.regularity


@torch.no_grad()
def detect(run_dir: Path, path: str, labels_column: str | None = None, device_name: str = "auto",
           plot_clips: int = 8, batch_size: int = 16) -> tuple[list[ClipScores], dict]:
    """Score every frame of the clips at `path`; with `labels_column` (frame spans in the manifest),
    AUROC and AUPRC over all scored frames of the anomaly score and of the raw error. The first
    `plot_clips` clips are plotted into RUN_DIR/plots/regularity-<data>.png."""
    device = resolve_device(device_name)
    model, config = load_predictor(run_dir, device)
    clips = clip_kind.load(path, config, labelled=False)
    spans = read_frame_labels(path, labels_column) if labels_column else None
    data = batches(clips, None, batch_size, path, shuffle=False)
    errors = [row for b in data.batches(0, 0)  # batches pad to their own longest clip: keep rows apart
              for row in model.errors(b.inputs.to(device), b.lengths.to(device)).cpu().double().numpy()]
    results = []
    for name, seq, row in zip(clips.names, clips.sequences, errors):
        e = row[: len(seq)]
        labels = None
        if spans is not None:
            labels = np.zeros(len(seq))
            for start, end in spans.get(name, []):
                labels[start:end] = 1
        results.append(ClipScores(name, e, regularity(e), labels))
    summary = {"clips": len(results), "frames": int(sum(len(r.errors) for r in results))}
    if spans is not None:
        summary.update(_metrics(results))
    shown = [{"name": r.name, "regularity": r.regularity.tolist(), "labels": None if r.labels is None else r.labels.tolist()}
             for r in results[:plot_clips]]
    if shown:
        summary["plot"] = str(plot_regularity(shown, Path(run_dir) / "plots" / f"regularity-{Path(path).stem}.png"))
    return results, summary


def _metrics(results: list[ClipScores]) -> dict:
    scored = [(r.labels[t], r.anomaly[t], r.errors[t]) for r in results for t in range(len(r.errors))
              if not math.isnan(r.errors[t])]
    y, anomaly, error = (np.array(v) for v in zip(*scored))
    return {"anomalous_frames": int(y.sum()), "auroc": auroc(y, anomaly), "auprc": average_precision(y, anomaly),
            "auroc_raw_error": auroc(y, error), "auprc_raw_error": average_precision(y, error)}
