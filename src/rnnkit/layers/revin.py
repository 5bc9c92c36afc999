"""Reversible instance normalisation (Kim et al., ICLR 2022, "Reversible Instance Normalization for
Accurate Time-Series Forecasting against Distribution Shift").

Each window's channels are normalised with their own lookback statistics before the model sees them,
and the model's outputs are mapped back with the same statistics, so a level or scale the training
period never showed does not reach the network.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class RevIN(nn.Module):
    """Per window and channel, over the lookback steps:

        mu = mean_t x_t,   sigma = sqrt(var_t x_t + eps)         (biased variance, as in the paper)
        normalise:    x' = gamma (x - mu) / sigma + beta
        denormalise:  y  = (y' - beta) / (gamma + eps^2) sigma + mu

    with learnable gamma (ones) and beta (zeros) per channel when `affine`. Inputs (B, T, C); the
    statistics (mu, sigma) are (B, 1, C). A Gaussian's scale maps back by |sigma / gamma| (scale()).

    >>> revin = RevIN(2)
    >>> x = torch.randn(3, 10, 2) * 5 + 7
    >>> normalised, stats = revin.normalise(x)
    >>> torch.allclose(revin.denormalise(normalised, stats), x, atol=1e-4)
    True
    """

    def __init__(self, num_channels: int, eps: float = 1e-5, affine: bool = True) -> None:
        super().__init__()
        if num_channels < 1:
            raise ValueError(f"num_channels must be at least 1; got {num_channels}")
        self.num_channels, self.eps = num_channels, eps
        self.weight = nn.Parameter(torch.ones(num_channels)) if affine else None
        self.bias = nn.Parameter(torch.zeros(num_channels)) if affine else None

    def _check(self, x: Tensor) -> None:
        if x.dim() < 2 or x.shape[-1] != self.num_channels:
            raise ValueError(f"RevIN expects (..., channels = {self.num_channels}); got {tuple(x.shape)}")

    def normalise(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """(x', (mu, sigma)) for x (B, T, C): the statistics are taken over T."""
        self._check(x)
        mu = x.mean(dim=1, keepdim=True).detach()
        sigma = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps).detach()
        return self.apply(x, (mu, sigma)), (mu, sigma)

    def apply(self, x: Tensor, stats: tuple[Tensor, Tensor]) -> Tensor:
        """x (B, T, C) normalised with statistics taken elsewhere (a window's future, say)."""
        mu, sigma = stats
        out = (x - mu) / sigma
        return out * self.weight + self.bias if self.weight is not None else out

    def denormalise(self, y: Tensor, stats: tuple[Tensor, Tensor]) -> Tensor:
        """y (B, H, C) or (B, H, C, P) on the normalised scale -> the original scale."""
        mu, sigma = stats
        extra = y.dim() - mu.dim()
        mu, sigma = mu.view(*mu.shape, *([1] * extra)), sigma.view(*sigma.shape, *([1] * extra))
        if self.weight is not None:
            weight, bias = self._channel(self.weight, extra), self._channel(self.bias, extra)
            y = (y - bias) / (weight + self.eps**2)
        return y * sigma + mu

    def scale(self, s: Tensor, stats: tuple[Tensor, Tensor]) -> Tensor:
        """A positive spread (a Gaussian's sigma) on the normalised scale -> the original scale."""
        _, sigma = stats
        extra = s.dim() - sigma.dim()
        sigma = sigma.view(*sigma.shape, *([1] * extra))
        if self.weight is not None:
            s = s / (self._channel(self.weight, extra).abs() + self.eps**2)
        return s * sigma

    def _channel(self, value: Tensor, extra: int) -> Tensor:
        return value.view(self.num_channels, *([1] * extra))
