"""Checkpoints that survive a crash and never run code when loaded.

A checkpoint is a directory: model.safetensors (weights), optimizer.safetensors (optimizer tensors),
trainer.safetensors (RNG states, the carried truncated-BPTT state) and state.json (everything else:
step, epoch, optimizer and scheduler settings, counters). It is written into a temporary sibling
directory and swapped into place with renames, so a kill at any moment leaves the previous checkpoint
readable: if the kill falls between the two renames, the previous one is still found under
`.NAME.old`, and `find_checkpoint` picks it up.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, or does not fit the model it is loaded into."""


@dataclass
class Checkpoint:
    model: dict[str, torch.Tensor]
    optimizer: dict | None
    trainer: dict
    trainer_tensors: dict[str, torch.Tensor]
    path: Path


# -- files --------------------------------------------------------------------------------------------
def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"{path} is missing")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{path} is not a readable safetensors file ({err}); it may be truncated or corrupted") from err


def read_json(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(f"{path} is missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path} is not valid JSON ({err}); it may be truncated or corrupted") from err


def write_json(path: Path, value: dict) -> None:
    """Write JSON atomically: a temporary file, flushed to disk, then renamed over the target."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _cpu(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Independent CPU copies: safetensors refuses tensors that share memory, and weights do share it
    when tied, or when cuDNN keeps a layer's weights in one flat buffer."""
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in tensors.items()}


def _without_aliases(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Each tied weight once: names that are views of the very same tensor keep only the first."""
    seen, unique = set(), {}
    for name, tensor in state.items():
        key = _alias_key(name, tensor)
        if key not in seen:
            unique[name] = tensor
            seen.add(key)
    return unique


def _alias_key(name: str, tensor: torch.Tensor) -> tuple:
    """Equal for names that are views of the very same tensor (tied weights); empty tensors never alias."""
    if tensor.numel() == 0:
        return (name,)
    return (tensor.device, tensor.data_ptr(), tuple(tensor.shape), tensor.stride(), tensor.dtype)


# -- optimizer state: tensors to safetensors, the rest to JSON ------------------------------------------
def split_optimizer_state(state_dict: dict) -> tuple[dict[str, torch.Tensor], dict]:
    tensors, plain = {}, {}
    for index, entries in state_dict["state"].items():
        plain[str(index)] = {}
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{key}"] = value
            else:
                plain[str(index)][key] = value
    return tensors, {"state": plain, "param_groups": state_dict["param_groups"]}


def join_optimizer_state(tensors: dict[str, torch.Tensor], plain: dict) -> dict:
    state = {int(index): dict(entries) for index, entries in plain["state"].items()}
    for name, value in tensors.items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": plain["param_groups"]}


# -- save and find --------------------------------------------------------------------------------------
def save_checkpoint(
    directory: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    trainer: dict,
    trainer_tensors: dict[str, torch.Tensor],
) -> None:
    """Write a complete checkpoint at `directory`, replacing any previous one atomically."""
    directory = Path(directory)
    tmp = directory.with_name(f".{directory.name}.tmp")
    old = directory.with_name(f".{directory.name}.old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(_cpu(_without_aliases(model.state_dict())), str(tmp / "model.safetensors"))
    state = {"format": FORMAT_VERSION, "trainer": trainer}
    if optimizer is not None:
        tensors, plain = split_optimizer_state(optimizer.state_dict())
        save_file(_cpu(tensors), str(tmp / "optimizer.safetensors"))
        state["optimizer"] = plain
    save_file(_cpu(trainer_tensors), str(tmp / "trainer.safetensors"))
    write_json(tmp / "state.json", state)  # written last: its presence marks a complete checkpoint
    _fsync_dir(tmp)
    shutil.rmtree(old, ignore_errors=True)
    if directory.exists():
        os.replace(directory, old)
    os.replace(tmp, directory)
    shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(directory.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def find_checkpoint(directory: Path) -> Path | None:
    """The complete checkpoint at `directory`, or the previous one if a save was cut off mid-swap."""
    directory = Path(directory)
    for candidate in (directory, directory.with_name(f".{directory.name}.old")):
        if (candidate / "state.json").is_file():
            return candidate
    return None


# -- load -----------------------------------------------------------------------------------------------
def read_checkpoint(directory: Path) -> Checkpoint:
    found = find_checkpoint(directory)
    if found is None:
        raise CheckpointError(f"no checkpoint at {directory} (expected {Path(directory) / 'state.json'})")
    state = read_json(found / "state.json")
    if state.get("format") != FORMAT_VERSION or "trainer" not in state:
        raise CheckpointError(f"{found / 'state.json'} is not an rnnkit checkpoint of format {FORMAT_VERSION}")
    optimizer = None
    if "optimizer" in state:
        optimizer = join_optimizer_state(read_tensors(found / "optimizer.safetensors"), state["optimizer"])
    return Checkpoint(
        model=read_tensors(found / "model.safetensors"),
        optimizer=optimizer,
        trainer=state["trainer"],
        trainer_tensors=read_tensors(found / "trainer.safetensors"),
        path=found,
    )


def load_weights(model: nn.Module, weights: dict[str, torch.Tensor], source: Path | str) -> None:
    """Load `weights` into `model`, or raise CheckpointError listing every mismatch."""
    expected = model.state_dict()
    covered = _covered_by_aliases(expected, set(weights))
    problems = [f"missing: {k}" for k in expected if k not in weights and k not in covered]
    problems += [f"unexpected: {k}" for k in weights if k not in expected]
    problems += [
        f"shape of {k}: checkpoint {tuple(v.shape)}, model {tuple(expected[k].shape)}"
        for k, v in weights.items()
        if k in expected and v.shape != expected[k].shape
    ]
    if problems:
        listing = "\n  ".join(problems[:20]) + (f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else "")
        raise CheckpointError(f"the checkpoint at {source} does not fit this model:\n  {listing}")
    with torch.no_grad():
        for name, value in weights.items():
            expected[name].copy_(value)


def _covered_by_aliases(state: dict[str, torch.Tensor], present: set[str]) -> set[str]:
    """Names that share storage with a name present in the file (tied weights are saved once)."""
    by_storage: dict[tuple, list[str]] = {}
    for name, tensor in state.items():
        by_storage.setdefault(_alias_key(name, tensor), []).append(name)
    return {n for names in by_storage.values() if present & set(names) for n in names}
