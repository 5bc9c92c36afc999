"""Action recognition from pose sequences: read skeletons (MSR Action3D or the generic layout),
normalise each sequence, split by subject (cross-subject) or by a stratified fraction, train a
whole-body RNN or the hierarchical body-part RNN with the shared loop, and score accuracy, macro-F1
and the per-class figures."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from rnnkit.data.batches import PaddedBatches
from rnnkit.data.pose import MSR_ACTION_SETS, MSR_BODY_PARTS, MSR_JOINTS, PoseNormalisation, PoseSet, read_poses
from rnnkit.models.pose import PoseModelConfig, build_pose_model
from rnnkit.tasks.classify import predict_batches, stratified_split
from rnnkit.training.checkpoint import read_json
from rnnkit.training.config import TrainConfig
from rnnkit.training.distributed import resolve_device
from rnnkit.training.loop import fit
from rnnkit.training.metrics import classification_metrics
from rnnkit.training.plots import plot_confusion
from rnnkit.training.rundir import load_trained_weights, read_run
from rnnkit.training.state import seed_everything

TASK = "video-pose"
TRAIN_DEFAULTS = {"epochs": 100, "lr": 1e-3, "clip_norm": 5.0}


@dataclass(frozen=True)
class PoseDataConfig:
    """What to read and how to split it.

    `listing`: MSR Action3D's file of sequence names to use (files_used_in_cvpr12_paper.txt);
    `classes`: keep only these labels (an MSR action set such as "AS1" names its eight); `joints`,
    `dims`: the generic layout's frame shape (None: inferred); `min_frames`: shorter sequences are
    skipped. Split: `test_subjects` are held out and scored at the end (cross-subject); the training
    sequences give a stratified `val_fraction` (0: no validation, the last weights are kept).
    Normalisation: `rnnkit.data.pose.PoseNormalisation` (`root`, `scale`, `center`, `frames`)."""

    listing: str | None = None
    classes: tuple[str, ...] | None = None
    joints: int | None = None
    dims: int = 3
    min_frames: int = 2
    test_subjects: tuple[int, ...] = ()
    val_fraction: float = 0.0
    split_seed: int = 0
    root: int = 6
    scale: tuple[int, int] | None = (6, 2)
    center: str = "frame"
    frames: int | None = None
    batch_size: int = 16

    def __post_init__(self) -> None:
        for name in ("classes", "test_subjects", "scale"):
            value = getattr(self, name)
            object.__setattr__(self, name, None if value is None else tuple(value))
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1); got {self.val_fraction}")
        self.normalisation()

    def normalisation(self) -> PoseNormalisation:
        return PoseNormalisation(self.root, self.scale, self.center, self.frames)


def action_set(name: str) -> tuple[str, ...]:
    """The MSR Action3D labels ("a02", ...) of an action subset AS1, AS2 or AS3."""
    if name not in MSR_ACTION_SETS:
        raise ValueError(f"unknown action set {name!r}; MSR Action3D has {sorted(MSR_ACTION_SETS)}")
    return tuple(f"a{a:02d}" for a in MSR_ACTION_SETS[name])


def load_poses(path: str, config: PoseDataConfig, classes: tuple[str, ...] | None = None,
               subjects: tuple[int, ...] | None = None) -> PoseSet:
    """Read, keep `classes` (default: the config's) and `subjects`, and normalise every sequence."""
    poses = read_poses(path, joints=config.joints, dims=config.dims, listing=config.listing, min_frames=config.min_frames)
    for line in poses.report.lines():
        print(f"rnnkit: {line}", file=sys.stderr)
    keep = classes if classes is not None else config.classes
    rows = [i for i, label in enumerate(poses.labels) if (keep is None or label in keep)
            and (subjects is None or poses.subjects[i] in subjects)]
    if not rows:
        raise ValueError(f"{path}: no sequence left after keeping classes {keep} and subjects {subjects}")
    poses = poses.subset(rows)
    normalise = config.normalisation()
    normalise.check(poses.joints)
    poses.sequences = [normalise(s) for s in poses.sequences]
    return poses


def _targets(poses: PoseSet, names: list[str], source: str) -> torch.Tensor:
    unknown = sorted(set(poses.labels) - set(names))
    if unknown:
        raise ValueError(f"{source}: labels {unknown[:5]} are not among the run's classes {names}")
    return torch.tensor([names.index(label) for label in poses.labels])


def _batches(poses: PoseSet, names: list[str], batch_size: int, source: str, shuffle: bool = True) -> PaddedBatches:
    inputs = [s.flatten(1) for s in poses.sequences]  # (T, J*D)
    return PaddedBatches(inputs, _targets(poses, names, source), batch_size, shuffle=shuffle)


def split(poses: PoseSet, config: PoseDataConfig) -> dict[str, list[str]]:
    """Sequence names of train, val and test: test by subject, val a stratified fraction of the rest."""
    if config.test_subjects and any(s is None for s in poses.subjects):
        raise ValueError("test_subjects needs subjects: MSR Action3D names or a 'subject' column in the manifest")
    test = [i for i, s in enumerate(poses.subjects) if s in config.test_subjects]
    rest = [i for i in range(len(poses.labels)) if i not in set(test)]
    train, val = rest, []
    if config.val_fraction > 0:
        kept, held = stratified_split([poses.labels[i] for i in rest], config.val_fraction, config.split_seed)
        train, val = [rest[i] for i in kept], [rest[i] for i in held]
    if not train:
        raise ValueError("no training sequence is left after holding out the test subjects and validation")
    return {part: [poses.names[i] for i in rows] for part, rows in (("train", train), ("val", val), ("test", test))}


def _part(poses: PoseSet, names: list[str]) -> PoseSet:
    index = {name: i for i, name in enumerate(poses.names)}
    return poses.subset(index[n] for n in names)


def classification_loss(model, batch, state):
    return F.cross_entropy(model(batch.inputs, batch.lengths), batch.targets), None


def evaluate_batches(model, data: PaddedBatches, names: list[str], device) -> dict:
    probs, targets = predict_batches(model, data, device)
    metrics = classification_metrics(targets, probs.argmax(1), names)
    loss = float(F.nll_loss(probs.clamp(min=1e-12).log(), targets))
    return {"loss": loss, "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}


def train(path: str, data_config: PoseDataConfig, model_overrides: dict, train_overrides: dict, out: Path) -> dict:
    """Train a pose classifier into `out`; score the test subjects (if any) at the end."""
    training = TrainConfig(**{**TRAIN_DEFAULTS, "monitor": "val_accuracy", "monitor_mode": "max", **train_overrides})
    poses = load_poses(path, data_config)
    parts = split(poses, data_config)
    names = sorted(set(_part(poses, parts["train"]).labels))
    if len(names) < 2:
        raise ValueError(f"{path}: the training sequences have a single label {names}; a classifier needs two or more")
    overrides = dict(model_overrides)
    if overrides.get("architecture") == "parts" and overrides.get("parts") is None and poses.joints == MSR_JOINTS:
        overrides["parts"] = MSR_BODY_PARTS
    config = PoseModelConfig(num_classes=len(names), joints=poses.joints, dims=poses.dims, **overrides)
    train_data = _batches(_part(poses, parts["train"]), names, data_config.batch_size, path)
    val_data = _batches(_part(poses, parts["val"]), names, 256, path, shuffle=False) if parts["val"] else None
    artifacts = {"pose": {"data": asdict(data_config), "path": str(path)}, "labels": {"names": names}, "split": parts}
    seed_everything(training.seed)  # the initial weights follow --seed
    model = build_pose_model(config)
    device = resolve_device(training.device)
    evaluate_fn = None if val_data is None else (lambda m: evaluate_batches(m, val_data, names, device))
    history = fit(model, train_data, training, loss_fn=classification_loss, run_dir=out, task=TASK,
                  evaluate_fn=evaluate_fn, artifacts=artifacts)
    summary = {"steps": history.steps, "stop_reason": history.stop_reason, "best_val_accuracy": history.best,
               "sequences": {part: len(rows) for part, rows in parts.items()}}
    if parts["test"] and history.stop_reason != "interrupted":
        summary["test"] = evaluate_run(out, path, split_name="test", device_name=training.device)
    return summary


def resume(out: Path, overrides: dict) -> dict:
    """Continue the run in `out` on the sequences it was trained on."""
    run = read_run(out, TASK)
    saved = read_json(Path(out) / "pose.json")
    config = PoseDataConfig(**saved["data"])
    training = TrainConfig.from_dict({**run["training"], **overrides})
    names = read_json(Path(out) / "labels.json")["names"]
    parts = read_json(Path(out) / "split.json")
    poses = load_poses(saved["path"], config)
    train_data = _batches(_part(poses, parts["train"]), names, config.batch_size, saved["path"])
    val_data = _batches(_part(poses, parts["val"]), names, 256, saved["path"], shuffle=False) if parts["val"] else None
    model = build_pose_model(PoseModelConfig(**run["model"]["config"]))
    device = resolve_device(training.device)
    evaluate_fn = None if val_data is None else (lambda m: evaluate_batches(m, val_data, names, device))
    history = fit(model, train_data, training, loss_fn=classification_loss, run_dir=out, task=TASK,
                  evaluate_fn=evaluate_fn, resume=True)
    return {"steps": history.steps, "stop_reason": history.stop_reason, "best_val_accuracy": history.best}


def load_run(run_dir: Path, device="cpu"):
    """(model in eval mode, class names, data config, split) of a trained run (best, else last weights)."""
    run = read_run(run_dir, TASK)
    model = build_pose_model(PoseModelConfig(**run["model"]["config"]))
    load_trained_weights(run_dir, model)
    config = PoseDataConfig(**read_json(Path(run_dir) / "pose.json")["data"])
    return (model.to(device).eval(), read_json(Path(run_dir) / "labels.json")["names"], config,
            read_json(Path(run_dir) / "split.json"))


def evaluate_run(run_dir: Path, path: str, *, split_name: str | None = None, subjects: tuple[int, ...] | None = None,
                 device_name: str = "auto") -> dict:
    """Accuracy, macro-F1, per-class figures and the confusion matrix (also as a plot) on the labelled
    sequences at `path`, restricted to the run's classes, to `subjects` if given, and to the run's own
    `split_name` ("train", "val" or "test") if given."""
    device = resolve_device(device_name)
    model, names, config, parts = load_run(run_dir, device)
    poses = load_poses(path, config, classes=tuple(names), subjects=subjects)
    if split_name is not None:
        wanted = set(parts[split_name])
        poses = poses.subset(i for i, n in enumerate(poses.names) if n in wanted)
        if not poses.names:
            raise ValueError(f"{path}: none of the run's {split_name} sequences is there")
    probs, targets = predict_batches(model, _batches(poses, names, 256, path, shuffle=False), device)
    metrics = classification_metrics(targets, probs.argmax(1), names)
    metrics["examples"] = len(targets)
    stem = Path(path).stem + (f"-{split_name}" if split_name else "")
    plot = plot_confusion(metrics["confusion"], names, Path(run_dir) / "plots" / f"confusion-{stem}.png", title=stem)
    metrics["confusion_plot"] = str(plot)
    return metrics


def predict(run_dir: Path, path: str, device_name: str = "auto") -> list[dict]:
    """{"name", "label", "probabilities"} for every sequence at `path` (labels in the data, if any, unused)."""
    device = resolve_device(device_name)
    model, names, config, _ = load_run(run_dir, device)
    poses = load_poses(path, config, classes=None)
    data = PaddedBatches([s.flatten(1) for s in poses.sequences], torch.zeros(len(poses.sequences), dtype=torch.long),
                         256, shuffle=False)
    probs, _ = predict_batches(model, data, device)
    return [{"name": name, "label": names[int(row.argmax())], "probabilities": dict(zip(names, row.tolist()))}
            for name, row in zip(poses.names, probs)]
