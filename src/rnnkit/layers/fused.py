"""The fused kernel: torch's own multi-layer RNN/LSTM/GRU implementations (oneDNN or native code on
CPU, cuDNN on GPU), called directly with rnnkit's weights, lengths handled by packing."""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor
from torch.autograd import forward_ad
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.ops.state import map_state

FUSED_OPS = {"RNN_TANH": torch.rnn_tanh, "RNN_RELU": torch.rnn_relu, "LSTM": torch.lstm, "GRU": torch.gru}


# torch.func (vmap, grad, jvp) wraps tensors; the fused ops have no batching rules for them.
_is_wrapped = getattr(getattr(torch._C, "_functorch", None), "is_functorch_wrapped_tensor", lambda t: False)


def fused_blocker(tensors: list[Tensor]) -> str | None:
    """Why torch's fused kernels cannot run on these tensors, or None when they can."""
    for t in tensors:
        if _is_wrapped(t):
            return "a torch.func transform (vmap, grad, jvp) is active and torch's fused RNN ops do not support it"
        if forward_ad.unpack_dual(t).tangent is not None:
            return "the tensors carry forward-mode AD tangents, which torch's fused RNN ops do not all support"
    return None


def fused_backend(x: Tensor, training: bool) -> tuple[str, bool]:
    """Which implementation torch will pick, and whether cuDNN must be turned off for this call.

    cuDNN cannot backpropagate in eval mode, so eval-mode calls that track gradients on CUDA run
    torch's native CUDA kernel instead (still fused, a little slower).
    """
    if not x.is_cuda:
        return "torch's fused CPU kernel", False
    if not (torch.backends.cudnn.enabled and torch.backends.cudnn.is_acceptable(x)):
        return "torch's native CUDA kernel (cuDNN unavailable for this input)", False
    if not training and torch.is_grad_enabled():
        return "torch's native CUDA kernel (cuDNN cannot backpropagate in eval mode)", True
    return "cuDNN", False


def run_fused(
    mode: str,
    x: Tensor,
    state,
    weights: list[Tensor],
    *,
    lengths: Tensor | None,
    config: tuple,
    no_cudnn: bool = False,
) -> tuple[Tensor, object]:
    """Run torch's fused `mode` op on batch-first x (B, T, I); `config` is
    (bias, num_layers, dropout, training, bidirectional). Returns (outputs (B, T, D*H), state)."""
    guard = torch.backends.cudnn.flags(enabled=False) if no_cudnn else contextlib.nullcontext()
    with guard:
        if lengths is None:
            return _call(mode, x, state, weights, config)
        return _run_packed(mode, x, state, weights, lengths, config)


def _call(mode, x, state, weights, config):
    hx = tuple(state) if mode == "LSTM" else state
    with _native_cpu_lstm() if mode == "LSTM" and x.shape[1] == 1 and not x.is_cuda else contextlib.nullcontext():
        result = FUSED_OPS[mode](x, hx, weights, *config, True)  # batch_first=True
    return result[0], _pack_state(mode, state, result[1:])


@contextlib.contextmanager
def _native_cpu_lstm():
    """One time step of a CPU LSTM on torch's native kernel instead of oneDNN, whose per-call setup
    dominates a single step: generating with a 2-layer, 264-unit LSTM at batch 1 took 1.4 ms per token
    through oneDNN and 0.33 ms natively (torch 2.13, 2 cores), with identical outputs. GRU and RNN
    calls do not go through oneDNN and are left alone."""
    get, set_ = getattr(torch._C, "_get_mkldnn_enabled", None), getattr(torch._C, "_set_mkldnn_enabled", None)
    if get is None or set_ is None:  # a torch without the switch: its default path
        yield
        return
    before = get()
    set_(False)
    try:
        yield
    finally:
        set_(before)


def _pack_state(mode, like, parts):
    return like._make(parts) if mode == "LSTM" else parts[0]


def _run_packed(mode, x, state, weights, lengths, config):
    """Outputs and final states of variable-length rows, through torch's packed sequences.

    Packing refuses zero lengths, so such rows are left out and get zero outputs and their initial state.
    """
    batch, steps = x.shape[0], x.shape[1]
    lengths_cpu = lengths.cpu()
    nonzero = (lengths_cpu > 0).nonzero().squeeze(1)
    if len(nonzero) == 0:
        width = weights[1].shape[1] * (2 if config[4] else 1)
        return x.new_zeros(batch, steps, width), state
    if len(nonzero) < batch:
        rows = nonzero.to(x.device)
        sub_state = map_state(lambda s: s.index_select(1, rows), state)
        ys, new = _run_packed(mode, x.index_select(0, rows), sub_state, weights, lengths_cpu[nonzero], config)
        out = ys.new_zeros(batch, steps, ys.shape[2]).index_copy(0, rows, ys)
        return out, map_state(lambda s, n: s.index_copy(1, rows, n), state, new)

    packed = pack_padded_sequence(x, lengths_cpu, batch_first=True, enforce_sorted=False)
    sorted_idx, unsorted_idx = packed.sorted_indices.to(x.device), packed.unsorted_indices.to(x.device)
    hx = map_state(lambda s: s.index_select(1, sorted_idx), state)
    hx = tuple(hx) if mode == "LSTM" else hx
    result = FUSED_OPS[mode](packed.data, packed.batch_sizes, hx, weights, *config)
    out = PackedSequence(result[0], packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
    ys, _ = pad_packed_sequence(out, batch_first=True, total_length=steps)
    final = map_state(lambda s: s.index_select(1, unsorted_idx), _pack_state(mode, state, result[1:]))
    return ys, final
