"""Small models and data sets for the training tests."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

import rnnkit
from rnnkit.data import PaddedBatches, StreamBatches
from rnnkit.layers import RECURRENT_LAYERS


@dataclass(frozen=True)
class ToyConfig:
    vocab: int = 11
    hidden_size: int = 16
    cell: str = "lstm"
    dropout: float = 0.0


class TokenModel(nn.Module):
    """Embedding -> recurrent layer -> dropout -> linear: (B, T) ids -> (B, T, vocab) logits."""

    def __init__(self, config: ToyConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab, config.hidden_size)
        self.rnn = RECURRENT_LAYERS[config.cell](config.hidden_size, config.hidden_size)
        self.drop = nn.Dropout(config.dropout)
        self.out = nn.Linear(config.hidden_size, config.vocab)

    def forward(self, ids, state=None, lengths=None):
        ys, state = self.rnn(self.embed(ids), state, lengths=lengths)
        return self.out(self.drop(ys)), state


class LastStepRegressor(nn.Module):
    """Recurrent layer read out at each row's last valid step: (B, T, I) -> (B,)."""

    def __init__(self, cell: str = "lstm", input_size: int = 2, hidden_size: int = 32) -> None:
        super().__init__()
        self.rnn = RECURRENT_LAYERS[cell](input_size, hidden_size)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x, state=None, lengths=None):
        ys, state = self.rnn(x, state, lengths=lengths)
        last = ys[:, -1] if lengths is None else ys[torch.arange(len(x)), (lengths - 1).clamp(min=0)]
        return self.head(last).squeeze(1), state


def counting_documents(n_docs: int = 6, seed: int = 0) -> list[torch.Tensor]:
    """Documents of ids that count up modulo 11 from a random start: easy to learn, stateful."""
    g = torch.Generator().manual_seed(seed)
    docs = []
    for _ in range(n_docs):
        length = int(torch.randint(8, 30, (1,), generator=g))
        start = int(torch.randint(0, 11, (1,), generator=g))
        docs.append((torch.arange(length) + start) % 11)
    return docs


def lm_pairs(docs):
    return [(d[:-1], d[1:]) for d in docs]


def token_streams(batch_size=3, bptt=5, n_docs=6, seed=0) -> StreamBatches:
    return StreamBatches(lm_pairs(counting_documents(n_docs, seed)), batch_size=batch_size, bptt=bptt)


def token_padded(batch_size=3, n_docs=6, seed=0, shuffle=False) -> PaddedBatches:
    pairs = lm_pairs(counting_documents(n_docs, seed))
    return PaddedBatches([x for x, _ in pairs], [y for _, y in pairs], batch_size, per_step=True, shuffle=shuffle)


def sum_sign_data(n: int = 48, seed: int = 0, batch_size: int = 16) -> PaddedBatches:
    """Label 1 when a variable-length sequence of reals sums to more than 0."""
    g = torch.Generator().manual_seed(seed)
    xs = [torch.randn(int(torch.randint(3, 12, (1,), generator=g)), 2, generator=g) for _ in range(n)]
    ys = torch.tensor([float(x[:, 0].sum() > 0) for x in xs])
    return PaddedBatches(xs, ys, batch_size)


__all__ = ["LastStepRegressor", "TokenModel", "ToyConfig", "rnnkit", "sum_sign_data", "token_padded", "token_streams"]
