"""Transformer baselines under the same contracts as the recurrent models: a decoder-only language
model with a key/value cache for generation (GPT-2's layout, Radford et al. 2019; nanoGPT's sizes)
and an encoder for sequence classification, pooled like the RNN classifier.

They exist to be measured against the RNNs on the same data, split, trainer and budget
(`--model transformer` in lm and classify; the forecasting one is models.transformer_forecaster).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from rnnkit.layers import AttentionPooling
from rnnkit.layers.transformer import POSITIONS, Transformer
from rnnkit.ops.lengths import masked_max, masked_mean

POOLINGS = ("last", "mean", "max", "attention")


SCALE_DOC = ("with sinusoidal positions and `scale_inputs`, the inputs are multiplied by sqrt(d_model) before the positions "
             "are added (Vaswani et al. 2017, 3.4): unscaled N(0, 0.02) embeddings were a few percent of the position signal, "
             "and a classifier on SST-2 stayed at chance")


def input_scale(config) -> float:
    """The factor a config's inputs are multiplied by before positions are added (see SCALE_DOC)."""
    return math.sqrt(config.d_model) if config.positions == "sinusoidal" and config.scale_inputs else 1.0


def _check_shape(config) -> None:
    if config.d_model < 2 or config.num_layers < 1 or config.num_heads < 1 or config.d_model % config.num_heads:
        raise ValueError(f"d_model must be a multiple of num_heads, both positive, and num_layers at least 1; got "
                         f"d_model={config.d_model}, num_heads={config.num_heads}, num_layers={config.num_layers}")
    if config.positions not in POSITIONS:
        raise ValueError(f"positions must be one of {POSITIONS}; got {config.positions!r}")
    if not 0.0 <= config.dropout < 1.0:
        raise ValueError(f"dropout must be a probability in [0, 1); got {config.dropout!r}")


@dataclass(frozen=True)
class TransformerLanguageModelConfig:
    """vocab_size tokens; `num_layers` pre-norm blocks of width `d_model` with `num_heads` heads and a
    feed-forward of `ff_size` (None: 4 d_model); positions for `max_len` tokens (the context it can
    read: train with --bptt up to it); `tie_weights` shares the embedding with the output projection."""

    vocab_size: int
    d_model: int = 128
    num_layers: int = 4
    num_heads: int = 4
    ff_size: int | None = None
    dropout: float = 0.0
    max_len: int = 256
    positions: str = "learned"
    tie_weights: bool = True
    scale_inputs: bool = True  # SCALE_DOC; runs saved before the field load with False (LEGACY_DEFAULTS)

    LEGACY_DEFAULTS: ClassVar[dict] = {"scale_inputs": False}

    def __post_init__(self) -> None:
        _check_shape(self)
        if self.vocab_size < 2 or self.max_len < 2:
            raise ValueError(f"vocab_size and max_len must be at least 2; got {self.vocab_size}, {self.max_len}")


