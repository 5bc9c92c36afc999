"""Batches of variable-length sequences: padding with lengths, and a deterministic, shardable order.

The order of every epoch is a pure function of (seed, epoch), so a run resumed mid-epoch sees the
same batches it would have seen, and every process of a distributed run agrees on it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor


@dataclass(frozen=True)
class Batch:
    """One batch. inputs (B, T, ...) padded; targets (B, T, ...) per step (`per_step`) or (B, ...) per
    sequence; lengths (B,) valid steps per row; reset (B,) bool, rows that start a new stream
    (truncated BPTT: their carried state is zeroed before this batch)."""

    inputs: Tensor
    targets: Tensor
    lengths: Tensor | None = None
    reset: Tensor | None = None
    per_step: bool = False

    def to(self, device) -> Batch:
        """The tensors on `device`; `reset` stays on the CPU, where the training loop reads it."""
        move = lambda t: None if t is None else t.to(device, non_blocking=True)  # noqa: E731
        return replace(self, inputs=move(self.inputs), targets=move(self.targets), lengths=move(self.lengths))

    @property
    def num_tokens(self) -> int:
        """Valid time steps in the batch (for throughput figures)."""
        if self.lengths is None:
            return self.inputs.shape[0] * self.inputs.shape[1]
        return int(self.lengths.sum())

    @property
    def num_targets(self) -> int:
        """How many targets the loss averages over: valid steps per step, else rows. Read it before
        moving the batch to a GPU, where it would cost a device sync."""
        return self.num_tokens if self.per_step else self.inputs.shape[0]


def pad_sequences(sequences: Sequence[Tensor], value: float = 0) -> tuple[Tensor, Tensor]:
    """List of (T_i, ...) tensors -> (padded (B, max T, ...), lengths (B,))."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    longest = int(lengths.max()) if len(sequences) else 0
    padded = sequences[0].new_full((len(sequences), longest, *sequences[0].shape[1:]), value)
    for row, seq in enumerate(sequences):
        padded[row, : len(seq)] = seq
    return padded, lengths


def epoch_order(size: int, epoch: int, seed: int, shuffle: bool) -> Tensor:
    """The order of items in an epoch: a permutation drawn from (seed, epoch) alone."""
    if not shuffle:
        return torch.arange(size)
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(size, generator=generator)


class PaddedBatches:
    """Whole sequences in padded batches with lengths, for full backpropagation through time.

    inputs: sequences (T_i, ...) (token ids or features); targets: one per sequence (a label or a
    vector), or with `per_step=True` one per step, (T_i, ...), padded with `target_pad` (default -100
    for integer targets, which the cross-entropy losses ignore, and 0 for real-valued ones).

    >>> data = PaddedBatches([torch.randn(5, 3), torch.randn(2, 3)], torch.tensor([1, 0]), batch_size=2)
    >>> batch = next(data.batches(epoch=0, seed=0))
    >>> batch.inputs.shape, batch.lengths.tolist()
    (torch.Size([2, 5, 3]), [5, 2])
    """

    def __init__(
        self,
        inputs: Sequence[Tensor],
        targets: Sequence[Tensor] | Tensor,
        batch_size: int,
        *,
        per_step: bool = False,
        shuffle: bool = True,
        drop_last: bool = False,
        target_pad: float | None = None,
    ) -> None:
        if len(inputs) == 0:
            raise ValueError("inputs is empty: there must be at least one sequence")
        if len(targets) != len(inputs):
            raise ValueError(f"targets must have one entry per sequence ({len(inputs)}); got {len(targets)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1; got {batch_size}")
        for i, seq in enumerate(inputs):
            if len(seq) == 0:
                raise ValueError(f"sequence {i} is empty: every sequence needs at least one step")
        self.inputs, self.targets = list(inputs), targets
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        first = targets[0]
        if per_step:
            for i, (target, seq) in enumerate(zip(targets, inputs)):
                if len(target) != len(seq):
                    raise ValueError(f"per-step targets of sequence {i} have {len(target)} steps; its input has {len(seq)}")
        self.per_step = per_step
        self.target_pad = target_pad if target_pad is not None else (
            -100 if not torch.as_tensor(first).is_floating_point() else 0.0
        )

    def __len__(self) -> int:
        full, rest = divmod(len(self.inputs), self.batch_size)
        return full if self.drop_last or rest == 0 else full + 1

    def batches(self, epoch: int, seed: int, start: int = 0, rank: int = 0, world_size: int = 1) -> Iterator[Batch]:
        """Batches `start`, `start`+1, ... of `epoch`; with world_size > 1, this rank's share of each."""
        order = epoch_order(len(self.inputs), epoch, seed, self.shuffle)
        for index in range(start, len(self)):
            rows = order[index * self.batch_size : (index + 1) * self.batch_size][rank::world_size].tolist()
            yield self.collate(rows)

    def collate(self, rows: list[int]) -> Batch:
        inputs, lengths = pad_sequences([self.inputs[i] for i in rows])
        if self.per_step:
            targets, _ = pad_sequences([self.targets[i] for i in rows], value=self.target_pad)
        else:
            targets = torch.stack([torch.as_tensor(self.targets[i]) for i in rows])
        return Batch(inputs, targets, lengths, per_step=self.per_step)
