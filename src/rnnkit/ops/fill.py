"""Irregular observations: carrying the last observed value forward and the time since it.

Both follow GRU-D (Che et al., Scientific Reports 2018) and are causal: nothing at step t depends on
a later step, so a value is never filled backwards.
"""

from __future__ import annotations

import torch
from torch import Tensor


def forward_fill(values: Tensor, mask: Tensor, initial: Tensor) -> Tensor:
    """The last observed value at or before each step: values, mask (B, T, D), initial (B, D) (what
    stands before any observation, e.g. the training mean) -> (B, T, D)."""
    batch, steps, _ = values.shape
    index = torch.arange(1, steps + 1, device=values.device).view(1, steps, 1)
    last = torch.where(mask.bool(), index, torch.zeros((), dtype=index.dtype, device=values.device))
    last = last.cummax(dim=1).values  # (B, T, D): 1 + step of the last observation, 0 for none
    padded = torch.cat([initial.unsqueeze(1), values], dim=1)  # step 0 holds the initial value
    return padded.gather(1, last)


def time_since_observed(times: Tensor, mask: Tensor) -> Tensor:
    """GRU-D's delta: for each variable, the time since its last observation strictly before t.

        delta_0 = 0;  delta_t = s_t - s_{t-1} + (1 - m_{t-1}) * delta_{t-1}

    It resets on the previous step's mask, not the current one. times (B, T), mask (B, T, D) -> (B, T, D).
    """
    gaps = torch.diff(times, dim=1, prepend=times[:, :1]).unsqueeze(2)  # (B, T, 1), 0 at t = 0
    delta = torch.zeros_like(mask, dtype=times.dtype)
    for t in range(1, times.shape[1]):
        delta[:, t] = gaps[:, t] + (1 - mask[:, t - 1].to(times.dtype)) * delta[:, t - 1]
    return delta
