"""Contiguous streams for truncated backpropagation through time.

The sequences (documents) are laid out on B rows, each row a stream that the batches walk through
`bptt` steps at a time, so row b of one batch continues row b of the previous one and the recurrent
state can be carried across. A sequence never shares a chunk with the next one on its row: it ends
with a shorter chunk (lengths < bptt), and the next sequence starts a fresh chunk with `reset` set, so
the carried state is zeroed exactly where a document ends.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from rnnkit.data.batches import Batch


class StreamBatches:
    """Truncated-BPTT batches over (inputs (T_i, ...), targets (T_i, ...)) pairs.

    Sequences go to rows longest first, each to the row with the fewest chunks so far, so rows end
    close together; a row that runs out first gets empty chunks (length 0) at the end of the epoch.

    >>> text = torch.arange(20)
    >>> data = StreamBatches([(text[:-1], text[1:])], batch_size=2, bptt=4)
    >>> [b.inputs[0].tolist() for b in data.batches(epoch=0, seed=0)][:2]
    [[0, 1, 2, 3], [4, 5, 6, 7]]
    """

    def __init__(self, sequences: Sequence[tuple[Tensor, Tensor]], batch_size: int, bptt: int, *, target_pad: float | None = None) -> None:
        if batch_size < 1 or bptt < 1:
            raise ValueError(f"batch_size and bptt must be at least 1; got {batch_size} and {bptt}")
        sequences = [(x, y) for x, y in sequences if len(x) > 0]
        if not sequences:
            raise ValueError("there is no data: every sequence is empty")
        for i, (x, y) in enumerate(sequences):
            if len(x) != len(y):
                raise ValueError(f"sequence {i}: inputs have {len(x)} steps but targets have {len(y)}")
        if len(sequences) == 1 and len(sequences[0][0]) >= batch_size:
            sequences = _split_one_stream(sequences[0], batch_size)
        self.sequences, self.batch_size, self.bptt = sequences, batch_size, bptt
        floating = sequences[0][1].is_floating_point()
        self.target_pad = target_pad if target_pad is not None else (0.0 if floating else -100)
        self.plan = self._plan()  # per row: list of (sequence index, start) chunks
        self._layout()

    def _plan(self) -> list[list[tuple[int, int]]]:
        rows: list[list[tuple[int, int]]] = [[] for _ in range(self.batch_size)]
        by_length = sorted(range(len(self.sequences)), key=lambda i: (-len(self.sequences[i][0]), i))
        for i in by_length:
            row = min(range(self.batch_size), key=lambda r: (len(rows[r]), r))
            chunks = math.ceil(len(self.sequences[i][0]) / self.bptt)
            rows[row].extend((i, k * self.bptt) for k in range(chunks))
        return rows

    def _layout(self) -> None:
        """Lay the plan out once as (B, chunks * bptt) tensors, so a batch is a slice."""
        chunks, bptt = len(self), self.bptt
        x0, y0 = self.sequences[0]
        self._inputs = x0.new_zeros((self.batch_size, chunks * bptt, *x0.shape[1:]))
        self._targets = y0.new_full((self.batch_size, chunks * bptt, *y0.shape[1:]), self.target_pad)
        self._lengths = torch.zeros(self.batch_size, chunks, dtype=torch.long)
        self._reset = torch.zeros(self.batch_size, chunks, dtype=torch.bool)
        for row, plan in enumerate(self.plan):
            for index, (seq, begin) in enumerate(plan):
                if begin > 0:
                    continue  # a sequence is copied whole, at its first chunk
                x, y = self.sequences[seq]
                at = index * bptt
                self._inputs[row, at : at + len(x)] = x
                self._targets[row, at : at + len(y)] = y
                n_chunks = math.ceil(len(x) / bptt)
                self._lengths[row, index : index + n_chunks] = bptt
                self._lengths[row, index + n_chunks - 1] = len(x) - (n_chunks - 1) * bptt
                self._reset[row, index] = True

    def __len__(self) -> int:
        return max(len(row) for row in self.plan)

    def batches(self, epoch: int, seed: int, start: int = 0, rank: int = 0, world_size: int = 1) -> Iterator[Batch]:
        """Chunks `start`, `start`+1, ... of the epoch (the layout is the same every epoch); with
        world_size > 1, this rank's rows."""
        rows = slice(rank, None, world_size)
        for index in range(start, len(self)):
            steps = slice(index * self.bptt, (index + 1) * self.bptt)
            yield Batch(
                self._inputs[rows, steps].contiguous(), self._targets[rows, steps].contiguous(),
                self._lengths[rows, index].contiguous(), self._reset[rows, index].contiguous(), per_step=True,
            )


def _split_one_stream(pair: tuple[Tensor, Tensor], rows: int) -> list[tuple[Tensor, Tensor]]:
    """One long stream cut into `rows` contiguous pieces of equal length (the remainder dropped)."""
    x, y = pair
    per_row = len(x) // rows
    return [(x[r * per_row : (r + 1) * per_row], y[r * per_row : (r + 1) * per_row]) for r in range(rows)]
