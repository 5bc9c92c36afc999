"""SpecAugment's masking (Park et al., Interspeech 2019): while training, random bands of features
and random spans of frames are set to zero (the mean, after normalisation). Time warping is left out.

Time masks fall inside each row's valid frames (`lengths`), with widths relative to its length;
evaluation mode returns the input unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class SpecAugment(nn.Module):
    """(B, T, F) features, lengths (B,) -> the same, masked while training.

    Each row gets `freq_masks` bands of width U[0, freq_width] and `time_masks` spans of width
    U[0, min(time_width, time_ratio * length)] frames, at uniform positions.

    >>> aug = SpecAugment(freq_masks=2, freq_width=8, time_masks=2, time_width=10)
    >>> aug(torch.randn(3, 50, 40), torch.tensor([50, 20, 5])).shape
    torch.Size([3, 50, 40])
    """

    def __init__(self, freq_masks: int = 2, freq_width: int = 8, time_masks: int = 2, time_width: int = 10,
                 time_ratio: float = 0.2) -> None:
        super().__init__()
        if min(freq_masks, freq_width, time_masks, time_width) < 0 or not 0.0 <= time_ratio <= 1.0:
            raise ValueError("mask counts and widths must be >= 0 and time_ratio in [0, 1]")
        self.freq_masks, self.freq_width = freq_masks, freq_width
        self.time_masks, self.time_width, self.time_ratio = time_masks, time_width, time_ratio

    def forward(self, xs: Tensor, lengths: Tensor | None = None) -> Tensor:
        if not self.training or (self.freq_masks * self.freq_width == 0 and self.time_masks * self.time_width == 0):
            return xs
        batch, steps, size = xs.shape
        device = xs.device
        lengths = torch.full((batch,), steps, device=device) if lengths is None else lengths.to(device)
        keep = torch.ones_like(xs, dtype=torch.bool)
        bins = torch.arange(size, device=device)[None, :]
        for _ in range(self.freq_masks):
            width = (torch.rand(batch, 1, device=device) * (min(self.freq_width, size) + 1)).floor()
            start = (torch.rand(batch, 1, device=device) * (size - width + 1)).floor()
            keep &= ~((bins >= start) & (bins < start + width))[:, None, :]
        frames = torch.arange(steps, device=device)[None, :]
        limit = torch.minimum(torch.full_like(lengths, self.time_width), (lengths * self.time_ratio).long()).float()[:, None]
        for _ in range(self.time_masks):
            width = (torch.rand(batch, 1, device=device) * (limit + 1)).floor()
            start = (torch.rand(batch, 1, device=device) * (lengths[:, None].float() - width + 1)).floor()
            keep &= ~((frames >= start) & (frames < start + width))[:, :, None]
        return xs * keep
