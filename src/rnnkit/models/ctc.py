"""Decoding CTC outputs: greedy (best path, repeats collapsed, blanks dropped), prefix beam search
with pruning and optional shallow fusion with a language model (Hannun et al. 2014, "First-pass
large vocabulary continuous speech recognition using bi-directional recurrent DNNs"), and Viterbi
forced alignment of a token sequence, which gives each token's frames and so word timestamps.

Inputs are log-probabilities (T, V) of one utterance (or (B, T, V) with lengths for greedy), blank 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from rnnkit.models.recognizer import BLANK

NEG_INF = float("-inf")


def collapse(path: Sequence[int], blank: int = BLANK) -> list[int]:
    """A frame-level path to tokens: merge runs of one id, then drop blanks."""
    out, previous = [], None
    for token in path:
        if token != previous and token != blank:
            out.append(token)
        previous = token
    return out


@torch.no_grad()
def greedy_decode(log_probs: Tensor, lengths: Tensor | None = None) -> list[list[int]]:
    """(B, T, V) scores (log-probabilities or logits: only the argmax matters) -> tokens per row."""
    if log_probs.dim() != 3:
        raise ValueError(f"log_probs must be (batch, frames, units); got {tuple(log_probs.shape)}")
    best = log_probs.argmax(-1).cpu().tolist()
    limits = [len(row) for row in best] if lengths is None else lengths.cpu().tolist()
    return [collapse(row[:n]) for row, n in zip(best, limits)]


class ScoreCache:
    """Memoised language-model scores of a prefix beam search: log p(token | prefix) and the end."""

    def __init__(self, lm) -> None:
        self.lm, self.cache = lm, {}

    def token(self, prefix: tuple, token: int) -> float:
        key = (prefix, token)
        if key not in self.cache:
            self.cache[key] = self.lm.logp(prefix, token)
        return self.cache[key]

    def end(self, prefix: tuple) -> float:
        key = (prefix, None)
        if key not in self.cache:
            self.cache[key] = self.lm.end_logp(prefix)
        return self.cache[key]


@dataclass
class BeamResult:
    tokens: list[int]
    score: float  # log p_ctc(tokens | audio) + lm_weight * log p_lm(tokens, end) + bonus * len(tokens)


def beam_search(log_probs: Tensor, beam_size: int = 8, lm=None, lm_weight: float = 0.0, bonus: float = 0.0,
                token_min_prob: float = 1e-3, blank_skip: float = 0.999) -> list[BeamResult]:
    """CTC prefix beam search over (T, V) log-probabilities; the `beam_size` best prefixes, best first.

    Each prefix keeps the probability of its paths ending in a blank and in its last token; a frame
    extends a prefix by every token with probability >= `token_min_prob` (pruning), and frames
    where the blank's probability exceeds `blank_skip` extend nothing (prefixes only absorb the
    blank, or the repeat of their last token). With `lm` (an object with `logp(prefix, token)` and
    `end_logp(prefix)`, e.g. models.ngram.NGramModel) and `lm_weight` > 0, every token added
    scores lm_weight * log p_lm(token | prefix) + bonus (shallow fusion with an insertion bonus), and
    the end of the utterance lm_weight * log p_lm(end | prefix).

    With beam_size 1 it keeps the most probable prefix (summed over its paths), which is not always
    greedy's best path: they can differ when a prefix's mass is split between ending in a blank and
    in its last token. On peaky posteriors (every frame's best id above 0.8, as trained CTC models
    give) they agreed in every test. Callers that want greedy decoding call greedy_decode.
    """
    if log_probs.dim() != 2:
        raise ValueError(f"log_probs must be (frames, units) for one utterance; got {tuple(log_probs.shape)}")
    if beam_size < 1:
        raise ValueError(f"beam_size must be at least 1; got {beam_size}")
    frames = log_probs.float().log_softmax(-1).cpu().numpy()  # renormalised: logits are accepted too
    scores = ScoreCache(lm) if lm is not None and lm_weight else None
    min_logp = math.log(token_min_prob) if token_min_prob > 0 else NEG_INF
    skip_logp = math.log(blank_skip) if blank_skip > 0 else NEG_INF
    beams: dict[tuple, list[float]] = {(): [0.0, NEG_INF]}  # prefix -> [log p_blank-ending, log p_token-ending]
    for row in frames:
        blank_lp = float(row[BLANK])
        candidates = [] if blank_lp > skip_logp else [int(c) for c in np.nonzero(row >= min_logp)[0] if c != BLANK]
        following: dict[tuple, list[float]] = {}
        for prefix, (pb, pnb) in beams.items():
            total = _logaddexp(pb, pnb)
            entry = following.setdefault(prefix, [NEG_INF, NEG_INF])
            entry[0] = _logaddexp(entry[0], total + blank_lp)
            last = prefix[-1] if prefix else None
            if last is not None:  # the last token repeated: same prefix
                entry[1] = _logaddexp(entry[1], pnb + float(row[last]))
            for c in candidates:
                extended = prefix + (c,)
                gain = float(row[c]) + (lm_weight * scores.token(prefix, c) + bonus if scores is not None else bonus)
                new = following.setdefault(extended, [NEG_INF, NEG_INF])
                new[1] = _logaddexp(new[1], (pb if c == last else total) + gain)
        beams = dict(sorted(following.items(), key=lambda kv: -_logaddexp(*kv[1]))[:beam_size])
    results = []
    for prefix, (pb, pnb) in beams.items():
        end = lm_weight * scores.end(prefix) if scores is not None else 0.0
        results.append(BeamResult(list(prefix), _logaddexp(pb, pnb) + end))
    return sorted(results, key=lambda r: -r.score)


def _logaddexp(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


def min_frames(tokens: Sequence[int]) -> int:
    """The fewest frames CTC needs for `tokens`: one per token, plus a blank between repeats."""
    return len(tokens) + sum(1 for a, b in zip(tokens, tokens[1:]) if a == b)


@dataclass
class Alignment:
    """A forced alignment: each token's frames [start, end) and the log-probability of the path."""

    spans: list[tuple[int, int]]
    log_prob: float


