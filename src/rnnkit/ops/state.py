"""Recurrent states as small trees: a tensor, or (named) tuples of tensors such as LSTM's (h, c),
nested as deep as a model needs (one state per layer, say).

The time loop, the layers and the training loop treat all alike through these helpers, so a new cell
or model may carry any tree of tensors as its state. Batch-wise helpers assume torch.nn's layout,
the batch on dimension 1 of every leaf: (num_layers * directions, B, H).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor

State = Any  # a Tensor or a (named) tuple of States


def map_state(fn: Callable[..., Tensor], *states: State) -> State:
    """Apply `fn` leaf by leaf across states of the same structure; None (no state) stays None."""
    first = states[0]
    if first is None:
        return None
    if isinstance(first, Tensor):
        return fn(*states)
    parts = [map_state(fn, *group) for group in zip(*states)]
    return first._make(parts) if hasattr(first, "_make") else type(first)(parts)


def state_leaves(state: State) -> tuple[Tensor, ...]:
    """The tensors of a state, depth first."""
    if state is None:
        return ()
    if isinstance(state, Tensor):
        return (state,)
    return tuple(leaf for part in state for leaf in state_leaves(part))


def detach_state(state: State) -> State:
    """Cut the graph at a chunk boundary (truncated BPTT) while keeping the values."""
    return map_state(Tensor.detach, state)


def reset_rows(state: State, rows: Tensor) -> State:
    """Zero the rows (batch dimension 1) where the (B,) bool mask `rows` is True: a new sequence starts."""
    mask = rows.view(1, -1, 1)
    return map_state(lambda s: s.masked_fill(mask.to(s.device), 0), state)
