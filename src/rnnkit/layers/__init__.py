"""Layers that run cells over time (RNN, LSTM, GRU; stacked, bidirectional, lengths, two kernels)
attention over sequences, a convolutional front end, SpecAugment masking, GRU-D over time, ConvLSTM over clips,
layer-normalised LSTM and GRU, minGRU and minLSTM with a parallel scan, dropout locked over time, and the
transformer they are measured against."""

from rnnkit.layers.attention import AdditiveAttention, Attention, AttentionPooling, DotAttention, GeneralAttention
from rnnkit.layers.classic import GRU, LSTM, RNN
from rnnkit.layers.convlstm import ConvLSTM
from rnnkit.layers.convolution import ConvFrontEnd, MaskedBatchNorm1d
from rnnkit.layers.dropout import LockedDropout
from rnnkit.layers.grud import GRUD
from rnnkit.layers.layernorm import LayerNormGRU, LayerNormLSTM
from rnnkit.layers.minimal import MinGRU, MinLSTM
from rnnkit.layers.recurrent import REGULARISERS, KernelChoice, RecurrentLayer
from rnnkit.layers.revin import RevIN
from rnnkit.layers.specaugment import SpecAugment
from rnnkit.layers.transformer import Transformer

# The one mapping from a cell name (as on the command line and in configs) to its layer class.
RECURRENT_LAYERS = {
    "rnn": RNN, "lstm": LSTM, "gru": GRU, "lnlstm": LayerNormLSTM, "lngru": LayerNormGRU, "mingru": MinGRU,
    "minlstm": MinLSTM,
}


def check_regularisers(regularisers: dict) -> None:
    """Raise ValueError unless `regularisers` maps names in REGULARISERS to values."""
    if not isinstance(regularisers, dict):
        raise ValueError(f"regularisers must be a dict of {', '.join(REGULARISERS)}; got {type(regularisers).__name__}")
    unknown = sorted(set(regularisers) - set(REGULARISERS))
    if unknown:
        raise ValueError(f"unknown regulariser(s) {', '.join(unknown)}; expected some of {', '.join(REGULARISERS)}")


def recurrent_layer(cell: str, input_size: int, hidden_size: int, regularisers: dict | None = None, **kwargs):
    """The layer named `cell` with torch.nn-style `kwargs` and the `regularisers`; a variational
    dropout replaces the per-step `dropout` between layers (the models ask for one or the other)."""
    if cell not in RECURRENT_LAYERS:
        raise ValueError(f"cell must be one of {sorted(RECURRENT_LAYERS)}; got {cell!r}")
    regularisers = dict(regularisers or {})
    check_regularisers(regularisers)
    if regularisers.get("variational_dropout"):
        kwargs["dropout"] = 0.0
    return RECURRENT_LAYERS[cell](input_size, hidden_size, **kwargs, **regularisers)


def carries_cell_state(cell: str) -> bool:
    """Whether the layer named `cell` keeps an (h, c) pair as its state (the LSTMs) rather than h alone."""
    return issubclass(RECURRENT_LAYERS[cell], LSTM)

__all__ = [
    "RECURRENT_LAYERS", "REGULARISERS", "carries_cell_state", "check_regularisers", "recurrent_layer",
    "GRU", "GRUD", "LSTM", "RNN", "AdditiveAttention", "Attention", "AttentionPooling", "DotAttention",
    "ConvFrontEnd", "ConvLSTM", "LayerNormGRU", "LayerNormLSTM", "LockedDropout", "MinGRU", "MinLSTM", "GeneralAttention", "KernelChoice", "MaskedBatchNorm1d", "RecurrentLayer", "RevIN", "SpecAugment", "Transformer",
]
