"""The trainer's own state between steps: counters, RNG states and the carried recurrent state, in
the JSON and tensor halves a checkpoint stores."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor

from rnnkit.ops.state import State


@dataclass
class Progress:
    """Where training stands: the next batch to run is batch `batch` of epoch `epoch`."""

    step: int = 0
    epoch: int = 0
    batch: int = 0
    best: float | None = None
    best_step: int | None = None
    bad_evals: int = 0
    bad_steps: int = 0
    clipped_steps: int = 0
    elapsed: float = 0.0  # seconds of training so far, across resumes

    def to_dict(self) -> dict:
        return asdict(self)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def capture_rng() -> tuple[dict, dict[str, Tensor]]:
    """Every generator's state: Python's and NumPy's as JSON, torch's as tensors."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    plain = {"python": [version, list(internal), gauss], "numpy": [name, keys.tolist(), pos, has_gauss, cached]}
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors.update({f"rng.cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    return plain, tensors


def restore_rng(plain: dict, tensors: dict[str, Tensor]) -> None:
    version, internal, gauss = plain["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = plain["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def state_to_tensors(state: State) -> tuple[object, dict[str, Tensor]]:
    """A state tree -> (its structure as JSON, its leaves as named tensors)."""
    tensors: dict[str, Tensor] = {}

    def spec(node):
        if node is None:
            return None
        if isinstance(node, Tensor):
            tensors[f"carried.{len(tensors)}"] = node
            return len(tensors) - 1
        return [spec(part) for part in node]

    return spec(state), tensors


def state_from_tensors(spec, tensors: dict[str, Tensor], device) -> State:
    """Inverse of state_to_tensors; tuples come back as plain tuples (layers accept those)."""
    if spec is None:
        return None
    if isinstance(spec, int):
        return tensors[f"carried.{spec}"].to(device)
    return tuple(state_from_tensors(part, tensors, device) for part in spec)
