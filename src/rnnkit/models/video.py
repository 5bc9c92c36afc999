"""Action recognition from clips (B, T, C, H, W): a small CNN on every frame followed by an RNN
(LRCN, Donahue et al. 2015), or a convolutional stem followed by a ConvLSTM (Shi et al. 2015) that
keeps the frame's layout in its state. Both are trained from scratch; nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor, nn

from rnnkit.layers import RECURRENT_LAYERS, check_regularisers, recurrent_layer
from rnnkit.layers.convlstm import ConvLSTM
from rnnkit.ops.lengths import length_mask, masked_mean

CLIP_ARCHITECTURES = ("cnn-rnn", "convlstm")


@dataclass(frozen=True)
class ClipModelConfig:
    """`architecture` cnn-rnn (per-frame CNN of `conv_channels`, then `cell` with `hidden_size` over
    `num_layers`, `pooling` mean | last over the valid frames) | convlstm (a stem of two stride-2
    convolutions of conv_channels[0], then a ConvLSTM of `hidden_channels` with `kernel_size` over `num_layers`, its
    last valid state averaged over the frame)."""

    num_classes: int
    channels: int = 1
    architecture: str = "cnn-rnn"
    cell: str = "lstm"
    hidden_size: int = 64
    num_layers: int = 1
    conv_channels: tuple[int, ...] = (16, 32, 64)
    hidden_channels: int = 32
    kernel_size: int = 3
    pooling: str = "mean"
    dropout: float = 0.3

    regularisers: dict = field(default_factory=dict)  # recurrent-layer regularisers (layers.REGULARISERS)

    def __post_init__(self) -> None:
        check_regularisers(self.regularisers)
        object.__setattr__(self, "conv_channels", tuple(self.conv_channels))
        if self.architecture not in CLIP_ARCHITECTURES:
            raise ValueError(f"architecture must be one of {CLIP_ARCHITECTURES}; got {self.architecture!r}")
        if self.cell not in RECURRENT_LAYERS:
            raise ValueError(f"cell must be one of {sorted(RECURRENT_LAYERS)}; got {self.cell!r}")
        if self.pooling not in ("mean", "last"):
            raise ValueError(f"pooling must be mean or last; got {self.pooling!r}")
        if self.num_classes < 2 or not self.conv_channels or min(self.conv_channels) < 1:
            raise ValueError(f"num_classes must be >= 2 and conv_channels non-empty and positive; got "
                             f"{self.num_classes}, {self.conv_channels}")


def on_valid_frames(module: nn.Module, x: Tensor, lengths: Tensor | None) -> Tensor:
    """Apply a per-frame `module` to the valid frames of (B, T, C, H, W) only (batch norm never sees
    padding); padded frames come back as zeros."""
    batch, steps = x.shape[:2]
    if lengths is None:
        return module(x.flatten(0, 1)).unflatten(0, (batch, steps))
    valid = length_mask(lengths, steps, x.device)  # (B, T)
    out = module(x[valid])
    full = out.new_zeros(batch, steps, *out.shape[1:])
    full[valid] = out
    return full


class FrameEncoder(nn.Module):
    """(N, C, H, W) frames -> (N, features) vectors: blocks of 3x3 convolution, batch norm, ReLU and
    2x2 max pooling (none after the last), averaged down to a 4x4 grid that keeps where things are
    (a mean over the whole frame would not tell left from right), then a linear layer and ReLU."""

    def __init__(self, channels: int, conv_channels: tuple[int, ...], features: int) -> None:
        super().__init__()
        layers, previous = [], channels
        for i, width in enumerate(conv_channels):
            layers += [nn.Conv2d(previous, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
            if i < len(conv_channels) - 1:
                layers.append(nn.MaxPool2d(2))
            previous = width
        layers += [nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(previous * 16, features), nn.ReLU()]
        self.net = nn.Sequential(*layers)

    def forward(self, frames: Tensor) -> Tensor:
        return self.net(frames)


class CNNRNNClassifier(nn.Module):
    """LRCN: `logits = model(clips (B, T, C, H, W), lengths)`; a `FrameEncoder` on every valid frame,
    an RNN over the frame features, pooled over the valid frames, then class scores.

    >>> model = CNNRNNClassifier(ClipModelConfig(num_classes=3, conv_channels=(8, 16), hidden_size=16))
    >>> model(torch.rand(2, 5, 1, 16, 16), torch.tensor([5, 3])).shape
    torch.Size([2, 3])
    """

    def __init__(self, config: ClipModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = FrameEncoder(config.channels, config.conv_channels, config.hidden_size)
        self.rnn = recurrent_layer(config.cell, config.hidden_size, config.hidden_size, config.regularisers,
                                   num_layers=config.num_layers, dropout=config.dropout if config.num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(config.hidden_size, config.num_classes)

    @classmethod
    def from_config(cls, config: ClipModelConfig) -> CNNRNNClassifier:
        return cls(config)

    def forward(self, clips: Tensor, lengths: Tensor | None = None) -> Tensor:
        features = on_valid_frames(self.encoder, clips, lengths)  # (B, T, F)
        ys, state = self.rnn(self.dropout(features), lengths=lengths)
        if self.config.pooling == "last":
            pooled = (state[0] if isinstance(state, tuple) else state)[-1]
        else:
            pooled = masked_mean(ys, lengths)
        return self.output(self.dropout(pooled))


class ConvLSTMClassifier(nn.Module):
    """`logits = model(clips (B, T, C, H, W), lengths)`: two stride-2 convolutions (each with batch norm
    and ReLU, so maps of H/4 x W/4) on every valid frame, a `rnnkit.ConvLSTM` over the feature maps, the top layer's hidden
    map after each clip's last valid frame averaged over space, then class scores.

    >>> model = ConvLSTMClassifier(ClipModelConfig(num_classes=3, architecture="convlstm", hidden_channels=8))
    >>> model(torch.rand(2, 5, 1, 16, 16), torch.tensor([5, 3])).shape
    torch.Size([2, 3])
    """

    def __init__(self, config: ClipModelConfig) -> None:
        super().__init__()
        self.config = config
        if config.regularisers:
            raise ValueError("the recurrent regularisers apply to the cnn-rnn architecture's RNN; ConvLSTM takes dropout only")
        stem = config.conv_channels[0]
        self.stem = nn.Sequential(nn.Conv2d(config.channels, stem, 3, stride=2, padding=1), nn.BatchNorm2d(stem), nn.ReLU(),
                                  nn.Conv2d(stem, stem, 3, stride=2, padding=1), nn.BatchNorm2d(stem), nn.ReLU())
        self.convlstm = ConvLSTM(stem, config.hidden_channels, config.kernel_size, num_layers=config.num_layers,
                                 dropout=config.dropout if config.num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(config.hidden_channels, config.num_classes)

    @classmethod
    def from_config(cls, config: ClipModelConfig) -> ConvLSTMClassifier:
        return cls(config)

    def forward(self, clips: Tensor, lengths: Tensor | None = None) -> Tensor:
        maps = on_valid_frames(self.stem, clips, lengths)  # (B, T, stem, H/4, W/4)
        _, (h, _) = self.convlstm(maps, lengths=lengths)
        return self.output(self.dropout(h[-1].mean(dim=(2, 3))))


CLIP_MODELS = {"cnn-rnn": CNNRNNClassifier, "convlstm": ConvLSTMClassifier}


def build_clip_model(config: ClipModelConfig) -> nn.Module:
    return CLIP_MODELS[config.architecture].from_config(config)
