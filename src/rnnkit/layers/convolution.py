"""A convolutional front end for recurrent layers: 1-D convolutions over time on padded batches with
lengths, each followed by batch normalisation over the valid steps only and a ReLU (the block of
Wang et al.'s FCN; before an RNN as in DeepConvLSTM).

Padding never changes an output at a valid step: steps past a row's length are zeroed before every
convolution (so a padded row sees the same zero border as the row alone), and batch statistics are
taken over valid steps only.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.ops.lengths import check_lengths, length_mask


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d over (B, C, T) whose statistics come from the steps where `mask` (B, 1, T) is
    True. Running statistics and evaluation behave as in nn.BatchNorm1d; without a mask it is
    nn.BatchNorm1d."""

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        batch_statistics = self.training or not self.track_running_stats
        if mask is None or not batch_statistics:
            return super().forward(x)
        weights = mask.to(x.dtype)
        count = weights.sum()
        if count < 2:
            raise ValueError("batch normalisation needs at least two valid steps in a training batch")
        mean = (x * weights).sum(dim=(0, 2)) / count
        var = (((x - mean[None, :, None]) ** 2) * weights).sum(dim=(0, 2)) / count
        if self.training and self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.lerp_(mean, momentum)
                self.running_var.lerp_(var * count / (count - 1), momentum)
        out = (x - mean[None, :, None]) / torch.sqrt(var + self.eps)[None, :, None]
        if self.affine:
            out = out * self.weight[None, :, None] + self.bias[None, :, None]
        return out


class ConvFrontEnd(nn.Module):
    """(B, T, input_size), lengths -> (B, T, channels): `num_layers` blocks of
    Conv1d(kernel_size, same padding) -> masked batch norm -> ReLU.

    >>> layer = ConvFrontEnd(3, 8, num_layers=2, kernel_size=5)
    >>> layer(torch.randn(2, 7, 3), lengths=torch.tensor([7, 4])).shape
    torch.Size([2, 7, 8])
    """

    def __init__(self, input_size: int, channels: int, num_layers: int = 3, kernel_size: int = 5) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1; got {num_layers}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (same padding keeps every step); got {kernel_size}")
        sizes = [input_size] + [channels] * num_layers
        self.convs = nn.ModuleList(
            nn.Conv1d(a, b, kernel_size, padding=kernel_size // 2) for a, b in zip(sizes, sizes[1:])
        )
        self.norms = nn.ModuleList(MaskedBatchNorm1d(channels) for _ in range(num_layers))

    def forward(self, xs: Tensor, lengths: Tensor | None = None) -> Tensor:
        if xs.dim() != 3 or xs.shape[2] != self.convs[0].in_channels:
            raise ValueError(f"inputs must be (batch, time, {self.convs[0].in_channels}); got {tuple(xs.shape)}")
        keep = None
        if lengths is not None:
            lengths = check_lengths(lengths, xs.shape[0], xs.shape[1])
            keep = length_mask(lengths, xs.shape[1], xs.device).unsqueeze(1)  # (B, 1, T)
        hs = xs.transpose(1, 2)
        for conv, norm in zip(self.convs, self.norms):
            if keep is not None:
                hs = hs.masked_fill(~keep, 0.0)
            hs = torch.relu(norm(conv(hs), keep))
        return hs.transpose(1, 2)
