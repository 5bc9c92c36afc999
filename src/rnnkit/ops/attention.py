"""Masked softmax over a key axis, the common core of every attention layer."""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.ops.lengths import length_mask


def masked_softmax(scores: Tensor, lengths: Tensor | None) -> Tensor:
    """Softmax of `scores` (B, ..., T) over its last axis, with positions t >= lengths[b] given weight 0.

    Masked positions get exactly zero weight. Every row needs at least one valid position: a zero
    length is the caller's error (checked by the attention layers before they get here).
    """
    if lengths is None:
        return torch.softmax(scores, dim=-1)
    mask = length_mask(lengths, scores.shape[-1], scores.device)  # (B, T)
    mask = mask.view(mask.shape[0], *([1] * (scores.dim() - 2)), mask.shape[1])
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
