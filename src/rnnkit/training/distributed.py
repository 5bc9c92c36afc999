"""Multi-process training on torch.distributed (DistributedDataParallel), launched with torchrun.

Each process trains on its share of every batch; gradients are averaged by DDP; only rank 0 writes
checkpoints, metrics and plots. Backend: gloo on CPU, NCCL on CUDA.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Processes:
    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for, but torch sees no CUDA device; use --device cpu or auto")
    return torch.device(name)


def setup(device_name: str) -> Processes:
    """Join the process group torchrun describes (WORLD_SIZE > 1), or run as a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if world_size > 1 else 0
    return Processes(rank, world_size, device)


def wrap(model: nn.Module, processes: Processes) -> nn.Module:
    if processes.world_size == 1:
        return model
    device_ids = [processes.device.index] if processes.device.type == "cuda" else None
    # A process may get a batch whose rows are all empty (the tail of a stream) while the others do
    # not; the recurrent layer then adds nothing to the graph, and DDP must be told to expect that.
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=True)


def all_ranks_agree(flag: bool, processes: Processes) -> bool:
    """True only if `flag` is True on every process (so all skip a step, or stop, together)."""
    if processes.world_size == 1:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=processes.device if processes.device.type == "cuda" else "cpu")
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item() > 0)


def largest(value: float, processes: Processes) -> float:
    """The largest of `value` over all processes (so all act on one figure, e.g. the time budget spent)."""
    if processes.world_size == 1:
        return value
    tensor = torch.tensor([float(value)], device=processes.device if processes.device.type == "cuda" else "cpu")
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return float(tensor.item())
