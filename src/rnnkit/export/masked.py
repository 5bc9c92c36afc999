"""A recurrent layer computed the way an exported graph can run it: lengths by masking, not packing.

torch's fused RNN ops export to ONNX's LSTM/GRU/RNN operators with a symbolic time axis, but only when
called without packing (a packed sequence fails to export, and the loop kernel unrolls time into a
graph frozen at one length). `MaskedRecurrent` runs each layer and direction as one unpacked fused
call over the padded batch:

- forward directions read the padding only after each row's valid steps, so every valid output is
  exact; outputs past a row's length are set to zero, as `pad_packed_sequence` leaves them;
- reverse directions read each row reversed within its length (a gather), so they
  too meet the padding last, and their outputs are put back in order the same way;
- the final h of each layer and direction is gathered from its outputs at the row's last valid step
  (for the reverse direction, its first step), so h is exact for every length. An LSTM's final c is
  not an output of the fused op at any step but the last: it is exact for full-length rows only, and
  no exported graph reads it from a whole-sequence call (models that carry LSTM state across calls
  export a step model instead).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.layers.fused import FUSED_OPS, run_fused
from rnnkit.layers.recurrent import RecurrentLayer
from rnnkit.ops.lengths import length_mask, reorder_steps, reversal_order
from rnnkit.ops.state import map_state, state_leaves


def whole_sequence_blocker(layer: nn.Module) -> str | None:
    """Why `layer` cannot run as an exported whole-sequence graph, or None when it can."""
    if not isinstance(layer, RecurrentLayer) or layer.mode not in FUSED_OPS:
        return (f"{type(layer).__name__} has no fused kernel; its time loop would be unrolled into a graph frozen at "
                f"one length (export a step model instead, or use --cell lstm, gru or rnn)")
    if layer.mode not in ("LSTM", "GRU"):
        return (f"torch's ONNX exporter keeps a symbolic time axis for LSTM and GRU operators only; the vanilla "
                f"{type(layer).__name__}'s would be frozen at one length (export a step model instead, or use --cell lstm or gru)")
    needs = layer._loop_needs()  # evaluation mode: recurrent dropout is off, zoneout is not
    if needs or layer.kernel == "loop":
        why = " and ".join(needs) if needs else "kernel='loop'"
        return f"{why} runs {type(layer).__name__} on the loop kernel, whose time loop cannot be exported with a symbolic length"
    return None


class MaskedRecurrent(nn.Module):
    """`layer` (an rnnkit LSTM, GRU or RNN in evaluation mode) with lengths handled by masking; same
    call and results as the layer (see the module docstring for the LSTM's c)."""

    def __init__(self, layer: RecurrentLayer) -> None:
        super().__init__()
        blocker = whole_sequence_blocker(layer)
        if blocker:
            raise ValueError(blocker)
        self.layer = layer
        # what models read off their recurrent layer
        self.input_size, self.hidden_size, self.num_layers = layer.input_size, layer.hidden_size, layer.num_layers
        self.bidirectional, self.num_directions, self.output_size = layer.bidirectional, layer.num_directions, layer.output_size

    def forward(self, x: Tensor, state=None, lengths: Tensor | None = None):
        layer = self.layer
        if state is None:
            state = layer.init_state(x.shape[0], device=x.device, dtype=x.dtype)
        named = dict(zip(layer._flat_weight_names, layer.flat_weights()))
        config = (layer.bias, 1, 0.0, False, False)  # one layer, one direction, evaluation
        valid = None if lengths is None else length_mask(lengths, x.shape[1], x.device).unsqueeze(2)
        # built from the input's symbolic T: an order taken from an RNN op's outputs would carry the
        # example's length into the graph (pytorch#191855)
        order = reversal_order(lengths, x.shape[0], x.shape[1], x.device) if layer.bidirectional else None
        finals, layer_input = [], x
        for depth in range(layer.num_layers):
            outputs = []
            for direction in range(layer.num_directions):
                k = depth * layer.num_directions + direction
                weights = [named[name] for name in layer._block_names[k].values()]  # torch's order
                block_state = map_state(lambda s, k=k: s[k : k + 1], state)
                reverse = direction == 1
                xs = reorder_steps(layer_input, order) if reverse else layer_input
                # contiguous: an input with unusual strides (a projection of one feature gives them) makes the
                # exporter's RNN decomposition fix the time axis at the example's length
                ys, final = run_fused(layer.mode, xs.contiguous(), block_state, weights, lengths=None, config=config)
                if reverse:
                    ys = reorder_steps(ys, order)
                if lengths is not None:
                    ys = ys * valid
                    final = _with_h(final, _h_at_end(ys, lengths, reverse))
                outputs.append(ys)
                finals.append(final)
            layer_input = torch.cat(outputs, dim=2) if len(outputs) > 1 else outputs[0]
        return layer_input, map_state(lambda *parts: torch.cat(parts), *finals)


def _h_at_end(ys: Tensor, lengths: Tensor, reverse: bool) -> Tensor:
    """(1, B, H): each row's output at the step its direction ends on."""
    if reverse:
        return ys[:, 0].unsqueeze(0)
    index = (lengths.clamp(min=1) - 1).view(-1, 1, 1).expand(-1, 1, ys.shape[2])
    return ys.gather(1, index).transpose(0, 1)


def _with_h(state, h: Tensor):
    leaves = state_leaves(state)
    if len(leaves) == 1:
        return h
    return type(state)(h, *leaves[1:])
