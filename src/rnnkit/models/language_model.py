"""A recurrent language model: embedding, stacked RNN/LSTM/GRU (or any rnnkit cell), output projection
(with the regularisation and weight tying of Merity et al. 2018 and Press & Wolf 2017)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.layers import RECURRENT_LAYERS, LockedDropout, check_regularisers, recurrent_layer
from rnnkit.ops.dropout import sequence_mask


@dataclass(frozen=True)
class LanguageModelConfig:
    """vocab_size tokens; `cell` any name of layers.RECURRENT_LAYERS; dropout on the embeddings
    (`embedding_dropout`), between layers and on the outputs (`dropout`); with `locked_dropout` the
    embedding and output dropouts draw one mask per sequence (AWD-LSTM's LockedDropout) instead of one
    per step; `token_dropout` zeroes whole vocabulary entries of the embedding matrix for a batch
    (AWD's embedding dropout, Gal & Ghahramani 2016); `tie_weights` shares the embedding with the
    output projection (then embedding_size must equal hidden_size); `regularisers` go to the
    recurrent layers (weight_drop, variational_dropout between layers, ...)."""

    vocab_size: int
    cell: str = "lstm"
    embedding_size: int = 128
    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.2
    embedding_dropout: float = 0.1
    tie_weights: bool = False
    locked_dropout: bool = False
    token_dropout: float = 0.0

    regularisers: dict = field(default_factory=dict)  # recurrent-layer regularisers (layers.REGULARISERS)

    def __post_init__(self) -> None:
        check_regularisers(self.regularisers)
        if self.cell not in RECURRENT_LAYERS:
            raise ValueError(f"cell must be one of {sorted(RECURRENT_LAYERS)}; got {self.cell!r}")
        for name in ("dropout", "embedding_dropout", "token_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1); got {getattr(self, name)!r}")
        if self.vocab_size < 2:
            raise ValueError(f"vocab_size must be at least 2; got {self.vocab_size}")
        if self.tie_weights and self.embedding_size != self.hidden_size:
            raise ValueError(
                f"tie_weights needs embedding_size == hidden_size; got {self.embedding_size} and {self.hidden_size}"
            )


class LanguageModel(nn.Module):
    """Next-token model: ids (B, T) -> logits (B, T, V), with the recurrent state in and out.

        e_t = dropout(E[x_t]);  h_t = RNN(e_t, h_{t-1});  logits_t = W dropout(h_t) + b

    >>> model = LanguageModel.from_config(LanguageModelConfig(vocab_size=50, hidden_size=32, embedding_size=16))
    >>> logits, state = model(torch.randint(0, 50, (2, 7)))
    >>> logits.shape
    torch.Size([2, 7, 50])
    """

    def __init__(self, config: LanguageModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_size)
        drop = LockedDropout if config.locked_dropout else nn.Dropout
        self.embedding_dropout = drop(config.embedding_dropout)
        self.rnn = recurrent_layer(
            config.cell, config.embedding_size, config.hidden_size, regularisers=config.regularisers, num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.output_dropout = drop(config.dropout)
        self.output = nn.Linear(config.hidden_size, config.vocab_size)
        if config.tie_weights:
            self.output.weight = self.embedding.weight

    @classmethod
    def from_config(cls, config: LanguageModelConfig) -> LanguageModel:
        return cls(config)

    def forward(self, ids: Tensor, state=None, lengths: Tensor | None = None):
        if ids.dim() != 2:
            raise ValueError(f"ids must be 2-D (batch, time); got shape {tuple(ids.shape)}")
        embedded = self.embedding_dropout(self._embed(ids))
        ys, state = self.rnn(embedded, state, lengths=lengths)
        return self.output(self.output_dropout(ys)), state

    def _embed(self, ids: Tensor) -> Tensor:
        p = self.config.token_dropout
        if not (self.training and p):
            return self.embedding(ids)
        weight = self.embedding.weight
        keep = sequence_mask(weight.shape[0], 1, p, weight)  # one draw per vocabulary entry, scaled by 1/(1 - p)
        return F.embedding(ids, weight * keep)  # every occurrence of a dropped token is zero

    @torch.no_grad()
    def step(self, ids: Tensor, state=None):
        """Logits for the next token after `ids` (B, T), and the state to continue from: feed a prompt
        once, then one token at a time, carrying the state (constant work per generated token)."""
        logits, state = self(ids, state)
        return logits[:, -1], state
