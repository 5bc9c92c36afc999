"""A pre-norm transformer over sequences (Vaswani et al. 2017; pre-norm as in GPT-2, Radford et al.
2019), written against torch's scaled_dot_product_attention: the baseline rnnkit's recurrent layers
are measured against.

Same conventions as the recurrent layers: batch-first (B, T, d) inputs, `lengths` (B,) for variable
lengths (outputs are zero past each length), and `(outputs, cache)` back. The cache is the keys and
values of the steps seen so far, one (k, v) pair per block, each (B, heads, T, d / heads): with it a
causal transformer reads one new step at the cost of attending to the past ones, instead of
recomputing them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.ops.lengths import length_mask

POSITIONS = ("learned", "sinusoidal")


def sinusoidal_positions(length: int, size: int, offset: int = 0, device=None) -> Tensor:
    """(length, size): PE[p, 2i] = sin(p / 10000^(2i/size)), PE[p, 2i+1] = cos(...), p from `offset`."""
    position = torch.arange(offset, offset + length, device=device, dtype=torch.float32).unsqueeze(1)
    rates = torch.exp(torch.arange(0, size, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / size))
    table = torch.zeros(length, size, device=device)
    table[:, 0::2] = torch.sin(position * rates)
    table[:, 1::2] = torch.cos(position * rates[: size // 2])
    return table


class SelfAttention(nn.Module):
    """Multi-head self-attention: q, k, v = x W_q, x W_k, x W_v split into heads;
    softmax(q k^T / sqrt(d_head) + mask) v, heads joined, then W_o. `mask` (B or 1, 1, Tq, Tk) is
    boolean with True = may attend (scaled_dot_product_attention's convention)."""

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model ({d_model}) must be a multiple of num_heads ({num_heads})")
        self.num_heads, self.dropout = num_heads, dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: Tensor, mask: Tensor | None, cache: tuple[Tensor, Tensor] | None = None):
        batch, steps, size = x.shape
        q, k, v = self.qkv(x).view(batch, steps, 3, self.num_heads, size // self.num_heads).permute(2, 0, 3, 1, 4)
        if cache is not None:  # the keys and values of the earlier steps come first
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(batch, steps, size)), (k, v)


class TransformerBlock(nn.Module):
    """x = x + Dropout(Attention(LayerNorm(x)));  x = x + Dropout(W_2 GELU(W_1 LayerNorm(x)))."""

    def __init__(self, d_model: int, num_heads: int, ff_size: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attention = SelfAttention(d_model, num_heads, dropout)
        self.feed_forward = nn.Sequential(nn.Linear(d_model, ff_size), nn.GELU(), nn.Linear(ff_size, d_model))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor | None, cache=None):
        attended, cache = self.attention(self.norm1(x), mask, cache)
        x = x + self.dropout(attended)
        return x + self.dropout(self.feed_forward(self.norm2(x))), cache


class Transformer(nn.Module):
    """A stack of pre-norm blocks over (B, T, d_model) inputs, positions added first, a final
    LayerNorm last; outputs (B, T, d_model), zero past each row's length.

    `causal`: step t attends to steps <= t only (a decoder; changing a later input changes no earlier
    output), and a cache from an earlier call continues the sequence. Otherwise every valid step
    attends to every valid step of its row (an encoder). Padding (steps >= lengths) is never attended
    to. `positions`: learned (one vector per position, up to `max_len`) or sinusoidal (fixed, any
    length). `input_scale` multiplies the inputs before the positions are added (Vaswani et al. scale
    embeddings by sqrt(d_model) for sinusoidal positions, whose entries are of size 1).

    >>> layer = Transformer(16, num_layers=2, num_heads=4, max_len=32, causal=True)
    >>> ys, cache = layer(torch.randn(3, 5, 16), lengths=torch.tensor([5, 2, 4]))
    >>> ys.shape, cache[0][0].shape
    (torch.Size([3, 5, 16]), torch.Size([3, 4, 5, 4]))
    """

    def __init__(self, d_model: int, num_layers: int = 2, num_heads: int = 4, ff_size: int | None = None,
                 dropout: float = 0.0, max_len: int = 512, causal: bool = False, positions: str = "learned",
                 input_scale: float = 1.0) -> None:
        super().__init__()
        if positions not in POSITIONS:
            raise ValueError(f"positions must be one of {POSITIONS}; got {positions!r}")
        if num_layers < 1 or max_len < 1 or not 0.0 <= dropout < 1.0:
            raise ValueError(f"num_layers and max_len must be at least 1 and dropout in [0, 1); got {num_layers}, {max_len}, {dropout}")
        self.d_model, self.max_len, self.causal, self.input_scale = d_model, max_len, causal, float(input_scale)
        self.position = nn.Embedding(max_len, d_model) if positions == "learned" else None
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(TransformerBlock(d_model, num_heads, ff_size or 4 * d_model, dropout) for _ in range(num_layers))
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: Tensor, lengths: Tensor | None = None, cache: list | None = None):
        """(outputs (B, T, d_model), cache: one (k, v) per block, holding the earlier steps and these)."""
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"inputs must be (batch, time, d_model = {self.d_model}); got {tuple(x.shape)}")
        if cache is not None and not self.causal:
            raise ValueError("a cache continues a causal transformer; an encoder reads the whole sequence at once")
        batch, steps, _ = x.shape
        past = 0 if cache is None else cache[0][0].shape[2]
        if self.position is not None and past + steps > self.max_len:
            raise ValueError(f"the sequence is {past + steps} steps long; this transformer has positions for {self.max_len} "
                             "(its max_len): shorten the input, or train with a longer max_len or sinusoidal positions")
        if self.input_scale != 1.0:
            x = x * self.input_scale
        x = self.dropout(x + self._positions(past, steps, x.device))
        mask = self._mask(batch, past, steps, lengths, x.device)
        new_cache = []
        for i, block in enumerate(self.blocks):
            x, layer_cache = block(x, mask, None if cache is None else cache[i])
            new_cache.append(layer_cache)
        ys = self.norm(x)
        if lengths is not None:
            ys = ys * length_mask(lengths, steps, x.device).unsqueeze(-1)  # padded queries attend to nothing useful
        return ys, new_cache

    def _positions(self, offset: int, steps: int, device) -> Tensor:
        if self.position is None:
            return sinusoidal_positions(steps, self.d_model, offset, device)
        return self.position(torch.arange(offset, offset + steps, device=device))

    def _mask(self, batch: int, past: int, steps: int, lengths: Tensor | None, device) -> Tensor | None:
        """(B or 1, 1, T, past + T) booleans, True = may attend; None when every pair may."""
        mask = None
        if self.causal and steps > 1:  # query t (at position past + t) sees keys at positions <= past + t
            keys = torch.arange(past + steps, device=device)
            mask = (keys.unsqueeze(0) <= torch.arange(past, past + steps, device=device).unsqueeze(1)).view(1, 1, steps, past + steps)
        if lengths is not None:
            valid = torch.cat([torch.ones(batch, past, dtype=torch.bool, device=device),
                               length_mask(lengths, steps, device)], dim=1).view(batch, 1, 1, past + steps)
            valid = valid | ~valid.any(dim=-1, keepdim=True)  # a row of length 0 attends to its padding, not to nothing
            mask = valid if mask is None else mask & valid
        return mask


__all__ = ["POSITIONS", "SelfAttention", "Transformer", "TransformerBlock", "sinusoidal_positions"]