def align(log_probs: Tensor, tokens: Sequence[int]) -> list[tuple[int, int]]:
    """Viterbi forced alignment: each token's frames [start, end) on the most likely CTC path of
    (T, V) log-probabilities that yields `tokens` (forced_align has the path's probability too)."""
    return forced_align(log_probs, tokens).spans


def forced_align(log_probs: Tensor, tokens: Sequence[int]) -> Alignment:
    """The most likely CTC path of (T, V) log-probabilities that yields `tokens`: each token's frames
    and the path's log-probability. Raises ValueError when T < min_frames(tokens)."""
    lp = log_probs.float().log_softmax(-1).cpu().numpy()
    steps, count = lp.shape[0], len(tokens)
    if count == 0:
        return Alignment([], float(lp[:, BLANK].sum()))
    if steps < min_frames(tokens):
        raise ValueError(f"{steps} frames cannot hold {count} tokens ({min_frames(tokens)} frames are needed)")
    states = np.full(2 * count + 1, BLANK)
    states[1::2] = tokens
    skip = np.zeros(2 * count + 1, dtype=bool)  # s may come from s - 2: a token unlike the one before
    skip[3::2] = np.asarray(tokens[1:]) != np.asarray(tokens[:-1])
    score = np.full(2 * count + 1, NEG_INF)
    score[:2] = lp[0, states[:2]]
    back = np.zeros((steps, 2 * count + 1), dtype=np.int8)  # 0: stay, 1: from s - 1, 2: from s - 2
    for t in range(1, steps):
        stay, one, two = score, np.r_[NEG_INF, score[:-1]], np.where(skip, np.r_[NEG_INF, NEG_INF, score[:-2]], NEG_INF)
        choice = np.argmax(np.stack([stay, one, two]), axis=0)
        back[t] = choice
        score = np.choose(choice, [stay, one, two]) + lp[t, states]
    s = 2 * count if score[2 * count] >= score[2 * count - 1] else 2 * count - 1
    best = float(score[s])
    path = np.empty(steps, dtype=np.int64)
    for t in range(steps - 1, -1, -1):
        path[t] = s
        s -= back[t, s]
    spans = []
    for i in range(count):
        where = np.nonzero(path == 2 * i + 1)[0]
        spans.append((int(where[0]), int(where[-1]) + 1))
    return Alignment(spans, best)


def word_spans(tokens: Sequence[int], spans: Sequence[tuple[int, int]], separator: int | None) -> list[tuple[list[int], int, int]]:
    """Group tokens into words: split at `separator` (the space unit; None: every token is a word);
    each word as (its tokens, first frame, end frame)."""
    words, current = [], []
    for token, span in zip(tokens, spans):
        if separator is not None and token == separator:
            if current:
                words.append(current)
            current = []
            continue
        current.append((token, span))
        if separator is None:
            words.append(current)
            current = []
    if current:
        words.append(current)
    return [([t for t, _ in word], word[0][1][0], word[-1][1][1]) for word in words]
