"""Sequence classification: a recurrent encoder over tokens or numeric features, pooled into one
vector per sequence, then a linear layer to class scores."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from rnnkit.layers import RECURRENT_LAYERS, AttentionPooling, ConvFrontEnd, check_regularisers, recurrent_layer
from rnnkit.ops.lengths import length_mask, masked_max, masked_mean

POOLINGS = ("last", "mean", "max", "attention")


@dataclass(frozen=True)
class SequenceClassifierConfig:
    """Exactly one of `vocab_size` (token ids in, through an embedding of `embedding_size`) and
    `input_size` (numeric features in, through a linear projection to `embedding_size`).
    `pooling` in last | mean | max | attention.

    `conv_layers` > 0 puts that many convolution blocks (width `conv_kernel`, `embedding_size`
    channels, batch norm over valid steps, ReLU; layers.ConvFrontEnd) between the input and the RNN,
    as in DeepConvLSTM: local shapes first, their order second. `word_dropout` (token inputs only)
    replaces each token by <unk> (id 0) with that probability while training."""

    num_classes: int
    vocab_size: int | None = None
    input_size: int | None = None
    embedding_size: int = 128
    cell: str = "lstm"
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = False
    pooling: str = "last"
    dropout: float = 0.2
    attention_size: int = 64
    conv_layers: int = 0
    conv_kernel: int = 5
    word_dropout: float = 0.0

    regularisers: dict = field(default_factory=dict)  # recurrent-layer regularisers (layers.REGULARISERS)

    def __post_init__(self) -> None:
        check_regularisers(self.regularisers)
        if (self.vocab_size is None) == (self.input_size is None):
            raise ValueError("give exactly one of vocab_size (token inputs) and input_size (numeric inputs)")
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be at least 2; got {self.num_classes}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}; got {self.pooling!r}")
        if self.cell not in RECURRENT_LAYERS:
            raise ValueError(f"cell must be one of {sorted(RECURRENT_LAYERS)}; got {self.cell!r}")
        if self.conv_layers < 0 or self.conv_kernel < 1 or self.conv_kernel % 2 == 0:
            raise ValueError(f"conv_layers must be >= 0 and conv_kernel odd and >= 1; got {self.conv_layers}, {self.conv_kernel}")
        if not 0.0 <= self.word_dropout < 1.0:
            raise ValueError(f"word_dropout must be in [0, 1); got {self.word_dropout}")
        if self.word_dropout and self.vocab_size is None:
            raise ValueError("word_dropout applies to token inputs (vocab_size), not numeric features")


class SequenceClassifier(nn.Module):
    """inputs (B, T) ids or (B, T, I) features, lengths (B,) -> class logits (B, C).

        h_1..h_T = RNN(embed(x));  v = pool(h, lengths);  logits = W dropout(v) + b

    `last` pools each direction's state at its last valid step, `mean`/`max` the valid steps,
    `attention` learns weights over the valid steps (see `encode` for them).

    >>> model = SequenceClassifier(SequenceClassifierConfig(num_classes=3, input_size=4, hidden_size=8))
    >>> model(torch.randn(2, 5, 4), lengths=torch.tensor([5, 2])).shape
    torch.Size([2, 3])
    """

    def __init__(self, config: SequenceClassifierConfig) -> None:
        super().__init__()
        self.config = config
        if config.vocab_size is not None:
            self.embed = nn.Embedding(config.vocab_size, config.embedding_size)
        else:
            self.embed = nn.Linear(config.input_size, config.embedding_size)
        self.convs = (ConvFrontEnd(config.embedding_size, config.embedding_size, config.conv_layers, config.conv_kernel)
                      if config.conv_layers else None)
        self.rnn = recurrent_layer(
            config.cell, config.embedding_size, config.hidden_size, config.regularisers, num_layers=config.num_layers,
            bidirectional=config.bidirectional, dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        width = config.hidden_size * (2 if config.bidirectional else 1)
        self.attention = AttentionPooling(width, config.attention_size) if config.pooling == "attention" else None
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(width, config.num_classes)

    @classmethod
    def from_config(cls, config: SequenceClassifierConfig) -> SequenceClassifier:
        return cls(config)

    def states(self, inputs: Tensor, lengths: Tensor | None = None):
        """The RNN's outputs (B, T, D*H) and final state: embedding (or projection), the convolutional
        front end if any, dropout, RNN."""
        xs = self.embed(inputs)
        if self.convs is not None:
            xs = self.convs(xs, lengths)
        return self.rnn(self.dropout(xs), lengths=lengths)

    def encode(self, inputs: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """(pooled (B, D*H), attention weights (B, T) for attention pooling, else None)."""
        if self.training and self.config.word_dropout:
            inputs = inputs.masked_fill(torch.rand(inputs.shape, device=inputs.device) < self.config.word_dropout, 0)
        ys, state = self.states(inputs, lengths)
        pooling = self.config.pooling
        if pooling == "attention":
            return self.attention(ys, lengths=lengths)
        if pooling == "last":
            h = state[0] if isinstance(state, tuple) else state  # (L*D, B, H)
            directions = 2 if self.config.bidirectional else 1
            return torch.cat(list(h[-directions:]), dim=1), None
        if pooling == "mean":
            return masked_mean(ys, lengths), None
        return masked_max(ys, lengths), None

    def forward(self, inputs: Tensor, lengths: Tensor | None = None) -> Tensor:
        pooled, _ = self.encode(inputs, lengths)
        return self.output(self.dropout(pooled))


class LanguageModelPretraining(nn.Module):
    """A text classifier's own embedding and RNN trained as a language model, before the classifier
    learns from labels (Dai & Le 2015, "Semi-supervised sequence learning"): the forward direction
    predicts each next token and, for a bidirectional RNN, the backward direction each previous one.
    The prediction heads are thrown away afterwards; the classifier keeps what its layers learned.

    Needs token inputs, and no layer that would let a direction read the tokens it must predict: a
    bidirectional RNN has one layer (a second reads both directions), and there is no convolutional
    front end (its window spans the next tokens).

    forward(inputs (B, T) ids, lengths (B,)) -> mean cross-entropy over the predicted tokens.
    """

    def __init__(self, classifier: SequenceClassifier) -> None:
        super().__init__()
        config = classifier.config
        if config.vocab_size is None:
            raise ValueError("language-model pre-training needs token inputs (text), not numeric features")
        if config.bidirectional and config.num_layers > 1:
            raise ValueError("language-model pre-training of a bidirectional RNN needs num_layers=1 "
                             "(a second layer reads both directions, so the tokens it would predict)")
        if config.conv_layers:
            raise ValueError("language-model pre-training needs conv_layers=0 (a convolution reads the next tokens)")
        self.classifier = classifier
        self.next_token = nn.Linear(config.hidden_size, config.vocab_size)
        self.previous_token = nn.Linear(config.hidden_size, config.vocab_size) if config.bidirectional else None

    def forward(self, inputs: Tensor, lengths: Tensor | None = None) -> Tensor:
        model, size = self.classifier, self.classifier.config.hidden_size
        ys, _ = model.states(inputs, lengths)  # no front end here (refused above), no word dropout
        ys = model.dropout(ys)
        steps = inputs.shape[1]
        valid = torch.ones_like(inputs, dtype=torch.bool) if lengths is None else length_mask(lengths, steps, inputs.device)
        pairs = valid[:, 1:]  # (t, t + 1) both inside the sequence
        if not bool(pairs.any()):
            return ys.sum() * 0.0  # one-token sequences only: nothing to predict
        losses = [nn.functional.cross_entropy(self.next_token(ys[:, :-1, :size][pairs]), inputs[:, 1:][pairs])]
        if self.previous_token is not None:
            losses.append(nn.functional.cross_entropy(self.previous_token(ys[:, 1:, size:][pairs]), inputs[:, :-1][pairs]))
        return sum(losses) / len(losses)
