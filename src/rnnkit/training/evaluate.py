"""Evaluation with a training-loop loss function: the mean loss over every target of a data set,
carrying the recurrent state across chunks for streams as training does."""

from __future__ import annotations

import torch
from torch import nn

from rnnkit.ops.state import reset_rows


def carry_into(batch, carried):
    """The state to start `batch` with: None for whole sequences, the carried one (rows that start a
    new stream zeroed) for truncated-BPTT streams."""
    if batch.reset is None or carried is None or bool(batch.reset.all()):
        return None
    if not bool(batch.reset.any()):  # reset lives on the CPU: no device sync
        return carried
    return reset_rows(carried, batch.reset)


@torch.no_grad()
def evaluate(model: nn.Module, data, loss_fn, device, *, seed: int = 0) -> dict[str, float]:
    """{"loss": mean over targets, "targets": how many}; the model's training mode is restored."""
    was_training = model.training
    model.eval()
    total, count, carried = 0.0, 0, None
    try:
        for batch in data.batches(epoch=0, seed=seed):
            n = batch.num_targets  # on the host, before the batch moves
            batch = batch.to(device)
            loss, state = loss_fn(model, batch, carry_into(batch, carried))
            carried = state if batch.reset is not None else None
            total += float(loss) * n
            count += n
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("the evaluation data has no targets")
    return {"loss": total / count, "targets": count}
