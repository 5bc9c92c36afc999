"""Data: batches of variable-length sequences with lengths, and contiguous streams for truncated BPTT."""

from rnnkit.data.batches import Batch, PaddedBatches, epoch_order, pad_sequences
from rnnkit.data.streams import StreamBatches

__all__ = ["Batch", "PaddedBatches", "StreamBatches", "epoch_order", "pad_sequences"]
