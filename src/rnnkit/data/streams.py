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

    def _plan(self) -> list[list[tuple[int, int]]]:
        rows: list[list[tuple[int, int]]] = [[] for _ in range(self.batch_size)]
        by_length = sorted(range(len(self.sequences)), key=lambda i: (-len(self.sequences[i][0]), i))
        for i in by_length:
            row = min(range(self.batch_size), key=lambda r: (len(rows[r]), r))
            chunks = math.ceil(len(self.sequences[i][0]) / self.bptt)
            rows[row].extend((i, k * self.bptt) for k in range(chunks))
        return rows

    def __len__(self) -> int:
        return max(len(row) for row in self.plan)

    def batches(self, epoch: int, seed: int, start: int = 0, rank: int = 0, world_size: int = 1) -> Iterator[Batch]:
        """Chunks `start`, `start`+1, ... of the epoch (the layout is the same every epoch); with
        world_size > 1, this rank's rows."""
        rows = list(range(self.batch_size))[rank::world_size]
        for index in range(start, len(self)):
            yield self._chunk(index, rows)

    def _chunk(self, index: int, rows: list[int]) -> Batch:
        x0, y0 = self.sequences[0]
        inputs = x0.new_zeros((len(rows), self.bptt, *x0.shape[1:]))
        targets = y0.new_full((len(rows), self.bptt, *y0.shape[1:]), self.target_pad)
        lengths = torch.zeros(len(rows), dtype=torch.long)
        reset = torch.zeros(len(rows), dtype=torch.bool)
        for out_row, row in enumerate(rows):
            if index >= len(self.plan[row]):
                continue  # this row has run out: an empty chunk
            seq, begin = self.plan[row][index]
            x, y = self.sequences[seq]
            piece = slice(begin, begin + self.bptt)
            n = len(x[piece])
            inputs[out_row, :n], targets[out_row, :n], lengths[out_row] = x[piece], y[piece], n
            reset[out_row] = begin == 0
        return Batch(inputs, targets, lengths, reset, per_step=True)


def _split_one_stream(pair: tuple[Tensor, Tensor], rows: int) -> list[tuple[Tensor, Tensor]]:
    """One long stream cut into `rows` contiguous pieces of equal length (the remainder dropped)."""
    x, y = pair
    per_row = len(x) // rows
    return [(x[r * per_row : (r + 1) * per_row], y[r * per_row : (r + 1) * per_row]) for r in range(rows)]
