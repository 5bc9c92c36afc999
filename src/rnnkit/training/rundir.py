"""run.json: what a run directory holds (task, versions, model and training configuration), and the
checks made before a run is resumed or its model loaded."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import torch
from torch import nn

from rnnkit.models.choice import parameter_count
from rnnkit.training.checkpoint import CheckpointError, find_checkpoint, load_weights, read_checkpoint, read_json, write_json
from rnnkit.training.config import TrainConfig

RUN_FORMAT = 1


def package_version() -> str:
    """The installed rnnkit version ("unknown" for a source tree that was never installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rnnkit")
    except PackageNotFoundError:
        return "unknown"


def model_description(model: nn.Module) -> dict:
    """The model's class, its config dataclass as a dict (when it has one) and its parameter count
    (each tied tensor once)."""
    config = getattr(model, "config", None)
    return {
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
        "config": dataclasses.asdict(config) if dataclasses.is_dataclass(config) else None,
        "parameters": parameter_count(model),
    }


def write_summary(run_dir: Path, summary: dict) -> None:
    """summary.json: what training ended with (steps, why it stopped, validation and test figures),
    the figures `rnnkit compare` and `rnnkit report` read back."""
    write_json(Path(run_dir) / "summary.json", summary)


def describe_run(model: nn.Module, config: TrainConfig, task: str | None = None) -> dict:
    return {
        "format": RUN_FORMAT,
        "task": task,
        "rnnkit_version": package_version(),
        "torch_version": torch.__version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": model_description(model),
        "training": config.to_dict(),
    }


def read_run(run_dir: Path, task: str | None = None) -> dict:
    """run.json of `run_dir`, checked to be an rnnkit run (of `task`, when given)."""
    run_dir = Path(run_dir)
    if not (run_dir / "run.json").is_file():
        raise CheckpointError(f"{run_dir} is not an rnnkit run directory (it has no run.json)")
    run = read_json(run_dir / "run.json")
    if run.get("format") != RUN_FORMAT:
        raise CheckpointError(f"{run_dir / 'run.json'} has format {run.get('format')!r}; this rnnkit reads format {RUN_FORMAT}")
    if task is not None and run.get("task") != task:
        raise CheckpointError(f"{run_dir} holds a {run.get('task')!r} run, not a {task!r} run")
    return run


def check_resumable(run_dir: Path, model: nn.Module, config: TrainConfig) -> None:
    """Raise CheckpointError listing every way `model` differs from the one the run was trained with."""
    run = read_run(run_dir)
    saved, current = run["model"], model_description(model)
    problems = []
    if saved["class"] != current["class"]:
        problems.append(f"model class: run has {saved['class']}, given {current['class']}")
    elif saved["config"] is not None and current["config"] is not None:
        for key in sorted(set(saved["config"]) | set(current["config"])):
            a, b = saved["config"].get(key), current["config"].get(key)
            if _jsonish(a) != _jsonish(b):
                problems.append(f"model config {key}: run has {a!r}, given {b!r}")
    if problems:
        raise CheckpointError(f"cannot resume {run_dir}: the model differs from the run's:\n  " + "\n  ".join(problems))


def _jsonish(value):
    return list(value) if isinstance(value, tuple) else value


def load_trained_weights(run_dir: Path, model: nn.Module) -> Path:
    """Load the weights of the run's best checkpoint (else its last) into `model`; return its path."""
    source = find_checkpoint(Path(run_dir) / "best") or find_checkpoint(Path(run_dir) / "last")
    if source is None:
        raise CheckpointError(f"{run_dir} has no checkpoint yet (no best/ or last/)")
    saved = read_checkpoint(source)
    load_weights(model, saved.model, saved.path)
    return saved.path
