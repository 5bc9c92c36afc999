"""The machinery every rnnkit recurrent layer shares: stacking, bidirectional, lengths, carried state,
the fused and loop kernels, and the recurrent regularisers torch.nn lacks (recurrent and locked
dropout, zoneout, weight-drop). The layers themselves are in `classic` (RNN, LSTM, GRU), `layernorm`
and `minimal`.

Parameters, their names and the state layout are torch.nn's, so weights and states move both ways.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.layers.checks import check_input, check_state_tensor
from rnnkit.layers.fused import fused_backend, fused_blocker, run_fused
from rnnkit.ops.dropout import drop_weight, locked_dropout, sequence_mask, zoneout
from rnnkit.ops.lengths import check_lengths
from rnnkit.ops.state import State, map_state, state_leaves
from rnnkit.ops.unroll import unroll

KERNELS = ("auto", "fused", "loop")
# keyword arguments every recurrent layer takes besides torch.nn's (model configs keep them in their
# `regularisers` dict)
REGULARISERS = ("variational_dropout", "recurrent_dropout", "zoneout", "weight_drop")


@dataclass(frozen=True)
class KernelChoice:
    """Which kernel a call runs ("fused" or "loop") and why."""

    name: str
    reason: str


class RecurrentLayer(nn.Module):
    """Runs a cell over time: stacking, bidirectional, lengths, carried state. Base of RNN, LSTM, GRU.

    `ys, state = layer(x, state=None, lengths=None)` with x (B, T, I), ys (B, T, D*H) and a state of
    torch.nn's layout, (L*D, B, H) per tensor. Subclasses give `mode`, `num_gates`, the step and the
    zero state.

    Regularisers (keyword-only, each 0 by default, active in training mode only unless said):
    - `dropout`: torch.nn's, a fresh mask at every step on the outputs of each layer but the last;
    - `variational_dropout`: the same place, one mask per sequence reused at every step (Gal &
      Ghahramani 2016); use `rnnkit.LockedDropout` for the first layer's input or the last one's output;
    - `recurrent_dropout`: one mask per sequence on the hidden state the recurrent weights see
      (h_{t-1} in W_hh h_{t-1}); the state carried on is not dropped;
    - `zoneout`: each unit keeps its previous value with probability p at every step; in evaluation
      the expectation p * old + (1 - p) * new (Krueger et al. 2017); for an LSTM a pair (p_h, p_c);
    - `weight_drop`: DropConnect on every W_hh, one mask per call (Merity et al. 2018); the stored
      weights are never changed.
    Weight-drop and variational dropout keep the fused kernel; recurrent dropout (in training) and
    zoneout need the loop kernel, and `last_kernel.reason` says which option chose it.
    """

    mode = ""
    num_gates = 1
    kernels = KERNELS  # what `kernel` may be
    recurrent_weights = True  # False for cells whose gates see the input only (no weight_hh, bias_hh)
    proj_size = 0  # LSTM with projections: h has this size (weight_hr maps H to it)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        dropout: float = 0.0,
        bidirectional: bool = False,
        kernel: str = "auto",
        *,
        variational_dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        zoneout: float | tuple[float, float] = 0.0,
        weight_drop: float = 0.0,
    ) -> None:
        super().__init__()
        _check_config(input_size, hidden_size, num_layers, dropout, kernel, self.kernels)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.dropout, self.bidirectional, self.kernel = bias, float(dropout), bidirectional, kernel
        self.num_directions = 2 if bidirectional else 1
        self._set_regularisers(variational_dropout, recurrent_dropout, zoneout, weight_drop)
        self.last_kernel: KernelChoice | None = None  # set by each call, for inspection
        self._flat_weight_names: list[str] = []
        self._block_names: list[dict[str, str]] = []  # per layer and direction: kind -> parameter name
        gates, out = self.num_gates * hidden_size, self.output_size
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else out * self.num_directions
            for suffix in ("", "_reverse")[: self.num_directions]:
                shapes = {"weight_ih": (gates, layer_input)}
                if self.recurrent_weights:
                    shapes["weight_hh"] = (gates, out)
                if bias:
                    shapes["bias_ih"] = (gates,)
                    if self.recurrent_weights:
                        shapes["bias_hh"] = (gates,)
                if self.proj_size:
                    shapes["weight_hr"] = (self.proj_size, hidden_size)
                block = {}
                for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"):  # torch's order
                    if kind in shapes:
                        name = f"{kind}_l{layer}{suffix}"
                        self.register_parameter(name, nn.Parameter(torch.empty(shapes[kind])))
                        self._flat_weight_names.append(name)
                        block[kind] = name
                self._block_names.append(block)
        self.reset_parameters()

    def _set_regularisers(self, variational_dropout, recurrent_dropout, zoneout, weight_drop) -> None:
        for name, value in (("variational_dropout", variational_dropout), ("recurrent_dropout", recurrent_dropout),
                            ("weight_drop", weight_drop)):
            _check_probability(name, value)
        if self.dropout and variational_dropout:
            raise ValueError("set dropout (a fresh mask per step) or variational_dropout (one mask per sequence), "
                             f"not both; got dropout={self.dropout}, variational_dropout={variational_dropout}")
        leaves = 2 if self.mode == "LSTM" else 1
        if isinstance(zoneout, (tuple, list)):
            if len(zoneout) != leaves:
                raise ValueError(f"zoneout must be one probability{' or a pair (p_h, p_c)' if leaves == 2 else ''} "
                                 f"for {type(self).__name__}; got {zoneout!r}")
            probs = tuple(float(p) for p in zoneout)
        else:
            probs = (zoneout,) * leaves
        for p in probs:
            _check_probability("zoneout", p)
        if not self.recurrent_weights:
            for name, value in (("recurrent_dropout", recurrent_dropout), ("weight_drop", weight_drop)):
                if value:
                    raise ValueError(f"{type(self).__name__} has no recurrent weights, so {name} does not apply; "
                                     f"use zoneout or variational_dropout")
        self.variational_dropout, self.recurrent_dropout = float(variational_dropout), float(recurrent_dropout)
        self.weight_drop = float(weight_drop)
        self.zoneout = tuple(probs) if isinstance(zoneout, (tuple, list)) else float(zoneout)
        self._zoneout = probs  # one probability per state tensor

    @property
    def output_size(self) -> int:
        """The size of h (and of each direction's outputs): proj_size when set, else hidden_size."""
        return self.proj_size or self.hidden_size

    def reset_parameters(self) -> None:
        """U(-1/sqrt(H), 1/sqrt(H)) for every parameter, as torch.nn does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    # -- what subclasses define -------------------------------------------------------------------
    def step(self, xp: Tensor, state: State, weight_hh: Tensor, bias_hh: Tensor | None,
             recurrent_mask: Tensor | None = None) -> tuple[Tensor, State]:
        """One step from the projected input xp (B, G*H); `recurrent_mask` (B, H) multiplies the
        h_{t-1} that W_hh sees (recurrent dropout)."""
        raise NotImplementedError

    def init_state(self, batch_size: int, *, device=None, dtype=None) -> State:
        """Zeros of shape (num_layers * num_directions, B, H)."""
        shape = (self.num_layers * self.num_directions, batch_size, self.hidden_size)
        if device is None or dtype is None:
            param = self._parameters["weight_ih_l0"]
            device, dtype = device or param.device, dtype or param.dtype
        return torch.zeros(shape, device=device, dtype=dtype)

    def _as_state(self, state) -> State:
        return state

    # -- the call ---------------------------------------------------------------------------------
    def forward(self, x: Tensor, state: State | None = None, lengths: Tensor | None = None) -> tuple[Tensor, State]:
        """x (B, T, I) -> (ys (B, T, D*H), state). See the class docstring."""
        weights = self.flat_weights()
        check_input(x, self.input_size, weights[0])
        batch, steps = x.shape[0], x.shape[1]
        state = self._checked_state(state, x)
        if lengths is not None:
            # checked on the host in one transfer; the fused kernel packs there anyway
            lengths = check_lengths(lengths.cpu() if isinstance(lengths, Tensor) else lengths, batch, steps)
            if bool((lengths == steps).all()):
                lengths = None  # every row is full: no packing or masking needed
        if steps == 0:
            return x.new_zeros(batch, 0, self.output_size * self.num_directions), state
        choice, no_cudnn = self._select(x, state)
        object.__setattr__(self, "last_kernel", choice)  # a plain attribute: skip nn.Module's __setattr__
        weights = self._dropped(weights)
        if choice.name != "fused":
            return self._run_blocks(x, state, lengths, weights, choice.name)
        with warnings.catch_warnings():
            if self.weight_drop and self.training:  # cuDNN compacts the dropped copies each call, as it must
                warnings.filterwarnings("ignore", message="RNN module weights are not part of single contiguous")
            if self.variational_dropout and self.training and self.num_layers > 1:
                return self._run_fused_layers(x, state, lengths, weights, no_cudnn)
            config = (self.bias, self.num_layers, self.dropout, self.training, self.bidirectional)
            return run_fused(self.mode, x, state, weights, lengths=lengths, config=config, no_cudnn=no_cudnn)

    def _dropped(self, weights: list[Tensor]) -> list[Tensor]:
        """The weights a call uses: with weight_drop in training, every W_hh is a fresh dropped copy."""
        if not (self.weight_drop and self.training):
            return weights
        return [drop_weight(w, self.weight_drop, True) if name.startswith("weight_hh") else w
                for name, w in zip(self._flat_weight_names, weights)]

    def _run_fused_layers(self, x, state, lengths, weights, no_cudnn):
        """The fused kernel one layer at a time, with one dropout mask per sequence between layers."""
        per_layer = len(weights) // self.num_layers
        d = self.num_directions
        config = (self.bias, 1, 0.0, self.training, self.bidirectional)
        finals, layer_input = [], x
        for layer in range(self.num_layers):
            if layer > 0:
                layer_input = locked_dropout(layer_input, self.variational_dropout, True)
            sub_state = map_state(lambda s, layer=layer: s[layer * d : (layer + 1) * d], state)
            layer_weights = weights[layer * per_layer : (layer + 1) * per_layer]
            layer_input, final = run_fused(self.mode, layer_input, sub_state, layer_weights, lengths=lengths,
                                           config=config, no_cudnn=no_cudnn)
            finals.append(final)
        return layer_input, map_state(lambda *parts: torch.cat(parts), *finals)

    def select_kernel(self, x: Tensor, state: State | None = None) -> KernelChoice:
        """The kernel a call with these tensors would run, and why, without running it. Raises
        ValueError when kernel="fused" was asked for and cannot serve."""
        return self._select(x, self._checked_state(state, x))[0]

    def _select(self, x: Tensor, state: State) -> tuple[KernelChoice, bool]:
        """The kernel choice, and whether the fused call must run with cuDNN turned off."""
        if self.kernel == "loop":
            return KernelChoice("loop", "kernel='loop' was requested"), False
        needs = self._loop_needs()
        if needs:
            why = f"{' and '.join(needs)} need{'s' if len(needs) == 1 else ''} the loop kernel"
            if self.kernel == "fused":
                raise ValueError(f"kernel='fused' cannot run this call: {why}. Use kernel='auto' or kernel='loop'.")
            return KernelChoice("loop", why), False
        blocker = fused_blocker([x, *state_leaves(state)])
        if blocker is None:
            backend, no_cudnn = fused_backend(x, self.training)
            reason = f"{backend}; kernel={self.kernel!r}"
            if self.weight_drop and self.training:
                reason += f"; weight_drop={self.weight_drop} on the recurrent weights"
            if self.variational_dropout and self.training and self.num_layers > 1:
                reason += f"; one layer per call for variational_dropout={self.variational_dropout}"
            return KernelChoice("fused", reason), no_cudnn
        if self.kernel == "fused":
            raise ValueError(
                f"kernel='fused' cannot run this call: {blocker}. Use kernel='auto' (falls back to the loop "
                f"kernel) or kernel='loop'."
            )
        return KernelChoice("loop", f"kernel='auto' fell back to the loop: {blocker}"), False

    def _loop_needs(self) -> list[str]:
        """The options of this layer that torch's fused kernels cannot run (subclasses add theirs)."""
        needs = []
        if self.recurrent_dropout and self.training:
            needs.append(f"recurrent_dropout={self.recurrent_dropout}")
        if any(self._zoneout):
            needs.append(f"zoneout={self.zoneout}")
        return needs

    def flat_weights(self) -> list[Tensor]:
        """Parameters in torch's order: per layer, per direction, w_ih, w_hh[, b_ih, b_hh]."""
        params = self._parameters  # direct lookups: this runs on every call
        return [params[name] for name in self._flat_weight_names]

    def _checked_state(self, state, x: Tensor) -> State:
        if state is None:
            return self.init_state(x.shape[0], device=x.device, dtype=x.dtype)
        state = self._as_state(state)
        names = getattr(state, "_fields", ("state",))
        for name, leaf in zip(names, state_leaves(state)):
            size = self.output_size if name in ("state", "h") else self.hidden_size
            shape = (self.num_layers * self.num_directions, x.shape[0], size)
            check_state_tensor(name if name == "state" else f"state.{name}", leaf, shape, x)
        return state

    def _run_blocks(self, x: Tensor, state: State, lengths: Tensor | None, weights: list[Tensor],
                    kernel: str) -> tuple[Tensor, State]:
        """The loop (or a subclass's scan) `kernel`: each layer and direction through `_run_block`."""
        named = dict(zip(self._flat_weight_names, weights))
        finals, layer_input = [], x
        for layer in range(self.num_layers):
            if layer > 0:
                if self.dropout and self.training:
                    layer_input = F.dropout(layer_input, self.dropout, training=True)
                layer_input = locked_dropout(layer_input, self.variational_dropout, self.training)
            outputs = []
            for direction in range(self.num_directions):
                k = layer * self.num_directions + direction
                block = {kind: named[name] for kind, name in self._block_names[k].items()}
                block_state = map_state(lambda s, k=k: s[k], state)
                ys, final = self._run_block(k, layer_input, block_state, lengths, direction == 1, block, kernel)
                outputs.append(ys)
                finals.append(final)
            layer_input = torch.cat(outputs, dim=2) if len(outputs) > 1 else outputs[0]
        return layer_input, map_state(lambda *parts: torch.stack(parts), *finals)

    def _run_block(self, block: int, x: Tensor, state: State, lengths: Tensor | None, reverse: bool,
                   weights: dict[str, Tensor], kernel: str = "loop") -> tuple[Tensor, State]:
        """One layer-direction over time: the input projection for every step at once, then the step
        (with recurrent dropout and zoneout) through `unroll` (the loop is this class's only kernel
        besides torch's fused one)."""
        xp = self._project(block, x, weights["weight_ih"], weights.get("bias_ih"))  # (B, T, G*H)
        step = self._block_step(block, weights["weight_hh"], weights.get("bias_hh"))
        if self.recurrent_dropout and self.training:
            mask = sequence_mask(x.shape[0], self.output_size, self.recurrent_dropout, xp)
            step = partial(step, recurrent_mask=mask)
        if any(self._zoneout):
            step = with_zoneout(step, self._zoneout, self.training)
        return unroll(step, xp, state, lengths, reverse=reverse)

    def _project(self, block: int, x: Tensor, weight_ih: Tensor, bias_ih: Tensor | None) -> Tensor:
        """The input projection of layer-direction `block` for every time step (subclasses may normalise it)."""
        return F.linear(x, weight_ih, bias_ih)

    def _block_step(self, block: int, weight_hh: Tensor, bias_hh: Tensor | None):
        """The step of layer-direction `block`, its recurrent weights bound (subclasses may bind more)."""
        return partial(self.step, weight_hh=weight_hh, bias_hh=bias_hh)

    # -- cuDNN wants all weights in one buffer; keep them there after .to()/.cuda() ----------------
    def _apply(self, fn, *args, **kwargs):
        result = super()._apply(fn, *args, **kwargs)
        self.flatten_parameters()
        return result

    def flatten_parameters(self) -> None:
        """Put the weights in one contiguous buffer for cuDNN (a no-op off CUDA), as torch.nn does."""
        weights = self.flat_weights()
        first = weights[0]
        if not first.is_cuda or not torch.backends.cudnn.is_acceptable(first):
            return
        if any(w.dtype != first.dtype for w in weights) or len({w.data_ptr() for w in weights}) != len(weights):
            return
        if not (hasattr(torch, "_cudnn_rnn_flatten_weight") and torch._use_cudnn_rnn_flatten_weight()):
            return
        from torch.backends.cudnn import rnn as cudnn_rnn

        with torch.cuda.device_of(first), torch.no_grad():
            torch._cudnn_rnn_flatten_weight(
                weights, (4 if self.bias else 2) + (1 if self.proj_size else 0), self.input_size,
                cudnn_rnn.get_cudnn_mode(self.mode), self.hidden_size, self.proj_size, self.num_layers, True,
                self.bidirectional,
            )

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if not self.bias:
            text += ", bias=False"
        if self.dropout:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        if self.proj_size:
            text += f", proj_size={self.proj_size}"
        for name in REGULARISERS:
            if any(self._zoneout) if name == "zoneout" else getattr(self, name):
                text += f", {name}={getattr(self, name)}"
        return text + f", kernel={self.kernel!r}"


def with_zoneout(step, probs: tuple[float, ...], training: bool):
    """`step` with zoneout on each state tensor (probabilities per tensor); the output is the zoned h."""

    def zoned_step(xp, state):
        _, new = step(xp, state)
        if isinstance(state, tuple):
            new = type(new)(*(zoneout(n, o, p, training) for n, o, p in zip(new, state, probs)))
            return new[0], new
        new = zoneout(new, state, probs[0], training)
        return new, new

    return zoned_step


def _check_probability(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1); got {value!r}")


def _check_config(input_size, hidden_size, num_layers, dropout, kernel, kernels=KERNELS) -> None:
    for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1); got {dropout!r}")
    if kernel not in kernels:
        raise ValueError(f"kernel must be one of {kernels}; got {kernel!r}")
