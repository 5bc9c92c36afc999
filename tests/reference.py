"""Helpers to run torch.nn's recurrent layers the way rnnkit's are specified, as a reference."""

from __future__ import annotations

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit

# name -> (rnnkit class, torch class, extra kwargs)
VARIANTS = {
    "rnn_tanh": (rnnkit.RNN, torch.nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (rnnkit.RNN, torch.nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (rnnkit.LSTM, torch.nn.LSTM, {}),
    "gru": (rnnkit.GRU, torch.nn.GRU, {}),
}


def make_pair(variant, input_size, hidden_size, kernel="auto", dtype=torch.float32, **kwargs):
    """An rnnkit layer and a torch.nn layer with the same weights."""
    ours_cls, torch_cls, extra = VARIANTS[variant]
    ours = ours_cls(input_size, hidden_size, kernel=kernel, **extra, **kwargs).to(dtype)
    theirs = torch_cls(input_size, hidden_size, batch_first=True, **extra, **kwargs).to(dtype)
    theirs.load_state_dict(ours.state_dict())
    return ours, theirs


def torch_reference(layer, x, state=None, lengths=None):
    """torch.nn layer over a padded batch with lengths, through pack_padded_sequence.

    Rows of length 0 cannot be packed: they get zero outputs and keep their initial state, as rnnkit
    specifies.
    """
    if lengths is None:
        return layer(x, state)
    lengths = torch.as_tensor(lengths).cpu()
    keep_cpu = (lengths > 0).nonzero().squeeze(1)
    keep = keep_cpu.to(x.device)
    is_lstm = isinstance(layer, torch.nn.LSTM)
    if state is None:
        d = 2 if layer.bidirectional else 1
        zeros = x.new_zeros(layer.num_layers * d, x.shape[0], layer.hidden_size)
        state = (zeros, zeros.clone()) if is_lstm else zeros
    sub = tuple(s[:, keep] for s in state) if is_lstm else state[:, keep]
    packed = pack_padded_sequence(x[keep], lengths[keep_cpu], batch_first=True, enforce_sorted=False)
    out, final = layer(packed, sub)
    ys_sub, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    ys = x.new_zeros(x.shape[0], x.shape[1], ys_sub.shape[2]).index_copy(0, keep, ys_sub)
    if is_lstm:
        final = tuple(s.index_copy(1, keep, f) for s, f in zip(state, final))
    else:
        final = state.index_copy(1, keep, final)
    return ys, final


def leaves(state):
    return tuple(state) if isinstance(state, tuple) else (state,)
