"""Gradient-flow diagnostics: the norm of the loss gradient with respect to each hidden state,
||dL/dh_t|| for t = 1..T, which shows vanishing (and exploding) gradients through time
(Bengio et al. 1994; Pascanu et al. 2013).

Works on any model built from rnnkit's RNN, LSTM and GRU layers: for one call, each layer runs its
loop kernel with a zero "probe" added to every hidden state it produces; the gradient of the loss
with respect to a probe is the total gradient with respect to that hidden state, through the output
and through every later step.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import Tensor, nn

from rnnkit.layers.recurrent import RecurrentLayer


@contextmanager
def _probed(layers: dict[str, RecurrentLayer], probes: dict[str, list[Tensor]]):
    saved = {name: layer.kernel for name, layer in layers.items()}
    try:
        for name, layer in layers.items():
            layer.kernel = "loop"
            layer.step = _probing_step(type(layer).step.__get__(layer), probes.setdefault(name, []))
        yield
    finally:
        for name, layer in layers.items():
            layer.kernel = saved[name]
            layer.__dict__.pop("step", None)  # the class's step shows through again


def _probing_step(step, probes: list[Tensor]):
    def probed(xp, state, weight_hh, bias_hh):
        h, new_state = step(xp, state, weight_hh=weight_hh, bias_hh=bias_hh)
        probe = torch.zeros_like(h, requires_grad=True)
        probes.append(probe)
        h = h + probe
        return h, (h if isinstance(new_state, Tensor) else new_state._replace(h=h))

    return probed


def gradient_flow(model: nn.Module, loss_fn, batch, state=None) -> dict[str, list[float]]:
    """||dL/dh_t|| (over batch and units) for every recurrent layer and direction of `model`.

    Returns {"<module>.l<k>[_reverse]": [norm at t = 1, ..., norm at t = T]}. The model runs in eval
    mode (no dropout) and its parameter gradients are left untouched.
    """
    layers = {name or "rnn": m for name, m in model.named_modules() if isinstance(m, RecurrentLayer)}
    if not layers:
        raise ValueError("the model has no rnnkit RNN, LSTM or GRU layer to measure")
    probes: dict[str, list[Tensor]] = {}
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad(), _probed(layers, probes):
            loss, _ = loss_fn(model, batch, state)
            flat = [p for name in layers for p in probes[name]]
            grads = torch.autograd.grad(loss, flat, allow_unused=True)
    finally:
        model.train(was_training)
    norms = [0.0 if g is None else float(g.norm()) for g in grads]
    return _by_layer(layers, probes, norms)


def _by_layer(layers: dict[str, RecurrentLayer], probes, norms: list[float]) -> dict[str, list[float]]:
    result, offset = {}, 0
    for name, layer in layers.items():
        count = len(probes[name])
        blocks = layer.num_layers * layer.num_directions
        steps = count // blocks
        for k in range(blocks):
            values = norms[offset + k * steps : offset + (k + 1) * steps]
            reverse = layer.bidirectional and k % 2 == 1
            label = f"{name}.l{k // layer.num_directions}" + ("_reverse" if reverse else "")
            result[label] = values[::-1] if reverse else values  # the reverse pass visits t = T..1
        offset += count
    return result
