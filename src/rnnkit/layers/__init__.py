"""Layers that run cells over time (RNN, LSTM, GRU; stacked, bidirectional, lengths, two kernels)
attention over sequences, a convolutional front end, SpecAugment masking, GRU-D over time, ConvLSTM over clips, and layer-normalised LSTM and GRU."""

from rnnkit.layers.attention import AdditiveAttention, Attention, AttentionPooling, DotAttention, GeneralAttention
from rnnkit.layers.convlstm import ConvLSTM
from rnnkit.layers.convolution import ConvFrontEnd, MaskedBatchNorm1d
from rnnkit.layers.grud import GRUD
from rnnkit.layers.layernorm import LayerNormGRU, LayerNormLSTM
from rnnkit.layers.recurrent import GRU, LSTM, RNN, KernelChoice, RecurrentLayer
from rnnkit.layers.specaugment import SpecAugment

# The one mapping from a cell name (as on the command line and in configs) to its layer class.
RECURRENT_LAYERS = {"rnn": RNN, "lstm": LSTM, "gru": GRU, "lnlstm": LayerNormLSTM, "lngru": LayerNormGRU}


def carries_cell_state(cell: str) -> bool:
    """Whether the layer named `cell` keeps an (h, c) pair as its state (the LSTMs) rather than h alone."""
    return issubclass(RECURRENT_LAYERS[cell], LSTM)

__all__ = [
    "RECURRENT_LAYERS", "carries_cell_state",
    "GRU", "GRUD", "LSTM", "RNN", "AdditiveAttention", "Attention", "AttentionPooling", "DotAttention",
    "ConvFrontEnd", "ConvLSTM", "LayerNormGRU", "LayerNormLSTM", "GeneralAttention", "KernelChoice", "MaskedBatchNorm1d", "RecurrentLayer", "SpecAugment",
]
