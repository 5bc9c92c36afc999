"""Input and state checks for the recurrent layers: every bad input gets a ValueError that names the
argument, the shape (or dtype, or device) expected and the one given."""

from __future__ import annotations

import torch
from torch import Tensor


def _autocast_on() -> bool:
    """Under autocast, inputs and weights legitimately differ in dtype."""
    try:
        return torch.is_autocast_enabled("cpu") or torch.is_autocast_enabled("cuda")
    except TypeError:  # torch < 2.4 takes no device argument
        return torch.is_autocast_enabled() or torch.is_autocast_cpu_enabled()


def check_input(x: Tensor, input_size: int, weight: Tensor) -> None:
    """x must be a floating (B, T, input_size) tensor on the parameters' device (and dtype, outside autocast)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor of shape (batch, time, {input_size}); got {type(x).__name__}")
    if x.dim() != 3:
        hint = " For one sequence, use x.unsqueeze(0): rnnkit layers are batch-first." if x.dim() == 2 else ""
        raise ValueError(
            f"x must be 3-D (batch, time, features) = (B, T, {input_size}); got shape {tuple(x.shape)}.{hint}"
        )
    if x.shape[2] != input_size:
        raise ValueError(
            f"x must have {input_size} features (the layer's input_size) in its last dimension; "
            f"got shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor; got dtype {x.dtype}. Use x.float().")
    if x.device != weight.device:
        raise ValueError(
            f"x is on {x.device} but the layer's parameters are on {weight.device}; "
            f"move one of them, e.g. layer.to(x.device)"
        )
    if x.dtype != weight.dtype and not _autocast_on():
        raise ValueError(
            f"x has dtype {x.dtype} but the layer's parameters have dtype {weight.dtype}; "
            f"convert one of them, e.g. x.to({weight.dtype}) or layer.to({x.dtype})"
        )


def check_state_tensor(name: str, leaf: object, shape: tuple[int, ...], x: Tensor) -> None:
    """One tensor of a state: the exact shape, and the input's dtype and device."""
    if not isinstance(leaf, Tensor):
        raise ValueError(f"{name} must be a tensor of shape {shape}; got {type(leaf).__name__}")
    if tuple(leaf.shape) != shape:
        raise ValueError(
            f"{name} must have shape {shape} = (num_layers * num_directions, batch, hidden_size); "
            f"got {tuple(leaf.shape)}"
        )
    if leaf.device != x.device:
        raise ValueError(f"{name} is on {leaf.device} but x is on {x.device}; put both on one device")
    if leaf.dtype != x.dtype and not _autocast_on():
        raise ValueError(f"{name} has dtype {leaf.dtype} but x has dtype {x.dtype}; use the same dtype for both")
