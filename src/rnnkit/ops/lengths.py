"""Variable-length batches: checking a `lengths` argument and turning it into masks.

Every rnnkit function that takes padded batches takes one `lengths` argument, a (B,) integer tensor on
any device, unsorted. These helpers are the one place that checks it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def check_lengths(lengths: Tensor | Sequence[int], batch_size: int, max_len: int, *, name: str = "lengths") -> Tensor:
    """Return `lengths` as a (B,) int64 tensor after checking it against a (B, T, ...) batch.

    Accepts a tensor or a sequence of ints. Raises ValueError naming `name` when the shape, the dtype
    or a value (outside 0..T) is wrong.
    """
    if not isinstance(lengths, Tensor):
        try:
            lengths = torch.as_tensor(lengths)
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(f"{name} must be a (B,) integer tensor; got {type(lengths).__name__}") from err
    if lengths.dtype.is_floating_point or lengths.dtype.is_complex or lengths.dtype == torch.bool:
        raise ValueError(f"{name} must hold integers; got dtype {lengths.dtype}. Use lengths.long().")
    if lengths.dim() != 1 or lengths.shape[0] != batch_size:
        raise ValueError(
            f"{name} must have shape ({batch_size},), one length per batch row; got shape {tuple(lengths.shape)}"
        )
    if batch_size > 0 and not tracing():  # values are data: a graph being traced for export cannot branch on them
        low, high = int(lengths.min()), int(lengths.max())
        if low < 0 or high > max_len:
            bad = low if low < 0 else high
            raise ValueError(
                f"{name} must lie in 0..{max_len} (the time dimension of the input); got a length of {bad}"
            )
    return lengths.long()


def tracing() -> bool:
    """True while torch.export traces the code (rnnkit export): checks that read tensor values on the
    host are skipped then, and the exported model's runner checks its inputs instead. torch.compile
    keeps the checks (they only break its graph)."""
    compiler = getattr(torch, "compiler", None)
    return bool(compiler is not None and getattr(compiler, "is_exporting", lambda: False)())


def length_mask(lengths: Tensor, max_len: int, device: torch.device | None = None) -> Tensor:
    """(B,) lengths -> (B, T) bool mask, True at valid positions t < lengths[b]."""
    device = lengths.device if device is None else device
    steps = torch.arange(max_len, device=device)
    return steps.unsqueeze(0) < lengths.to(device).unsqueeze(1)


def _valid(values: Tensor, lengths: Tensor | None) -> Tensor:
    """(B, T, 1) bool: the valid steps of a (B, T, F) batch (all of them without lengths)."""
    if lengths is None:
        return torch.ones(*values.shape[:2], 1, dtype=torch.bool, device=values.device)
    return length_mask(lengths, values.shape[1], values.device).unsqueeze(2)


def masked_mean(values: Tensor, lengths: Tensor | None) -> Tensor:
    """(B, T, F) -> (B, F): the mean over each row's valid steps (0 for a row of length 0)."""
    mask = _valid(values, lengths)
    return (values * mask).sum(1) / mask.sum(1).clamp(min=1)


def masked_max(values: Tensor, lengths: Tensor | None) -> Tensor:
    """(B, T, F) -> (B, F): the maximum over each row's valid steps (-inf for a row of length 0)."""
    return values.masked_fill(~_valid(values, lengths), float("-inf")).max(dim=1).values


def reverse_padded(values: Tensor, lengths: Tensor | None) -> Tensor:
    """(B, T, ...) with each row's first lengths[b] steps in reverse order and its padding left in
    place (the whole time axis flipped without lengths). Applying it twice gives `values` back."""
    if lengths is None:
        return values.flip(1)
    return reorder_steps(values, reversal_order(lengths, values.shape[0], values.shape[1], values.device))


def reversal_order(lengths: Tensor | None, batch: int, steps: int, device=None) -> Tensor:
    """(B, T) time index that reverses each row within its length and leaves its padding in place
    (every row whole without lengths): the order reverse_padded puts steps in."""
    t = torch.arange(steps, device=device).unsqueeze(0)
    if lengths is None:
        return (steps - 1 - t).expand(batch, -1)
    ends = lengths.to(device).unsqueeze(1)
    return torch.where(t < ends, ends - 1 - t, t)


def reorder_steps(values: Tensor, order: Tensor) -> Tensor:
    """(B, T, ...) with each row's steps taken in `order` (B, T)."""
    index = order.view(*order.shape, *([1] * (values.dim() - 2))).expand(-1, -1, *values.shape[2:])
    return values.gather(1, index)
