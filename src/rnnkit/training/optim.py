"""Optimizers and learning-rate schedules, built from a TrainConfig by two explicit mappings."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.optim.lr_scheduler import LambdaLR, ReduceLROnPlateau

from rnnkit.training.config import TrainConfig


def build_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov, weight_decay=config.weight_decay
        )
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)
    return torch.optim.AdamW(params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)


def lr_factor(config: TrainConfig, total_steps: int, budget_spent: Callable[[], float] | None = None):
    """The multiplier of the base learning rate after `step` updates, for the per-step schedules.

    With `budget_spent` (the fraction of a time budget used so far), a cosine schedule follows whichever
    runs out first, the steps or the time, so a run stopped by its budget still ends at `min_lr`.
    Warm-up and the step schedule count steps only."""
    warmup = config.warmup_steps
    floor = config.min_lr / config.lr

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if config.schedule == "step":
            return config.gamma ** ((step - warmup) // config.step_size)
        if config.schedule == "cosine":
            progress = (step - warmup) / max(1, total_steps - warmup)
            if budget_spent is not None:
                progress = max(progress, budget_spent())
            progress = min(1.0, progress)
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
        return 1.0

    return factor


def build_scheduler(optimizer, config: TrainConfig, total_steps: int, budget_spent: Callable[[], float] | None = None):
    """A scheduler stepped after every update (LambdaLR) or, for "plateau", after every evaluation;
    None for a constant rate without warm-up."""
    if config.schedule == "constant" and config.warmup_steps == 0:
        return None
    if config.schedule == "plateau":
        return ReduceLROnPlateau(
            optimizer, mode=config.monitor_mode, factor=config.gamma, patience=config.plateau_patience, min_lr=config.min_lr
        )
    return LambdaLR(optimizer, lr_factor(config, total_steps, budget_spent))
