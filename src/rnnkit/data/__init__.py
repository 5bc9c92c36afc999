"""Data: batches of variable-length sequences with lengths, and contiguous streams for truncated BPTT."""

from rnnkit.data.batches import Batch, PaddedBatches, epoch_order, pad_sequences
from rnnkit.data.streams import StreamBatches
from rnnkit.data.text import Document, embedded_corpus, read_documents, read_text_file
from rnnkit.data.tokenizers import BPETokenizer, CharTokenizer, Encoded, WordTokenizer, tokenizer_from_dict

__all__ = [
    "BPETokenizer", "Batch", "CharTokenizer", "Document", "Encoded", "PaddedBatches", "StreamBatches", "WordTokenizer",
    "embedded_corpus", "epoch_order", "pad_sequences", "read_documents", "read_text_file", "tokenizer_from_dict",
]
