"""The first-order linear recurrence h_t = a_t * h_{t-1} + b_t, element-wise, evaluated in parallel.

minGRU and minLSTM reduce to it (their gates see the input only). `linear_scan` evaluates it with a
chunked scan in O(T) work and about 2 * sqrt(T) sequential steps, each over the whole batch:

1. cut time into N chunks of C steps; scan inside every chunk at once from a zero start, keeping the
   running product of a (C steps, each over (B, N, H));
2. carry the state across chunks (N steps over (B, H));
3. add each chunk's start state times its running products (one element-wise pass).

Nothing is divided and no logarithm is taken, so the values of a and b may have any sign and the
products may underflow to 0 without harm: it is exact up to float rounding at any length. The
backward pass is the same recurrence run backwards (g_t = dL/dh_t + a_{t+1} g_{t+1}), so it costs
as little as the forward.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable


def linear_scan(a: Tensor, b: Tensor, h0: Tensor | None = None, *, chunk: int | None = None) -> Tensor:
    """h (B, T, H) with h_t = a_t * h_{t-1} + b_t over dim 1 of a, b (B, T, H), starting from h0
    (B, H) (zeros when None). `chunk` sets the chunk length (default about sqrt(T))."""
    if a.shape != b.shape or a.dim() != 3:
        raise ValueError(f"a and b must both be (B, T, H); got {tuple(a.shape)} and {tuple(b.shape)}")
    if h0 is None:
        h0 = a.new_zeros(a.shape[0], a.shape[2])
    if h0.shape != (a.shape[0], a.shape[2]):
        raise ValueError(f"h0 must be (B, H) = {(a.shape[0], a.shape[2])}; got {tuple(h0.shape)}")
    return _LinearScan.apply(a, b, h0, chunk)


class _LinearScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b, h0, chunk):
        h = scan_forward(a, b, h0, chunk)
        ctx.save_for_backward(a, h, h0)
        ctx.chunk = chunk
        return h

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_h):
        a, h, h0 = ctx.saved_tensors
        # g_t = grad_h_t + a_{t+1} g_{t+1}: the same recurrence backwards, from g_{T-1} = grad_h_{T-1}
        g = torch.empty_like(h)
        g[:, -1] = grad_h[:, -1]
        if h.shape[1] > 1:
            scan_forward(a[:, 1:], grad_h[:, :-1], grad_h[:, -1], ctx.chunk, reverse=True, out=g[:, :-1])
        grad_a = torch.empty_like(a)
        torch.mul(g[:, 1:], h[:, :-1], out=grad_a[:, 1:])
        torch.mul(g[:, 0], h0, out=grad_a[:, 0])
        return grad_a, g, g[:, 0] * a[:, 0], None


def chunk_size(steps: int) -> int:
    """About sqrt(steps), preferring a divisor of `steps` (no padding) within a factor of 2 of it."""
    root = max(1, math.isqrt(steps))
    for offset in range(root // 2 + 1):
        for size in (root + offset, root - offset):
            if 0 < size <= steps and steps % size == 0:
                return size
    return root


def scan_forward(
    a: Tensor, b: Tensor, h0: Tensor, chunk: int | None = None, *, reverse: bool = False, out: Tensor | None = None
) -> Tensor:
    """The chunked scan itself, without autograd (see the module docstring), into `out` (B, T, H) when
    given. With `reverse`, time runs backwards: h_t = a_t * h_{t+1} + b_t, h0 being the state after
    the last step. a and b may be views whose time and feature axes are contiguous together."""
    batch, steps, hidden = a.shape
    if steps == 0:
        return a.new_zeros(batch, 0, hidden)
    size = chunk or chunk_size(steps)
    chunks = -(-steps // size)
    pad = chunks * size - steps
    if pad:  # a = 1, b = 0 in the padding leaves the state as it is
        fill = (a.new_ones(batch, pad, hidden), b.new_zeros(batch, pad, hidden))
        a, b = (torch.cat([fill[0], a], 1), torch.cat([fill[1], b], 1)) if reverse else (
            torch.cat([a, fill[0]], 1), torch.cat([b, fill[1]], 1))
    # (B, N, C, H) views; a step inside the chunks is one strided slice over every chunk of every row
    a4 = a.unflatten(1, (chunks, size))
    b4 = b.unflatten(1, (chunks, size))
    order = range(size - 1, -1, -1) if reverse else range(size)
    # 1. each chunk from a zero start: only its end value and the product of its a are needed
    local, prod = None, None
    for t in order:
        if local is None:
            local, prod = b4[:, :, t].clone(), a4[:, :, t].clone()
        else:
            local = torch.addcmul(b4[:, :, t], a4[:, :, t], local)
            prod.mul_(a4[:, :, t])
    # 2. the state entering each chunk
    starts = torch.empty(batch, chunks, hidden, dtype=a.dtype, device=a.device)
    carry = h0
    for n in range(chunks - 1, -1, -1) if reverse else range(chunks):
        starts[:, n] = carry
        carry = torch.addcmul(local[:, n], prod[:, n], carry)
    # 3. every step again from the right start, written once into the output
    direct = out is not None and not pad
    h = out.unflatten(1, (chunks, size)) if direct else a.new_empty(batch, chunks, size, hidden)
    state = starts
    for t in order:
        state = torch.addcmul(b4[:, :, t], a4[:, :, t], state, out=h[:, :, t])
    if direct:
        return out
    h = h.flatten(1, 2)
    if pad:
        h = h[:, pad:] if reverse else h[:, :steps]
    if out is not None:
        return out.copy_(h)
    return h
