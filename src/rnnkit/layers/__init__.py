"""Layers that run cells over time (RNN, LSTM, GRU; stacked, bidirectional, lengths, two kernels)
and attention over sequences."""

from rnnkit.layers.attention import AdditiveAttention, Attention, AttentionPooling, DotAttention, GeneralAttention
from rnnkit.layers.recurrent import GRU, LSTM, RNN, KernelChoice, RecurrentLayer

__all__ = [
    "GRU", "LSTM", "RNN", "AdditiveAttention", "Attention", "AttentionPooling", "DotAttention",
    "GeneralAttention", "KernelChoice", "RecurrentLayer",
]
