"""Video captioning (after Venugopalan et al., "Sequence to Sequence — Video to Text", ICCV 2015): the
translation model's attention decoder and beam search, with a per-frame CNN in place of the source
embedding, so the encoder RNN reads frame features and the decoder attends over frames."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.models.video import FrameEncoder, on_valid_frames


@dataclass(frozen=True)
class CaptionerConfig:
    """`vocab_size` of the caption tokens (with the three specials); frames of `channels` through a
    `FrameEncoder` of `conv_channels` to `embedding_size`; the rest as `Seq2SeqConfig`."""

    vocab_size: int
    channels: int = 1
    conv_channels: tuple[int, ...] = (16, 32, 64)
    embedding_size: int = 64
    hidden_size: int = 128
    cell: str = "gru"
    attention: str = "general"
    dropout: float = 0.2
    teacher_forcing: float = 1.0
    regularisers: dict = field(default_factory=dict)  # recurrent-layer regularisers (layers.REGULARISERS)
    scale_scores: bool = True  # as Seq2SeqConfig's (configs saved without it load with False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "conv_channels", tuple(self.conv_channels))
        self.seq2seq()

    def seq2seq(self) -> Seq2SeqConfig:
        return Seq2SeqConfig(src_vocab_size=1, tgt_vocab_size=self.vocab_size, embedding_size=self.embedding_size,
                             hidden_size=self.hidden_size, cell=self.cell, attention=self.attention, dropout=self.dropout,
                             teacher_forcing=self.teacher_forcing, regularisers=self.regularisers,
                             scale_scores=self.scale_scores)


class ClipCaptioner(Seq2Seq):
    """clips (B, T, C, H, W) + lengths, caption ids starting with <bos> -> logits (B, L, V). Only the
    source embedding differs from `Seq2Seq`: `encode` and `step` (what `rnnkit.models.decoding`'s
    greedy and beam search call) are the translation model's.

    >>> import torch
    >>> model = ClipCaptioner(CaptionerConfig(vocab_size=12, conv_channels=(4,), hidden_size=8, embedding_size=8))
    >>> model(torch.rand(2, 5, 1, 16, 16), torch.tensor([5, 3]), torch.randint(3, 12, (2, 4))).shape
    torch.Size([2, 4, 12])
    """

    def __init__(self, config: CaptionerConfig) -> None:
        super().__init__(config.seq2seq())
        self.config = config
        del self.src_embed  # frames, not tokens, are the source
        self.frames = FrameEncoder(config.channels, config.conv_channels, config.embedding_size)

    @classmethod
    def from_config(cls, config: CaptionerConfig) -> ClipCaptioner:
        return cls(config)

    def embed_source(self, src: Tensor, src_lengths: Tensor) -> Tensor:
        """Clips (B, T, C, H, W) -> per-frame features (B, T, E), the encoder RNN's inputs."""
        return on_valid_frames(self.frames, src, src_lengths)
