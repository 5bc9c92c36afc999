"""Next-frame prediction with a ConvLSTM encoder-predictor (after Shi et al. 2015), for anomaly scores
from the prediction error: a model trained on normal clips predicts normal motion well and
anything unusual badly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rnnkit.layers.convlstm import ConvLSTM
from rnnkit.models.video import on_valid_frames
from rnnkit.ops.lengths import length_mask


@dataclass(frozen=True)
class FramePredictorConfig:
    """Frames of `channels`; a stride-2 encoder of `stem_channels`, a ConvLSTM of `hidden_channels`
    (`kernel_size`, `num_layers`), a transposed-convolution decoder back to the frame size."""

    channels: int = 1
    stem_channels: int = 8
    hidden_channels: int = 16
    kernel_size: int = 3
    num_layers: int = 1

    def __post_init__(self) -> None:
        if min(self.channels, self.stem_channels, self.hidden_channels, self.num_layers) < 1:
            raise ValueError(f"channels, stem_channels, hidden_channels and num_layers must be positive; got {self}")


class FramePredictor(nn.Module):
    """`predicted = model(clips (B, T, C, H, W), lengths)`: predicted[:, t] is the model's guess of
    frame t + 1 from frames 0..t, in [0, 1] (sigmoid); H and W must be even.

        e_t = encoder(x_t);  h_t = ConvLSTM(e_1..e_t);  x^_{t+1} = sigmoid(decoder(h_t))

    `errors(clips, lengths)` (B, T) gives the mean squared error of each frame's prediction (frame 0
    has none and gets NaN, as do frames past each length).

    >>> model = FramePredictor(FramePredictorConfig(hidden_channels=8))
    >>> model(torch.rand(2, 5, 1, 16, 16)).shape
    torch.Size([2, 5, 1, 16, 16])
    """

    def __init__(self, config: FramePredictorConfig) -> None:
        super().__init__()
        self.config = config
        stem = config.stem_channels
        self.encoder = nn.Sequential(nn.Conv2d(config.channels, stem, 3, stride=2, padding=1), nn.ReLU())
        self.convlstm = ConvLSTM(stem, config.hidden_channels, config.kernel_size, num_layers=config.num_layers)
        self.decoder = nn.Sequential(nn.ConvTranspose2d(config.hidden_channels, stem, 4, stride=2, padding=1), nn.ReLU(),
                                     nn.Conv2d(stem, config.channels, 3, padding=1))

    @classmethod
    def from_config(cls, config: FramePredictorConfig) -> FramePredictor:
        return cls(config)

    def forward(self, clips: Tensor, lengths: Tensor | None = None) -> Tensor:
        if clips.dim() != 5 or clips.shape[-1] % 2 or clips.shape[-2] % 2:
            raise ValueError(f"clips must be (batch, time, channels, H, W) with even H and W; got {tuple(clips.shape)}")
        maps = on_valid_frames(self.encoder, clips, lengths)
        hidden, _ = self.convlstm(maps, lengths=lengths)  # (B, T, hidden, H/2, W/2)
        return torch.sigmoid(on_valid_frames(self.decoder, hidden, lengths))

    def loss(self, clips: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Mean squared error of every predicted frame that has a true next frame in its clip."""
        errors = self.errors(clips, lengths)
        return errors[~errors.isnan()].mean()

    def errors(self, clips: Tensor, lengths: Tensor | None = None) -> Tensor:
        """(B, T) mean squared error of the prediction of each frame t >= 1; NaN at t = 0 and past the length."""
        predicted = self(clips, lengths)
        squared = (predicted[:, :-1] - clips[:, 1:]).pow(2).flatten(2).mean(2)  # (B, T-1): error of frame t+1
        errors = torch.cat([torch.full_like(squared[:, :1], float("nan")), squared], dim=1)
        if lengths is not None:
            errors = errors.masked_fill(~length_mask(lengths, clips.shape[1], clips.device), float("nan"))
        return errors
