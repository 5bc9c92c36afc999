"""An n-gram language model over token ids with interpolated Kneser-Ney smoothing (Chen & Goodman
1998), for shallow fusion in CTC beam search: estimated from text (e.g. the training transcripts)
in the units the recognizer outputs, characters or words, and saved as JSON.

    P(w | h) = max(c(h, w) - D, 0) / c(h) + D * N(h, .) / c(h) * P(w | h')

where h' drops the oldest token, c are counts at the highest order and continuation counts (the
number of distinct tokens seen before h w) below it, N(h, .) is the number of distinct tokens seen
after h, and the recursion ends in the uniform distribution. Ids 1..V-1 are tokens (0, the CTC
blank, never occurs in text), and 0 stands for the end of a sentence.

    >>> lm = NGramModel.fit([[1, 2, 3], [1, 2, 2]], order=3, vocab_size=4)
    >>> round(sum(math.exp(lm.logp([1], w)) for w in range(4)), 6)
    1.0
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

END = 0
START = -1  # padding before the first token of a sentence


class NGramModel:
    def __init__(self, order: int, vocab_size: int, tables: list[dict[tuple, dict[int, int]]], discount: float = 0.75) -> None:
        if order < 1 or len(tables) != order:
            raise ValueError(f"an order-{order} model needs {order} count tables; got {len(tables)}")
        if not 0.0 < discount < 1.0:
            raise ValueError(f"discount must be in (0, 1); got {discount}")
        self.order, self.vocab_size, self.discount, self.tables = order, vocab_size, discount, tables
        self.totals = [{ctx: (sum(c.values()), len(c)) for ctx, c in table.items()} for table in tables]
        self._cache: dict[tuple, float] = {}

    @classmethod
    def fit(cls, sentences: Sequence[Sequence[int]], order: int = 3, vocab_size: int | None = None, discount: float = 0.75) -> NGramModel:
        """Estimate from sentences of token ids (1..vocab_size-1)."""
        if order < 1:
            raise ValueError(f"order must be at least 1; got {order}")
        sentences = [list(s) for s in sentences]
        if not any(sentences):
            raise ValueError("the language model needs at least one non-empty sentence")
        largest = max(max(s) for s in sentences if s)
        vocab_size = largest + 1 if vocab_size is None else vocab_size
        if largest >= vocab_size or min(min(s) for s in sentences if s) < 1:
            raise ValueError(f"token ids must lie in 1..{vocab_size - 1}")
        grams: list[dict[tuple, dict[int, int]]] = [defaultdict(lambda: defaultdict(int)) for _ in range(order)]
        seen: list[set] = [set() for _ in range(order + 1)]
        for sentence in sentences:
            padded = [START] * (order - 1) + sentence + [END]
            for i in range(order - 1, len(padded)):
                grams[order - 1][tuple(padded[i - order + 1 : i])][padded[i]] += 1
                for m in range(2, order + 1):  # distinct m-grams give the continuation counts of order m - 1
                    seen[m].add(tuple(padded[i - m + 1 : i + 1]))
        for m in range(2, order + 1):
            for gram in seen[m]:
                grams[m - 2][gram[1:-1]][gram[-1]] += 1
        return cls(order, vocab_size, [{ctx: dict(c) for ctx, c in table.items()} for table in grams], discount)

    def _prob(self, k: int, context: tuple, token: int) -> float:
        if k == 0:
            return 1.0 / self.vocab_size
        key = (k, context, token)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        lower = self._prob(k - 1, context[1:], token)
        counts = self.tables[k - 1].get(context)
        if counts is None:
            value = lower
        else:
            total, distinct = self.totals[k - 1][context]
            value = max(counts.get(token, 0) - self.discount, 0.0) / total + self.discount * distinct / total * lower
        self._cache[key] = value
        return value

    def _context(self, prefix: Sequence[int]) -> tuple:
        if self.order == 1:
            return ()
        history = list(prefix[-(self.order - 1) :])
        return tuple([START] * (self.order - 1 - len(history)) + history)

    def logp(self, prefix: Sequence[int], token: int) -> float:
        """log P(token | the tokens of `prefix` so far)."""
        return math.log(self._prob(self.order, self._context(prefix), token))

    def end_logp(self, prefix: Sequence[int]) -> float:
        """log P(the sentence ends | prefix)."""
        return self.logp(prefix, END)

    def sentence_logp(self, sentence: Sequence[int]) -> float:
        sentence = list(sentence)
        return sum(self.logp(sentence[:i], t) for i, t in enumerate(sentence)) + self.end_logp(sentence)

    def perplexity(self, sentences: Sequence[Sequence[int]]) -> float:
        """exp(-mean log-probability per predicted token, the ends included)."""
        total = sum(self.sentence_logp(s) for s in sentences)
        count = sum(len(s) + 1 for s in sentences)
        return math.exp(-total / max(count, 1))

    def to_dict(self) -> dict:
        return {"kind": "ngram-kneser-ney", "order": self.order, "vocab_size": self.vocab_size, "discount": self.discount,
                "tables": [[[list(ctx), [[w, c] for w, c in counts.items()]] for ctx, counts in table.items()] for table in self.tables]}

    @classmethod
    def from_dict(cls, data: dict) -> NGramModel:
        if data.get("kind") != "ngram-kneser-ney":
            raise ValueError(f"not an rnnkit n-gram model (kind {data.get('kind')!r})")
        tables = [{tuple(ctx): {int(w): int(c) for w, c in counts} for ctx, counts in table} for table in data["tables"]]
        return cls(int(data["order"]), int(data["vocab_size"]), tables, float(data["discount"]))
