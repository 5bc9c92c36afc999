"""Decoding for encoder-decoder models: greedy and batched beam search. Both carry the decoder state
step by step (no re-running of the prefix) and stop at <eos> or at a maximum length relative to the
source, `max_len_a * source_length + max_len_b`, so no input can make them hang.

A model provides `encode(src, lengths) -> (memory, state)` with `memory.select(rows)`, and
`step(tokens, memory, state) -> (log-probabilities (B, V), state, attention (B, S) or None)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from rnnkit.models.seq2seq import BOS, EOS, select_state


@dataclass
class Hypothesis:
    """A decoded target: `tokens` without <bos>/<eos>, `score` the sum of token log-probabilities
    (including the final <eos> when `finished`), `normalized` the score the search ranked by, and
    `attention` (len(tokens) + finished, S) rows of weights over the source (None without attention)."""

    tokens: list[int]
    score: float
    normalized: float
    finished: bool
    attention: Tensor | None = field(default=None, repr=False)


def max_lengths(src_lengths: Tensor, a: float, b: int) -> Tensor:
    return (src_lengths.float() * a + b).floor().long().clamp(min=1)


def length_normalize(score: float, length: int, alpha: float) -> float:
    """GNMT's length penalty: score / ((5 + length) / 6) ** alpha; alpha = 0 ranks by the raw score."""
    return score / (((5 + length) / 6) ** alpha) if alpha else score


@torch.no_grad()
def greedy_decode(model, src: Tensor, src_lengths: Tensor, max_len_a: float = 1.5, max_len_b: int = 10) -> list[Hypothesis]:
    """The most likely next token at every step, for a batch of sources."""
    memory, state = model.encode(src, src_lengths)
    batch = src.shape[0]
    limits = max_lengths(src_lengths, max_len_a, max_len_b).tolist()
    tokens = torch.full((batch,), BOS, dtype=torch.long, device=src.device)
    out: list[list[int]] = [[] for _ in range(batch)]
    weights: list[list[Tensor]] = [[] for _ in range(batch)]
    scores, finished, done = [0.0] * batch, [False] * batch, [False] * batch
    for _ in range(max(limits)):
        logp, state, attention = model.step(tokens, memory, state)
        best, tokens = logp.max(dim=-1)
        best, chosen = best.tolist(), tokens.tolist()
        step_weights = None if attention is None else attention.cpu()  # one transfer per step
        for b in range(batch):
            if done[b]:
                continue
            scores[b] += best[b]
            if step_weights is not None:
                weights[b].append(step_weights[b])
            if chosen[b] == EOS:
                done[b] = finished[b] = True
            else:
                out[b].append(chosen[b])
                done[b] = len(out[b]) >= limits[b]
        if all(done):
            break
    return [Hypothesis(out[b], scores[b], scores[b], finished[b], torch.stack(weights[b]) if weights[b] else None) for b in range(batch)]


@torch.no_grad()
def beam_search(model, src: Tensor, src_lengths: Tensor, beam_size: int = 5, length_penalty: float = 1.0,
                max_len_a: float = 1.5, max_len_b: int = 10) -> list[Hypothesis]:
    """Batched beam search: `beam_size` live hypotheses per source; a hypothesis ends at <eos> (when
    that ranks among the best `beam_size` candidates of its step), and a source is done when no live
    hypothesis can still beat its best ended one (or at its maximum length, where the live ones end
    unfinished). Returns the best hypothesis per source by length-normalised score."""
    if beam_size < 1:
        raise ValueError(f"beam_size must be at least 1; got {beam_size}")
    batch, k = src.shape[0], beam_size
    memory, state = model.encode(src, src_lengths)
    rows = torch.arange(batch, device=src.device).repeat_interleave(k)
    memory, state = memory.select(rows), select_state(state, rows)
    limits = max_lengths(src_lengths, max_len_a, max_len_b).tolist()
    tokens = torch.full((batch * k,), BOS, dtype=torch.long, device=src.device)
    scores = torch.full((batch, k), float("-inf"), device=src.device)
    scores[:, 0] = 0.0  # one live hypothesis to start with
    prefixes: list[list[int]] = [[] for _ in range(batch * k)]
    attentions: list[list[Tensor]] = [[] for _ in range(batch * k)]
    ended: list[list[Hypothesis]] = [[] for _ in range(batch)]
    done = [False] * batch
    for t in range(max(limits)):
        logp, state, attention = model.step(tokens, memory, state)
        step_weights = None if attention is None else attention.cpu()  # one transfer per step
        vocab = logp.shape[-1]
        total = (scores.unsqueeze(-1) + logp.view(batch, k, vocab)).view(batch, -1)
        top_scores, top_index = total.topk(min(2 * k, total.shape[1]), dim=1)
        top_scores, top_index = top_scores.tolist(), top_index.tolist()
        next_rows, next_tokens, next_scores = [], [], []
        for b in range(batch):
            alive = []
            if not done[b]:
                for rank, (score, index) in enumerate(zip(top_scores[b], top_index[b])):
                    if score == float("-inf") or len(alive) == k:
                        break
                    source_row, token = b * k + index // vocab, index % vocab
                    if token != EOS:
                        alive.append((source_row, token, score))
                    elif rank < k:  # an ending counts when it ranks among the best k candidates (beam 1 = greedy)
                        ended[b].append(_hypothesis(prefixes[source_row], score, _with_step(attentions, step_weights, source_row), True, length_penalty))
                last_step = t + 1 >= limits[b]
                if last_step:
                    for source_row, token, score in alive:
                        ended[b].append(_hypothesis(prefixes[source_row] + [token], score, _with_step(attentions, step_weights, source_row), False, length_penalty))
                if last_step or not alive or _settled(ended[b], alive, limits[b], length_penalty):
                    done[b] = True
            if done[b]:
                alive = []
            alive += [(b * k, BOS, float("-inf"))] * (k - len(alive))  # padding rows, never chosen again
            for source_row, token, score in alive:
                next_rows.append(source_row)
                next_tokens.append(token)
                next_scores.append(score)
        if all(done):
            break
        select = torch.tensor(next_rows, device=src.device)
        prefixes = [prefixes[r] + [tok] for r, tok in zip(next_rows, next_tokens)]
        attentions = [_with_step(attentions, step_weights, r) for r in next_rows]
        tokens = torch.tensor(next_tokens, device=src.device)
        scores = torch.tensor(next_scores, device=src.device).view(batch, k)
        state = select_state(state, select)
    return [max(hyps, key=lambda h: h.normalized) for hyps in ended]


def _with_step(attentions: list[list[Tensor]], step_weights: Tensor | None, row: int) -> list[Tensor]:
    """Row `row`'s attention rows so far, with this step's."""
    return attentions[row] + ([step_weights[row]] if step_weights is not None else [])


def _settled(ended: list[Hypothesis], alive: list, limit: int, alpha: float) -> bool:
    """True when no live hypothesis can still beat the best ended one: a live score only falls as it
    grows, so its best possible normalised score is its score over the length penalty at `limit`."""
    if not ended:
        return False
    best_alive = max(score for _, _, score in alive)
    return max(h.normalized for h in ended) >= length_normalize(best_alive, limit + 1, alpha)


def _hypothesis(tokens: list[int], score: float, weights: list[Tensor], finished: bool, alpha: float) -> Hypothesis:
    length = len(tokens) + (1 if finished else 0)
    return Hypothesis(list(tokens), score, length_normalize(score, length, alpha), finished, torch.stack(weights) if weights else None)
