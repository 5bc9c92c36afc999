"""rnnkit: recurrent neural networks for real sequence problems, on PyTorch.

    >>> import torch, rnnkit
    >>> lstm = rnnkit.LSTM(input_size=8, hidden_size=32, num_layers=2)
    >>> ys, (h, c) = lstm(torch.randn(4, 50, 8), lengths=torch.tensor([50, 20, 35, 1]))

The names below load on first use, so `import rnnkit.runtime` (exported models on onnxruntime and
numpy) works where torch is not installed.
"""

from importlib import import_module

__version__ = "0.1.0"

_CELLS = ("ConvLSTMCell", "GRUCell", "GRUDCell", "GRUDState", "LSTMCell", "LSTMState", "RNNCell")
_LAYERS = ("GRU", "GRUD", "LSTM", "RNN", "AdditiveAttention", "AttentionPooling", "ConvLSTM", "DotAttention", "GeneralAttention",
           "KernelChoice", "LayerNormGRU", "LayerNormLSTM", "LockedDropout", "MinGRU", "MinLSTM", "RevIN")
_HOMES = {**{name: "rnnkit.cells" for name in _CELLS}, **{name: "rnnkit.layers" for name in _LAYERS}}

__all__ = sorted(_HOMES) + ["__version__"]


def __getattr__(name: str):
    if name in _HOMES:
        value = getattr(import_module(_HOMES[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'rnnkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
