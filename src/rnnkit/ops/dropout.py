"""Dropout that recurrent networks need and torch.nn lacks: masks locked over time (Gal & Ghahramani
2016), zoneout (Krueger et al. 2017) and DropConnect on a weight matrix (Merity et al. 2018).

Every mask is inverted-scaled (kept values divided by 1 - p), so evaluation needs no rescaling.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def sequence_mask(batch: int, features: int, p: float, like: Tensor) -> Tensor:
    """(B, F) keep mask, 0 or 1/(1 - p), one row per sequence, to be reused at every time step."""
    keep = torch.full((batch, features), 1.0 - p, dtype=like.dtype, device=like.device)
    return torch.bernoulli(keep) / (1.0 - p)


def locked_dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Dropout of a (B, T, F) batch with one mask per sequence, the same at every step (identity when
    not training or p == 0)."""
    if not training or p == 0:
        return x
    return x * sequence_mask(x.shape[0], x.shape[2], p, x).unsqueeze(1)


def zoneout(new: Tensor, old: Tensor, p: float, training: bool) -> Tensor:
    """Each unit keeps its previous value `old` with probability p (a fresh draw at every call); in
    evaluation the expectation p * old + (1 - p) * new."""
    if p == 0:
        return new
    if training:
        return torch.where(torch.rand_like(new) < p, old, new)
    return torch.lerp(new, old, p)


def drop_weight(weight: Tensor, p: float, training: bool) -> Tensor:
    """DropConnect: a copy of `weight` with each entry zeroed with probability p (kept ones scaled by
    1/(1 - p)); gradients flow to the undropped weight. The weight itself is never changed."""
    if not training or p == 0:
        return weight
    return F.dropout(weight, p, training=True)
