"""rnnkit: recurrent neural networks for real sequence problems, on PyTorch.

    >>> import torch, rnnkit
    >>> lstm = rnnkit.LSTM(input_size=8, hidden_size=32, num_layers=2)
    >>> ys, (h, c) = lstm(torch.randn(4, 50, 8), lengths=torch.tensor([50, 20, 35, 1]))
"""

from rnnkit.cells import ConvLSTMCell, GRUCell, GRUDCell, GRUDState, LSTMCell, LSTMState, RNNCell
from rnnkit.layers import (
    GRU,
    GRUD,
    LSTM,
    RNN,
    AdditiveAttention,
    AttentionPooling,
    ConvLSTM,
    DotAttention,
    GeneralAttention,
    KernelChoice,
    LayerNormGRU,
    LayerNormLSTM,
    LockedDropout,
    MinGRU,
    MinLSTM,
    RevIN,
)

__version__ = "0.1.0"

__all__ = [
    "GRU", "GRUD", "GRUDCell", "GRUDState", "LSTM", "RNN", "AdditiveAttention", "AttentionPooling", "ConvLSTM", "ConvLSTMCell", "DotAttention", "GRUCell",
    "GeneralAttention", "KernelChoice", "LayerNormGRU", "LayerNormLSTM", "LockedDropout", "LSTMCell", "MinGRU", "MinLSTM", "LSTMState", "RNNCell", "RevIN", "__version__",
]
