"""Encoder-decoder translation with attention (Luong et al. 2015 "global attention" architecture):
a (bidirectional) RNN encoder, an RNN decoder whose current state queries the source through one of
rnnkit's attention layers — additive (the score of Bahdanau et al. 2015), dot or general (Luong) —
or, with attention "none", only the encoder's summary (Sutskever/Cho-style), to measure what
attention buys on the same data.

Token ids: 0 <pad>, 1 <bos>, 2 <eos> on both sides (the task shifts its tokenizers' ids past them).
Decoding (greedy and batched beam search) lives in models/decoding.py and uses `encode` + `step`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import torch
from torch import Tensor, nn

from rnnkit.layers import (
    RECURRENT_LAYERS,
    AdditiveAttention,
    DotAttention,
    GeneralAttention,
    carries_cell_state,
    check_regularisers,
    recurrent_layer,
)
from rnnkit.ops.state import map_state

PAD, BOS, EOS = 0, 1, 2
ATTENTIONS = ("additive", "dot", "general", "none")
LEGACY_DEFAULTS = {"scale_scores": False}  # what configs saved without these fields meant


@dataclass(frozen=True)
class Seq2SeqConfig:
    src_vocab_size: int
    tgt_vocab_size: int
    embedding_size: int = 256
    hidden_size: int = 256
    num_layers: int = 1
    cell: str = "gru"
    bidirectional: bool = True
    attention: str = "general"
    dropout: float = 0.3
    share_embeddings: bool = False
    tie_output: bool = False
    teacher_forcing: float = 1.0
    # dot and general scores divided by sqrt(hidden_size), as a transformer's are: unscaled, their softmax
    # saturated on Multi30k (one-hot on the last source token). Runs saved before the field existed were
    # unscaled; their configs load with False (LEGACY_DEFAULTS).
    scale_scores: bool = True

    regularisers: dict = field(default_factory=dict)  # recurrent-layer regularisers (layers.REGULARISERS)

    def __post_init__(self) -> None:
        check_regularisers(self.regularisers)
        if self.attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}; got {self.attention!r}")
        if self.cell not in RECURRENT_LAYERS:
            raise ValueError(f"cell must be one of {sorted(RECURRENT_LAYERS)}; got {self.cell!r}")
        if not 0.0 <= self.teacher_forcing <= 1.0:
            raise ValueError(f"teacher_forcing must be in [0, 1]; got {self.teacher_forcing}")
        if self.share_embeddings and self.src_vocab_size != self.tgt_vocab_size:
            raise ValueError("share_embeddings needs one shared vocabulary (equal source and target vocabulary sizes)")


@dataclass
class Memory:
    """What the decoder attends to: encoder outputs (B, S, 2H) (`keys` projected for dot attention),
    source lengths (B,) and the encoder summary (B, 2H). `select` reorders rows (beam search)."""

    outputs: Tensor
    keys: Tensor
    lengths: Tensor
    summary: Tensor

    def select(self, rows: Tensor) -> Memory:
        return Memory(self.outputs[rows], self.keys[rows], self.lengths[rows], self.summary[rows])


class Seq2Seq(nn.Module):
    """src (B, S) ids + lengths, tgt_in (B, T) ids starting with <bos> -> logits (B, T, V_tgt).

        e_1..e_S = BiRNN(embed_src(x));  s_0 = tanh(W_0 [e_fwd,S ; e_bwd,1])
        s_t = RNN_dec(embed_tgt(y_{t-1}), s_{t-1})
        c_t, a_t = attention(s_t, e, lengths)            (attention "none": c_t = summary)
        o_t = tanh(W_c [s_t ; c_t]);  logits_t = W_o dropout(o_t)

    With teacher forcing the decoder runs over the whole target in one (fused) call.

    >>> model = Seq2Seq(Seq2SeqConfig(src_vocab_size=10, tgt_vocab_size=12, hidden_size=8, embedding_size=8))
    >>> model(torch.randint(3, 10, (2, 5)), torch.tensor([5, 3]), torch.randint(3, 12, (2, 4))).shape
    torch.Size([2, 4, 12])
    """

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.config = c = config
        layer = partial(recurrent_layer, c.cell, regularisers=c.regularisers)
        between = c.dropout if c.num_layers > 1 else 0.0
        self.src_embed = nn.Embedding(c.src_vocab_size, c.embedding_size, padding_idx=PAD)
        self.tgt_embed = self.src_embed if c.share_embeddings else nn.Embedding(c.tgt_vocab_size, c.embedding_size, padding_idx=PAD)
        self.encoder = layer(c.embedding_size, c.hidden_size, num_layers=c.num_layers, bidirectional=c.bidirectional, dropout=between)
        memory_size = c.hidden_size * (2 if c.bidirectional else 1)
        self.bridge = nn.Linear(memory_size, c.num_layers * c.hidden_size)
        self.decoder = layer(c.embedding_size, c.hidden_size, num_layers=c.num_layers, dropout=between)
        self.key_proj = nn.Linear(memory_size, c.hidden_size, bias=False) if c.attention == "dot" else None
        self.attention = {
            "additive": lambda: AdditiveAttention(c.hidden_size, memory_size, c.hidden_size),
            "dot": lambda: DotAttention(scaled=c.scale_scores),
            "general": lambda: GeneralAttention(c.hidden_size, memory_size, scaled=c.scale_scores),
            "none": lambda: None,
        }[c.attention]()
        self.combine = nn.Linear(c.hidden_size + memory_size, c.embedding_size if c.tie_output else c.hidden_size)
        self.dropout = nn.Dropout(c.dropout)
        self.output = nn.Linear(self.combine.out_features, c.tgt_vocab_size)
        if c.tie_output:
            self.output.weight = self.tgt_embed.weight

    @classmethod
    def from_config(cls, config: Seq2SeqConfig) -> Seq2Seq:
        return cls(config)

    def embed_source(self, src: Tensor, src_lengths: Tensor) -> Tensor:
        """(B, S, E) encoder inputs for the source: token embeddings here (a captioner embeds frames)."""
        return self.src_embed(src)

    def encode(self, src: Tensor, src_lengths: Tensor) -> tuple[Memory, object]:
        """(memory, initial decoder state) for a source (B, S, ...) with lengths (B,)."""
        outputs, state = self.encoder(self.dropout(self.embed_source(src, src_lengths)), lengths=src_lengths)
        h = state[0] if isinstance(state, tuple) else state  # (layers * directions, B, H)
        summary = torch.cat([h[-2], h[-1]], dim=1) if self.encoder.bidirectional else h[-1]  # last layer, both directions
        layers, hidden = self.decoder.num_layers, self.decoder.hidden_size
        init = torch.tanh(self.bridge(summary)).view(-1, layers, hidden).transpose(0, 1).contiguous()
        decoder_state = (init, torch.zeros_like(init)) if carries_cell_state(self.config.cell) else init
        keys = self.key_proj(outputs) if self.key_proj is not None else outputs
        return Memory(outputs, keys, src_lengths.to(outputs.device), summary), decoder_state

    def decode(self, tgt_in: Tensor, memory: Memory, state) -> tuple[Tensor, object, Tensor | None]:
        """(logits (B, T, V), new state, attention weights (B, T, S) or None) for decoder inputs (B, T)."""
        states, state = self.decoder(self.dropout(self.tgt_embed(tgt_in)), state)  # (B, T, H)
        if self.attention is None:
            context, weights = memory.summary.unsqueeze(1).expand(-1, states.shape[1], -1), None
        else:
            context, weights = self.attention(states, memory.keys, memory.outputs, lengths=memory.lengths)
        combined = torch.tanh(self.combine(torch.cat([states, context], dim=-1)))
        return self.output(self.dropout(combined)), state, weights

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        """Logits (B, T, V) for decoder inputs `tgt_in` (<bos>, y_1, ..., y_{T-1}). In training with
        `teacher_forcing` < 1, each step is fed the gold previous token with that probability and the
        model's own most likely token otherwise (one decision per step for the whole batch)."""
        memory, state = self.encode(src, src_lengths)
        if not self.training or self.config.teacher_forcing >= 1.0:
            return self.decode(tgt_in, memory, state)[0]
        outputs, tokens = [], tgt_in[:, 0]
        for t in range(tgt_in.shape[1]):
            logits, state, _ = self.decode(tokens.unsqueeze(1), memory, state)
            outputs.append(logits)
            if t + 1 < tgt_in.shape[1]:
                gold = bool(torch.rand(()) < self.config.teacher_forcing)
                tokens = tgt_in[:, t + 1] if gold else logits[:, 0].argmax(-1).detach()
        return torch.cat(outputs, dim=1)

    def step(self, tokens: Tensor, memory: Memory, state) -> tuple[Tensor, object, Tensor | None]:
        """One decoding step: previous tokens (B,) -> (log-probabilities (B, V), state, weights (B, S))."""
        logits, state, weights = self.decode(tokens.unsqueeze(1), memory, state)
        logits = logits[:, 0].float()
        logits[:, [PAD, BOS]] = float("-inf")  # never generated
        return torch.log_softmax(logits, dim=-1), state, None if weights is None else weights[:, 0]


def select_state(state, rows: Tensor):
    """Reorder the batch rows (dimension 1) of a decoder state."""
    return map_state(lambda t: t.index_select(1, rows), state)

