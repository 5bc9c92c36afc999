"""What every kind of video input shares once it is a list of labelled sequences (pose sequences
(T, J*D) or clips (T, C, H, W)): the split (held-out subjects or a stratified fraction), batches,
the loss, training with the shared loop, and scoring a run (accuracy, macro-F1, per class, the
confusion matrix as a plot).

A kind is a module with `DataConfig` (a frozen dataclass with `test_subjects`, `test_fraction`,
`val_fraction`, `split_seed`, `batch_size`), `load(path, config, classes=None, subjects=None)` ->
a set with `sequences`, `labels`, `names`, `subjects`, `inputs()` (model inputs) and `subset(rows)`, and
`model_config(data_set, names, overrides) -> dict` with `build_model(dict) -> nn.Module`.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from rnnkit.data.batches import PaddedBatches
from rnnkit.data.splits import stratified_split
from rnnkit.tasks.classify import classification_loss, evaluate_batches, label_indices, predict_batches
from rnnkit.training.checkpoint import read_json
from rnnkit.training.config import TrainConfig
from rnnkit.training.distributed import resolve_device
from rnnkit.training.loop import fit
from rnnkit.training.metrics import classification_metrics
from rnnkit.training.plots import plot_confusion
from rnnkit.training.rundir import load_trained_weights, read_run, write_summary
from rnnkit.training.state import seed_everything

TASK = "video"


def check_split(config) -> None:
    """Fractions in range; subjects and a test fraction are two ways to hold out test data, not both."""
    if not (0 <= config.val_fraction < 1 and 0 <= config.test_fraction < 1 and config.val_fraction + config.test_fraction < 1):
        raise ValueError(f"val_fraction and test_fraction must be in [0, 1) with a sum below 1; got "
                         f"{config.val_fraction} and {config.test_fraction}")
    if config.test_subjects and config.test_fraction:
        raise ValueError("hold out test data by test_subjects or by test_fraction, not both")


def split(items, config) -> dict[str, list[str]]:
    """Names of the train, val and test sequences: test by subject (cross-subject) or a stratified
    `test_fraction`; val a stratified `val_fraction` of the rest."""
    if any(label is None for label in items.labels):
        missing = items.names[items.labels.index(None)]
        raise ValueError(f"{missing} has no label; training needs a label for every sequence")
    rows = list(range(len(items.names)))
    if config.test_subjects:
        if any(s is None for s in items.subjects):
            raise ValueError("test_subjects needs subjects: MSR Action3D names or a 'subject' column in the manifest")
        test = [i for i in rows if items.subjects[i] in config.test_subjects]
    elif config.test_fraction:
        _, test = stratified_split(items.labels, config.test_fraction, config.split_seed)
    else:
        test = []
    held = set(test)
    rest = [i for i in rows if i not in held]
    train, val = rest, []
    if config.val_fraction > 0:
        kept, chosen = stratified_split([items.labels[i] for i in rest], config.val_fraction, config.split_seed)
        train, val = [rest[i] for i in kept], [rest[i] for i in chosen]
    if not train:
        raise ValueError("no training sequence is left after holding out test and validation data")
    return {part: [items.names[i] for i in part_rows] for part, part_rows in (("train", train), ("val", val), ("test", test))}


def random_split(names: list[str], test_fraction: float, val_fraction: float, seed: int) -> dict[str, list[str]]:
    """Names of train, val and test drawn at random (for data without labels to stratify by)."""
    order = torch.randperm(len(names), generator=torch.Generator().manual_seed(seed)).tolist()
    test, val = round(len(names) * test_fraction), round(len(names) * val_fraction)
    parts = {"test": order[:test], "val": order[test: test + val], "train": order[test + val:]}
    if not parts["train"]:
        raise ValueError("no training clip is left after holding out test and validation clips")
    return {part: sorted(names[i] for i in rows) for part, rows in parts.items()}


def part(items, names: list[str]):
    index = {name: i for i, name in enumerate(items.names)}
    return items.subset(index[n] for n in names)


def batches(items, names: list[str] | None, batch_size: int, source: str = "", shuffle: bool = True) -> PaddedBatches:
    """Padded batches; `names` None gives dummy targets (prediction, frame prediction)."""
    labels = (torch.zeros(len(items.sequences), dtype=torch.long) if names is None
              else label_indices(items.labels, names, source))
    return PaddedBatches(items.inputs(), labels, batch_size, shuffle=shuffle)


def train(kind: str, kind_module, path: str, data_config, model_overrides: dict, train_defaults: dict,
          train_overrides: dict, out: Path) -> dict:
    """Read, split, train into `out` (checkpoint of best validation accuracy, else the last weights);
    score the test sequences, if any, at the end."""
    training = TrainConfig(**{**train_defaults, "monitor": "val_accuracy", "monitor_mode": "max", **train_overrides})
    items = kind_module.load(path, data_config)
    parts = split(items, data_config)
    names = sorted(set(part(items, parts["train"]).labels))
    if len(names) < 2:
        raise ValueError(f"{path}: the training sequences have a single label {names}; a classifier needs two or more")
    model_config = kind_module.model_config(items, names, model_overrides)
    artifacts = {"video": {"kind": kind, "data": asdict(data_config), "path": str(path)}, "labels": {"names": names},
                 "split": parts}
    seed_everything(training.seed)  # the initial weights follow --seed
    model = kind_module.build_model(model_config)
    history = _fit(model, items, parts, names, data_config, training, path, out, artifacts=artifacts)
    summary = {"steps": history.steps, "stop_reason": history.stop_reason, "best_val_accuracy": history.best,
               "sequences": {name: len(rows) for name, rows in parts.items()}}
    if parts["test"] and history.stop_reason != "interrupted":
        summary["test"] = evaluate_run(kind_module, out, path, split_name="test", device_name=training.device, items=items)
    write_summary(out, summary)
    return summary


def _fit(model, items, parts, names, data_config, training: TrainConfig, path, out: Path, **fit_args):
    train_data = batches(part(items, parts["train"]), names, data_config.batch_size, path)
    val_data = batches(part(items, parts["val"]), names, 64, path, shuffle=False) if parts["val"] else None
    device = resolve_device(training.device)
    evaluate_fn = None if val_data is None else (lambda m: evaluate_batches(m, val_data, names, device))
    return fit(model, train_data, training, loss_fn=classification_loss(None), run_dir=out, task=TASK, evaluate_fn=evaluate_fn,
               **fit_args)


def read_video_run(run_dir: Path) -> tuple[dict, dict]:
    """(run.json, video.json) of a video run; video.json is {"kind", "objective", "data", "path"}."""
    return read_run(run_dir, TASK), read_json(Path(run_dir) / "video.json")


def resume(kind_module, out: Path, overrides: dict) -> dict:
    """Continue the run in `out` on the sequences it was trained on."""
    run, info = read_video_run(out)
    config = kind_module.DataConfig(**info["data"])
    training = TrainConfig.from_dict({**run["training"], **overrides})
    names = read_json(Path(out) / "labels.json")["names"]
    parts = read_json(Path(out) / "split.json")
    items = kind_module.load(info["path"], config)
    model = kind_module.build_model(run["model"]["config"])
    history = _fit(model, items, parts, names, config, training, info["path"], out, resume=True)
    return {"steps": history.steps, "stop_reason": history.stop_reason, "best_val_accuracy": history.best}


def load_run(kind_module, run_dir: Path, device="cpu"):
    """(model in eval mode, class names, data config, split) of a trained run (best, else last weights)."""
    run, info = read_video_run(run_dir)
    model = kind_module.build_model(run["model"]["config"])
    load_trained_weights(run_dir, model)
    config = kind_module.DataConfig(**info["data"])
    return (model.to(device).eval(), read_json(Path(run_dir) / "labels.json")["names"], config,
            read_json(Path(run_dir) / "split.json"))


def evaluate_run(kind_module, run_dirs: Path | list[Path], path: str, *, split_name: str | None = None,
                 subjects: tuple[int, ...] | None = None, device_name: str = "auto", items=None) -> dict:
    """Accuracy, macro-F1, per-class figures and the confusion matrix (also plotted, in the first
    run) on the labelled sequences at `path`, restricted to the run's classes, to `subjects` if given,
    and to the run's own `split_name` ("train", "val" or "test") if given. Several runs (trained on
    the same classes) are scored as one ensemble: their probabilities are averaged, each run reading
    the data with its own settings."""
    run_dirs = [Path(d) for d in run_dirs] if isinstance(run_dirs, (list, tuple)) else [Path(run_dirs)]
    device = resolve_device(device_name)
    names, total, labels = None, None, None
    for run_dir in run_dirs:
        model, run_names, config, parts = load_run(kind_module, run_dir, device)
        if names is not None and run_names != names:
            raise ValueError(f"{run_dir} predicts the classes {run_names}, but {run_dirs[0]} predicts {names}; "
                             "an ensemble needs runs trained on the same classes")
        names = run_names
        data = items if items is not None else kind_module.load(path, config, classes=tuple(names), subjects=subjects)
        if split_name is not None:
            wanted = set(parts[split_name])
            data = data.subset(i for i, n in enumerate(data.names) if n in wanted)
            if not data.names:
                raise ValueError(f"{path}: none of the run's {split_name} sequences is there")
        probs, run_labels = predict_batches(model, batches(data, names, 64, path, shuffle=False), device)
        if labels is not None and not torch.equal(run_labels, labels):
            raise ValueError(f"{run_dir} reads other sequences from {path} than {run_dirs[0]} (another split or "
                             "listing); an ensemble must score the same sequences")
        total, labels = (probs if total is None else total + probs), run_labels
    metrics = classification_metrics(labels, total.argmax(1), names)
    metrics["examples"] = len(labels)
    metrics["runs"] = len(run_dirs)
    stem = Path(path).stem + (f"-{split_name}" if split_name else "") + (f"-ensemble{len(run_dirs)}" if len(run_dirs) > 1 else "")
    plot = plot_confusion(metrics["confusion"], names, run_dirs[0] / "plots" / f"confusion-{stem}.png", title=stem)
    metrics["confusion_plot"] = str(plot)
    return metrics


def predict(kind_module, run_dir: Path, path: str, device_name: str = "auto") -> list[dict]:
    """{"name", "label", "probabilities"} for every sequence at `path` (labels there, if any, unused)."""
    device = resolve_device(device_name)
    model, names, config, _ = load_run(kind_module, run_dir, device)
    items = kind_module.load(path, config, classes=None, labelled=False)
    probs, _ = predict_batches(model, batches(items, None, 64, path, shuffle=False), device)
    return [{"name": name, "label": names[int(row.argmax())], "probabilities": dict(zip(names, row.tolist()))}
            for name, row in zip(items.names, probs)]
