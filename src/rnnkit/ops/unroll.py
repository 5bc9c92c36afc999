"""The time loop: run one recurrence step over every time step of a batch, honouring lengths.

This is the "loop" kernel every rnnkit layer shares; a cell only has to supply its step.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from rnnkit.ops.state import State, map_state

Step = Callable[[Tensor, State], tuple[Tensor, State]]


def unroll(
    step: Step,
    inputs: Tensor,
    state: State,
    lengths: Tensor | None = None,
    *,
    reverse: bool = False,
) -> tuple[Tensor, State]:
    """Run `step(x_t, state) -> (h_t, state)` over `inputs` (B, T, ...); return (outputs (B, T, ...), state).

    With `lengths` (B,), row b only advances for t < lengths[b]: its outputs past that are exactly 0
    and its returned state is the one after its last valid step. With `reverse=True` time runs from
    T-1 down to 0, and each row starts at its own last valid step (what packed sequences give).
    """
    steps = inputs.shape[1]
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    valid = None
    if lengths is not None:
        valid = torch.arange(steps, device=inputs.device).unsqueeze(1) < lengths.to(inputs.device)  # (T, B)
    outputs: list[Tensor] = [None] * steps  # type: ignore[list-item]
    for t in order:
        h_t, new_state = step(inputs[:, t], state)
        if valid is None:
            state = new_state
        else:
            keep = valid[t]
            state = map_state(lambda new, old, keep=keep: torch.where(_rows(keep, new), new, old), new_state, state)
            h_t = torch.where(_rows(keep, h_t), h_t, torch.zeros((), dtype=h_t.dtype, device=h_t.device))
        outputs[t] = h_t
    return torch.stack(outputs, dim=1), state


def _rows(keep: Tensor, like: Tensor) -> Tensor:
    """(B,) row mask shaped to broadcast over a (B, ...) tensor of any rank (features, or C, H, W)."""
    return keep.view(keep.shape[0], *([1] * (like.dim() - 1)))