class TransformerLanguageModel(nn.Module):
    """Next-token model: ids (B, T) -> logits (B, T, V), causal (logits_t depend on ids_<=t only).

        h_0 = E[x] + P;  h_l = Block_l(h_{l-1});  logits = W LayerNorm(h_L) + b    (W = E when tied)

    Unlike an RNN it carries nothing from one call of forward to the next: each window of a training
    stream is read on its own, so `state` must be None and None comes back. Generation goes through
    `step`, whose state holds the tokens read and each block's keys and values (the KV cache).

    >>> model = TransformerLanguageModel(TransformerLanguageModelConfig(vocab_size=50, d_model=32, num_layers=2))
    >>> logits, state = model(torch.randint(0, 50, (2, 7)))
    >>> logits.shape, state
    (torch.Size([2, 7, 50]), None)
    """

    def __init__(self, config: TransformerLanguageModelConfig) -> None:
        super().__init__()
        self.config = c = config
        self.embedding = nn.Embedding(c.vocab_size, c.d_model)
        self.transformer = Transformer(c.d_model, c.num_layers, c.num_heads, c.ff_size, c.dropout, c.max_len,
                                       causal=True, positions=c.positions, input_scale=input_scale(c))
        self.output = nn.Linear(c.d_model, c.vocab_size)
        self.apply(_init_weights)
        if c.tie_weights:
            self.output.weight = self.embedding.weight

    @classmethod
    def from_config(cls, config: TransformerLanguageModelConfig) -> TransformerLanguageModel:
        return cls(config)

    def forward(self, ids: Tensor, state=None, lengths: Tensor | None = None):
        if ids.dim() != 2:
            raise ValueError(f"ids must be 2-D (batch, time); got shape {tuple(ids.shape)}")
        if state is not None:
            raise ValueError("a transformer language model carries no state between calls of forward; use step() to generate")
        ys, _ = self.transformer(self.embedding(ids), lengths)
        return self.output(ys), None

    @torch.no_grad()
    def step(self, ids: Tensor, state=None):
        """Logits (B, V) for the token after `ids` (B, T), and the state to continue from: the tokens
        read so far and the KV cache, so a new token costs one step attending to the cached ones.
        When the context would pass max_len, the last max_len // 2 tokens are read afresh (positions
        start again at 0), so generation goes on with at least that much context."""
        if ids.dim() != 2:
            raise ValueError(f"ids must be 2-D (batch, time); got shape {tuple(ids.shape)}")
        history, cache = (ids[:, :0], None) if state is None else state
        history = torch.cat([history, ids], dim=1)
        if history.shape[1] > self.config.max_len:
            history, cache, ids = history[:, -(self.config.max_len // 2):], None, history[:, -(self.config.max_len // 2):]
        ys, cache = self.transformer(self.embedding(ids), cache=cache)
        return self.output(ys[:, -1]), (history, cache)


@dataclass(frozen=True)
class TransformerClassifierConfig:
    """Exactly one of `vocab_size` (token ids in) and `input_size` (numeric features in, projected to
    d_model). `pooling` in last | mean | max | attention, over the valid steps as in the RNN
    classifier. Sinusoidal positions (the default) read sequences of any length; learned ones up to
    `max_len`. `word_dropout` (token inputs only) replaces tokens by <unk> (id 0) while training."""

    num_classes: int
    vocab_size: int | None = None
    input_size: int | None = None
    d_model: int = 128
    num_layers: int = 2
    num_heads: int = 4
    ff_size: int | None = None
    dropout: float = 0.1
    max_len: int = 512
    positions: str = "sinusoidal"
    pooling: str = "mean"
    attention_size: int = 64
    word_dropout: float = 0.0
    scale_inputs: bool = True  # SCALE_DOC; runs saved before the field load with False (LEGACY_DEFAULTS)

    LEGACY_DEFAULTS: ClassVar[dict] = {"scale_inputs": False}

    def __post_init__(self) -> None:
        _check_shape(self)
        if (self.vocab_size is None) == (self.input_size is None):
            raise ValueError("give exactly one of vocab_size (token inputs) and input_size (numeric inputs)")
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be at least 2; got {self.num_classes}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}; got {self.pooling!r}")
        if not 0.0 <= self.word_dropout < 1.0 or (self.word_dropout and self.vocab_size is None):
            raise ValueError(f"word_dropout must be in [0, 1), for token inputs only; got {self.word_dropout}")


class TransformerClassifier(nn.Module):
    """inputs (B, T) ids or (B, T, I) features, lengths (B,) -> class logits (B, C).

        h_1..h_T = Encoder(embed(x)) (every valid step attends to every valid step);  v = pool(h);  logits = W dropout(v) + b

    >>> model = TransformerClassifier(TransformerClassifierConfig(num_classes=3, input_size=4, d_model=16))
    >>> model(torch.randn(2, 5, 4), lengths=torch.tensor([5, 2])).shape
    torch.Size([2, 3])
    """

    def __init__(self, config: TransformerClassifierConfig) -> None:
        super().__init__()
        self.config = c = config
        self.embed = nn.Embedding(c.vocab_size, c.d_model) if c.vocab_size is not None else nn.Linear(c.input_size, c.d_model)
        self.encoder = Transformer(c.d_model, c.num_layers, c.num_heads, c.ff_size, c.dropout, c.max_len, positions=c.positions,
                                   input_scale=input_scale(c))
        self.attention = AttentionPooling(c.d_model, c.attention_size) if c.pooling == "attention" else None
        self.dropout = nn.Dropout(c.dropout)
        self.output = nn.Linear(c.d_model, c.num_classes)
        self.apply(_init_weights)

    @classmethod
    def from_config(cls, config: TransformerClassifierConfig) -> TransformerClassifier:
        return cls(config)

    def encode(self, inputs: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """(pooled (B, d_model), attention weights (B, T) for attention pooling, else None)."""
        if self.training and self.config.word_dropout:
            inputs = inputs.masked_fill(torch.rand(inputs.shape, device=inputs.device) < self.config.word_dropout, 0)
        ys, _ = self.encoder(self.embed(inputs), lengths)
        pooling = self.config.pooling
        if pooling == "attention":
            return self.attention(ys, lengths=lengths)
        if pooling == "last":
            last = (lengths.to(ys.device) - 1).clamp_min(0) if lengths is not None else ys.new_full((ys.shape[0],), ys.shape[1] - 1, dtype=torch.long)
            return ys[torch.arange(ys.shape[0], device=ys.device), last], None
        if pooling == "mean":
            return masked_mean(ys, lengths), None
        return masked_max(ys, lengths), None

    def forward(self, inputs: Tensor, lengths: Tensor | None = None) -> Tensor:
        pooled, _ = self.encode(inputs, lengths)
        return self.output(self.dropout(pooled))


def _init_weights(module: nn.Module) -> None:
    """GPT-2's initialisation: N(0, 0.02) weights, zero biases (torch's defaults train transformers worse)."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)


__all__ = ["TransformerClassifier", "TransformerClassifierConfig", "TransformerLanguageModel", "TransformerLanguageModelConfig"]
