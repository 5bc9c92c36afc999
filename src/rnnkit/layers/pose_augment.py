"""Augmenting skeleton sequences while training: a random rotation about the vertical axis, a random
scale and Gaussian jitter, drawn once per sequence. Evaluation mode returns the input unchanged."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class PoseAugment(nn.Module):
    """(B, T, J*D) joints, D = 3 coordinates per joint -> the same, augmented while training.

    Each sequence is rotated about the `vertical_axis` (0, 1 or 2) through the origin by an angle
    U(-rotate_degrees, rotate_degrees) (so centre the skeletons on a root joint first), scaled by
    U(1 - scale, 1 + scale), and gets N(0, jitter^2) noise on every coordinate.

    >>> aug = PoseAugment(joints=20, rotate_degrees=30)
    >>> aug(torch.randn(2, 10, 60)).shape
    torch.Size([2, 10, 60])
    """

    def __init__(self, joints: int, vertical_axis: int = 1, rotate_degrees: float = 0.0, scale: float = 0.0,
                 jitter: float = 0.0) -> None:
        super().__init__()
        if vertical_axis not in (0, 1, 2):
            raise ValueError(f"vertical_axis must be 0, 1 or 2 (x, y or z); got {vertical_axis}")
        if not 0 <= rotate_degrees <= 180 or not 0 <= scale < 1 or jitter < 0:
            raise ValueError(f"rotate_degrees must be in [0, 180], scale in [0, 1) and jitter >= 0; got "
                             f"{rotate_degrees}, {scale}, {jitter}")
        self.joints, self.vertical_axis = joints, vertical_axis
        self.rotate_degrees, self.scale, self.jitter = float(rotate_degrees), float(scale), float(jitter)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or not (self.rotate_degrees or self.scale or self.jitter):
            return x
        batch = x.shape[0]
        joints = x.unflatten(2, (self.joints, 3))  # (B, T, J, 3)
        if self.rotate_degrees:
            angle = (torch.rand(batch, device=x.device, dtype=x.dtype) * 2 - 1) * math.radians(self.rotate_degrees)
            a, b = [axis for axis in range(3) if axis != self.vertical_axis]
            cos, sin = angle.cos().view(batch, 1, 1), angle.sin().view(batch, 1, 1)
            u, v = joints[..., a], joints[..., b]
            rotated = [None, None, None]
            rotated[a], rotated[b] = cos * u - sin * v, sin * u + cos * v
            rotated[self.vertical_axis] = joints[..., self.vertical_axis]
            joints = torch.stack(rotated, dim=-1)
        if self.scale:
            factor = 1 + (torch.rand(batch, device=x.device, dtype=x.dtype) * 2 - 1) * self.scale
            joints = joints * factor.view(batch, 1, 1, 1)
        if self.jitter:
            joints = joints + self.jitter * torch.randn_like(joints)
        return joints.flatten(2)

    def extra_repr(self) -> str:
        return (f"joints={self.joints}, vertical_axis={self.vertical_axis}, rotate_degrees={self.rotate_degrees}, "
                f"scale={self.scale}, jitter={self.jitter}")
