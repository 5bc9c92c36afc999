"""Attention over a sequence with length masks: additive (Bahdanau et al. 2015), dot and general
(Luong et al. 2015), and attention pooling (Yang et al. 2016) for classifiers.

Every layer returns (context, weights); weights are kept for plots. Positions past a row's length
get exactly zero weight, and a row with length 0 is a ValueError rather than NaN.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rnnkit.ops.attention import masked_softmax
from rnnkit.ops.lengths import check_lengths, tracing


def _check_3d(name: str, t: Tensor, size: int | None, what: str) -> None:
    if not isinstance(t, Tensor) or t.dim() != 3:
        got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
        raise ValueError(f"{name} must be 3-D (batch, {what}, features); got {got}")
    if size is not None and t.shape[2] != size:
        raise ValueError(f"{name} must have {size} features in its last dimension; got shape {tuple(t.shape)}")


def _checked_lengths(lengths, batch: int, steps: int) -> Tensor | None:
    if lengths is None:
        return None
    lengths = check_lengths(lengths, batch, steps)
    if batch and not tracing() and int(lengths.min()) == 0:
        row = int((lengths == 0).nonzero()[0])
        raise ValueError(f"lengths[{row}] is 0: a row with no valid positions has nothing to attend to")
    return lengths


class Attention(nn.Module):
    """Base of the query-key attention layers; subclasses define `score`.

    forward(query, keys, values=None, lengths=None) -> (context, weights)
        query  (B, Q) for one decoder step, or (B, Tq, Q) for many
        keys   (B, Tk, K); values (B, Tk, V), default keys
        lengths (B,) valid key positions per row
        context (B, V) or (B, Tq, V); weights (B, Tk) or (B, Tq, Tk), each row summing to 1
    """

    query_size: int | None = None
    key_size: int | None = None

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        """(B, Tq, Q), (B, Tk, K) -> (B, Tq, Tk) unnormalised scores."""
        raise NotImplementedError

    def forward(self, query: Tensor, keys: Tensor, values: Tensor | None = None, lengths=None):
        single = isinstance(query, Tensor) and query.dim() == 2
        if single:
            query = query.unsqueeze(1)
        _check_3d("query", query, self.query_size, "query steps")
        _check_3d("keys", keys, self.key_size, "time")
        values = keys if values is None else values
        _check_3d("values", values, None, "time")
        if not query.shape[0] == keys.shape[0] == values.shape[0]:
            raise ValueError(
                f"query, keys and values must share the batch size; got {query.shape[0]}, {keys.shape[0]}, "
                f"{values.shape[0]}"
            )
        if values.shape[1] != keys.shape[1]:
            raise ValueError(f"values must have as many steps as keys ({keys.shape[1]}); got {values.shape[1]}")
        lengths = _checked_lengths(lengths, keys.shape[0], keys.shape[1])
        weights = masked_softmax(self.score(query, keys), lengths)  # (B, Tq, Tk)
        context = torch.bmm(weights, values)  # (B, Tq, V)
        return (context.squeeze(1), weights.squeeze(1)) if single else (context, weights)


class AdditiveAttention(Attention):
    """Bahdanau's additive attention: score(q, k) = v^T tanh(W_q q + W_k k).

    >>> attn = AdditiveAttention(query_size=6, key_size=4, attention_size=5)
    >>> ctx, w = attn(torch.randn(2, 6), torch.randn(2, 7, 4), lengths=torch.tensor([7, 3]))
    >>> ctx.shape, w.shape
    (torch.Size([2, 4]), torch.Size([2, 7]))
    """

    def __init__(self, query_size: int, key_size: int, attention_size: int) -> None:
        super().__init__()
        self.query_size, self.key_size = query_size, key_size
        self.query_proj = nn.Linear(query_size, attention_size, bias=False)
        self.key_proj = nn.Linear(key_size, attention_size)
        self.v = nn.Linear(attention_size, 1, bias=False)

    def score(self, query, keys):
        # (B, Tq, 1, A) + (B, 1, Tk, A) -> (B, Tq, Tk, A) -> (B, Tq, Tk)
        hidden = torch.tanh(self.query_proj(query).unsqueeze(2) + self.key_proj(keys).unsqueeze(1))
        return self.v(hidden).squeeze(-1)


class DotAttention(Attention):
    """Luong's dot attention: score(q, k) = q · k, optionally scaled by 1/sqrt(d) (`scaled=True`).

    >>> ctx, w = DotAttention()(torch.randn(2, 3, 4), torch.randn(2, 5, 4))
    >>> w.shape
    torch.Size([2, 3, 5])
    """

    def __init__(self, scaled: bool = False) -> None:
        super().__init__()
        self.scaled = scaled

    def score(self, query, keys):
        if query.shape[2] != keys.shape[2]:
            raise ValueError(
                f"dot attention needs query and keys of one size; got {query.shape[2]} and {keys.shape[2]} "
                f"(GeneralAttention learns a map between different sizes)"
            )
        scores = torch.bmm(query, keys.transpose(1, 2))
        return scores / math.sqrt(query.shape[2]) if self.scaled else scores


class GeneralAttention(Attention):
    """Luong's general attention: score(q, k) = q^T W k, optionally scaled by 1/sqrt(d) (`scaled=True`,
    d the query size).

    >>> attn = GeneralAttention(query_size=6, key_size=4)
    >>> ctx, w = attn(torch.randn(2, 6), torch.randn(2, 7, 4))
    >>> w.shape
    torch.Size([2, 7])
    """

    def __init__(self, query_size: int, key_size: int, scaled: bool = False) -> None:
        super().__init__()
        self.query_size, self.key_size, self.scaled = query_size, key_size, scaled
        self.key_proj = nn.Linear(key_size, query_size, bias=False)

    def score(self, query, keys):
        scores = torch.bmm(query, self.key_proj(keys).transpose(1, 2))
        return scores / math.sqrt(self.query_size) if self.scaled else scores


class AttentionPooling(nn.Module):
    """Attention pooling over time for classifiers (Yang et al. 2016):

        u_t = tanh(W x_t + b),   a = softmax_t(u_t · u),   pooled = Σ_t a_t x_t

    with a learned context vector u. forward(x (B, T, I), lengths=None) -> (pooled (B, I), weights (B, T)).

    >>> pool = AttentionPooling(8, attention_size=4)
    >>> pooled, w = pool(torch.randn(3, 5, 8), lengths=torch.tensor([5, 2, 4]))
    >>> pooled.shape, float(w[1, 2:].sum())
    (torch.Size([3, 8]), 0.0)
    """

    def __init__(self, input_size: int, attention_size: int) -> None:
        super().__init__()
        self.input_size = input_size
        self.proj = nn.Linear(input_size, attention_size)
        self.context = nn.Linear(attention_size, 1, bias=False)

    def forward(self, x: Tensor, lengths=None) -> tuple[Tensor, Tensor]:
        _check_3d("x", x, self.input_size, "time")
        lengths = _checked_lengths(lengths, x.shape[0], x.shape[1])
        scores = self.context(torch.tanh(self.proj(x))).squeeze(-1)  # (B, T)
        weights = masked_softmax(scores, lengths)
        return torch.bmm(weights.unsqueeze(1), x).squeeze(1), weights
