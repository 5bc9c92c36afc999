"""Data: batches of variable-length sequences with lengths, and contiguous streams for truncated BPTT.

The names below load on first use (the tokenizers need no torch; rnnkit.runtime relies on that)."""

from importlib import import_module

_HOMES = {
    "Batch": "batches", "PaddedBatches": "batches", "epoch_order": "batches", "pad_sequences": "batches",
    "StreamBatches": "streams",
    "Document": "text", "embedded_corpus": "text", "read_documents": "text", "read_text_file": "text",
    "BPETokenizer": "tokenizers", "CharTokenizer": "tokenizers", "Encoded": "tokenizers", "WordTokenizer": "tokenizers",
    "tokenizer_from_dict": "tokenizers",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name in _HOMES:
        value = getattr(import_module(f"rnnkit.data.{_HOMES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rnnkit.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
