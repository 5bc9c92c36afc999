"""Speech recognition with CTC (Graves et al., ICML 2006): features -> SpecAugment (training only)
-> frame stacking (k frames become one, k times fewer steps) -> optional convolution blocks ->
stacked (bi)directional RNN -> linear to the output units, blank = 0.

`output_lengths` is the one definition of how many output frames an input of n frames gives
(ceil(n / k)); the loss, the decoders and the timestamps all use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from rnnkit.layers import RECURRENT_LAYERS, ConvFrontEnd, SpecAugment, check_regularisers, recurrent_layer
from rnnkit.ops.lengths import check_lengths, length_mask

BLANK = 0


@dataclass(frozen=True)
class SpeechRecognizerConfig:
    """`input_size` features per input frame; `num_units` outputs including the blank (id 0).
    `stack` input frames per output frame; `conv_layers` convolution blocks (width `conv_kernel`,
    `hidden_size` channels) after stacking; SpecAugment with `freq_masks` bands of up to
    `freq_width` features and `time_masks` spans of up to `time_width` input frames (0 turns it off).
    `sample_rate` is the audio rate the features were computed at: inputs are resampled to it."""

    input_size: int
    num_units: int
    sample_rate: int = 16000
    stack: int = 3
    conv_layers: int = 0
    conv_kernel: int = 5
    cell: str = "gru"
    hidden_size: int = 128
    num_layers: int = 2
    bidirectional: bool = True
    dropout: float = 0.1
    freq_masks: int = 2
    freq_width: int = 8
    time_masks: int = 2
    time_width: int = 10

    regularisers: dict = field(default_factory=dict)  # recurrent-layer regularisers (layers.REGULARISERS)

    def __post_init__(self) -> None:
        check_regularisers(self.regularisers)
        if self.input_size < 1 or self.num_units < 2:
            raise ValueError(f"input_size must be >= 1 and num_units >= 2 (blank and one unit); got {self.input_size}, {self.num_units}")
        if self.stack < 1:
            raise ValueError(f"stack must be at least 1; got {self.stack}")
        if self.cell not in RECURRENT_LAYERS:
            raise ValueError(f"cell must be one of {sorted(RECURRENT_LAYERS)}; got {self.cell!r}")
        if self.conv_layers < 0 or self.conv_kernel < 1 or self.conv_kernel % 2 == 0:
            raise ValueError(f"conv_layers must be >= 0 and conv_kernel odd; got {self.conv_layers}, {self.conv_kernel}")

    @property
    def streamable(self) -> bool:
        """True when every output frame depends only on input frames up to it (no backward RNN,
        no convolution window reaching ahead), so the model can transcribe while audio arrives."""
        return not self.bidirectional and self.conv_layers == 0


def stacked_lengths(lengths: Tensor, stack: int) -> Tensor:
    """Output frames for inputs of `lengths` frames under stacking by `stack`: ceil(n / stack)."""
    return (lengths + stack - 1) // stack


def stack_frames(xs: Tensor, lengths: Tensor | None, stack: int) -> Tensor:
    """(B, T, F) -> (B, ceil(T / k), k * F): k consecutive frames side by side. Frames past a row's
    length are zeroed first, so a row's last group is padded with zeros however it was batched."""
    if stack == 1:
        return xs
    batch, steps, size = xs.shape
    if lengths is not None:
        xs = xs * length_mask(lengths, steps, xs.device).unsqueeze(2).to(xs.dtype)
    extra = (-steps) % stack
    if extra:
        xs = torch.cat([xs, xs.new_zeros(batch, extra, size)], dim=1)
    return xs.reshape(batch, (steps + extra) // stack, stack * size)


class SpeechRecognizer(nn.Module):
    """features (B, T, F), lengths (B,) -> (logits (B, ceil(T / k), num_units), RNN state).

        x' = stack_k(SpecAugment(x));  h = RNN(conv(x'));  logits = W dropout(h) + b

    Pass `state` back to continue a stream (streamable configurations only: each call must then
    bring a multiple of `stack` frames, except the last).

    >>> model = SpeechRecognizer(SpeechRecognizerConfig(input_size=40, num_units=12))
    >>> logits, _ = model(torch.randn(2, 100, 40), lengths=torch.tensor([100, 61]))
    >>> logits.shape, model.output_lengths(torch.tensor([100, 61])).tolist()
    (torch.Size([2, 34, 12]), [34, 21])
    """

    def __init__(self, config: SpeechRecognizerConfig) -> None:
        super().__init__()
        self.config = config
        self.augment = SpecAugment(config.freq_masks, config.freq_width, config.time_masks, config.time_width)
        width = config.input_size * config.stack
        self.convs = ConvFrontEnd(width, config.hidden_size, config.conv_layers, config.conv_kernel) if config.conv_layers else None
        self.rnn = recurrent_layer(
            config.cell, config.hidden_size if self.convs is not None else width, config.hidden_size, config.regularisers,
            num_layers=config.num_layers,
            bidirectional=config.bidirectional, dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(config.hidden_size * (2 if config.bidirectional else 1), config.num_units)

    @classmethod
    def from_config(cls, config: SpeechRecognizerConfig) -> SpeechRecognizer:
        return cls(config)

    def output_lengths(self, lengths: Tensor) -> Tensor:
        return stacked_lengths(lengths, self.config.stack)

    def forward(self, features: Tensor, lengths: Tensor | None = None, state=None) -> tuple[Tensor, object]:
        if features.dim() != 3 or features.shape[2] != self.config.input_size:
            raise ValueError(f"features must be (batch, frames, {self.config.input_size}); got {tuple(features.shape)}")
        if state is not None and not self.config.streamable:
            raise ValueError("carrying state across calls needs a streamable model (unidirectional, conv_layers=0)")
        if lengths is not None:
            lengths = check_lengths(lengths, features.shape[0], features.shape[1])
        xs = stack_frames(self.augment(features, lengths), lengths, self.config.stack)
        out_lengths = None if lengths is None else self.output_lengths(lengths)
        if self.convs is not None:
            xs = self.convs(xs, out_lengths)
        ys, state = self.rnn(self.dropout(xs), state, lengths=out_lengths)
        return self.output(self.dropout(ys)), state
