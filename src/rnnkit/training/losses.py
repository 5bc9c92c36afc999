"""Losses the applications share: cross-entropy and mean squared error with padding ignored, and the
adapter that turns one into a training-loop loss function.

A loss function for `fit` has the form loss_fn(model, batch, state) -> (loss, state): it runs the
model on the batch (with the carried recurrent state, for truncated BPTT) and returns the mean loss
over the batch's targets and the model's new state.

CTC (Graves et al. 2006) for speech: `ctc_loss` takes the model's batch-first logits and does what
torch's CTCLoss leaves to the caller: log-softmax in float32, the one transpose to time-major, and
an explicit reduction (the sum over utterances divided by their number, so the scale does not
depend on the label unit).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.ops.lengths import length_mask

IGNORE_INDEX = -100


def masked_cross_entropy(logits: Tensor, targets: Tensor, lengths: Tensor | None = None) -> Tensor:
    """Mean cross-entropy over valid positions.

    logits (B, T, V) with integer targets (B, T): positions t >= lengths[b] and targets equal to -100
    are ignored. logits (B, C) with targets (B,): plain classification. A batch with no valid position
    (the empty tail of a stream, on one process of several) gives 0, with a graph so that every
    process still takes part in the gradient exchange.
    """
    if logits.dim() == 2:
        return F.cross_entropy(logits, targets)
    if logits.shape[:2] != targets.shape[:2]:
        raise ValueError(f"logits (B, T, V) {tuple(logits.shape)} and targets (B, T) {tuple(targets.shape)} disagree")
    if lengths is not None:
        targets = targets.masked_fill(~length_mask(lengths, targets.shape[1], targets.device), IGNORE_INDEX)
    total = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX, reduction="sum")
    return total / (targets != IGNORE_INDEX).sum().clamp(min=1)  # no host sync, 0 for no targets


def masked_mse(predictions: Tensor, targets: Tensor, lengths: Tensor | None = None) -> Tensor:
    """Mean squared error; with lengths, over the valid steps of (B, T, ...) tensors only (0 when
    there are none, as for masked_cross_entropy)."""
    if predictions.shape != targets.shape:
        raise ValueError(f"predictions {tuple(predictions.shape)} and targets {tuple(targets.shape)} must have one shape")
    if lengths is None:
        return F.mse_loss(predictions, targets)
    mask = length_mask(lengths, targets.shape[1], targets.device)
    mask = mask.view(*mask.shape, *([1] * (targets.dim() - 2))).expand_as(targets)
    squared = (predictions - targets).square().masked_fill(~mask, 0.0)
    return squared.sum() / mask.sum().clamp(min=1)


def ctc_loss(logits: Tensor, lengths: Tensor, targets: Tensor, target_lengths: Tensor, blank: int = 0) -> Tensor:
    """Mean over utterances of -log p(target | audio).

    logits (B, T, V) batch-first (raw scores: log-softmax is applied here, in float32), lengths (B,)
    valid output frames, targets (B, S) padded, target_lengths (B,). An utterance too short for its
    target (T < S + repeats) would give an infinite loss and NaN gradients; it contributes 0 instead
    (zero_infinity), so callers check feasibility before training (models.ctc.min_frames) and
    report what they leave out.
    """
    if logits.dim() != 3:
        raise ValueError(f"logits must be (batch, frames, units); got {tuple(logits.shape)}")
    if targets.dim() != 2 or targets.shape[0] != logits.shape[0]:
        raise ValueError(f"targets must be (batch, max target length) with batch {logits.shape[0]}; got {tuple(targets.shape)}")
    log_probs = logits.float().log_softmax(-1).transpose(0, 1)  # (T, B, V): the layout ctc_loss wants
    losses = F.ctc_loss(log_probs, targets, lengths, target_lengths, blank=blank, reduction="none", zero_infinity=True)
    return losses.sum() / max(logits.shape[0], 1)


def model_loss(criterion: Callable[[Tensor, Tensor, Tensor | None], Tensor]) -> Callable:
    """A loss function for `fit` from a criterion(outputs, targets, lengths), for models called as
    model(inputs, state, lengths=lengths) -> (outputs, state)."""

    def loss_fn(model, batch, state):
        outputs, state = model(batch.inputs, state, lengths=batch.lengths)
        return criterion(outputs, batch.targets, batch.lengths), state

    return loss_fn


def is_finite(value: Tensor) -> bool:
    return bool(torch.isfinite(value).all())
