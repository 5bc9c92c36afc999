"""Layers that run cells over time (RNN, LSTM, GRU; stacked, bidirectional, lengths, two kernels)
and attention over sequences."""

from rnnkit.layers.attention import AdditiveAttention, Attention, AttentionPooling, DotAttention, GeneralAttention
from rnnkit.layers.recurrent import GRU, LSTM, RNN, KernelChoice, RecurrentLayer

# The one mapping from a cell name (as on the command line and in configs) to its layer class.
RECURRENT_LAYERS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}

__all__ = [
    "RECURRENT_LAYERS",
    "GRU", "LSTM", "RNN", "AdditiveAttention", "Attention", "AttentionPooling", "DotAttention",
    "GeneralAttention", "KernelChoice", "RecurrentLayer",
]
