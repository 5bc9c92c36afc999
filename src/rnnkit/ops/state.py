"""Recurrent states as small trees: a tensor, or a named tuple of tensors such as LSTM's (h, c).

The time loop and the layers treat both alike through these two helpers, so a new cell may carry
any named tuple of tensors as its state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor

State = Any  # a Tensor or a (named) tuple of Tensors


def map_state(fn: Callable[..., Tensor], *states: State) -> State:
    """Apply `fn` leaf by leaf across states of the same structure."""
    first = states[0]
    if isinstance(first, Tensor):
        return fn(*states)
    leaves = [fn(*parts) for parts in zip(*states)]
    return first._make(leaves) if hasattr(first, "_make") else tuple(leaves)


def state_leaves(state: State) -> tuple[Tensor, ...]:
    """The tensors of a state, in order."""
    return (state,) if isinstance(state, Tensor) else tuple(state)
