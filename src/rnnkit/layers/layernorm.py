"""Layer-normalised LSTM and GRU layers (Ba, Kiros & Hinton 2016): rnnkit.LSTM / rnnkit.GRU with layer
norm inside every step, so they run on the loop kernel (torch's fused kernels have no layer norm)."""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor, nn

from rnnkit.cells.layernorm import Norms, ln_gru_step, ln_lstm_step, project_normalised
from rnnkit.layers.classic import GRU, LSTM


class _Normalised:
    """What both layer-norm layers add to their torch.nn-shaped parent: gains (and the LSTM's cell
    bias) per layer and direction, the normalised projection and step (`norm_step`), and the loop
    kernel."""

    norm_step = None  # the layer-norm step function, (xp, state, weight_hh, bias_hh, norms)
    cell_norm = False  # whether the cell state is normalised too (LSTM)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, **kwargs) -> None:
        if kwargs.get("proj_size"):
            raise ValueError(f"{type(self).__name__} has no proj_size: use rnnkit.LSTM(proj_size=...)")
        super().__init__(input_size, hidden_size, num_layers, **kwargs)
        self._add_norms()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self._reset_norms()

    def _add_norms(self) -> None:
        self._norm_names: list[tuple[str, ...]] = []
        gates = self.num_gates * self.hidden_size
        for layer in range(self.num_layers):
            for suffix in ("", "_reverse")[: self.num_directions]:
                names = [f"ln_ih_weight_l{layer}{suffix}", f"ln_hh_weight_l{layer}{suffix}"]
                shapes = [gates, gates]
                if self.cell_norm:
                    names += [f"ln_c_weight_l{layer}{suffix}", f"ln_c_bias_l{layer}{suffix}"]
                    shapes += [self.hidden_size, self.hidden_size]
                for name, size in zip(names, shapes):
                    self.register_parameter(name, nn.Parameter(torch.empty(size)))
                self._norm_names.append(tuple(names))
        self._reset_norms()

    def _reset_norms(self) -> None:
        """Gains 1 and the cell bias 0: at initialisation each norm only standardises."""
        with torch.no_grad():
            for names in getattr(self, "_norm_names", []):
                for name in names:
                    getattr(self, name).fill_(0.0 if "_bias_" in name else 1.0)

    def _norms(self, block: int) -> Norms:
        return Norms(*(getattr(self, name) for name in self._norm_names[block]))

    def _project(self, block: int, x: Tensor, weight_ih: Tensor, bias_ih: Tensor | None) -> Tensor:
        return project_normalised(x, weight_ih, bias_ih, self._norms(block))

    def _block_step(self, block: int, weight_hh: Tensor, bias_hh: Tensor | None):
        return partial(self.norm_step, weight_hh=weight_hh, bias_hh=bias_hh, norms=self._norms(block))

    def _loop_needs(self) -> list[str]:
        return ["layer norm", *super()._loop_needs()]


class LayerNormLSTM(_Normalised, LSTM):
    """LSTM with layer norm (Ba et al. 2016, section 3.1), gates i, f, g, o, arguments, lengths and the
    (h, c) state layout of `rnnkit.LSTM`; LN(z) = (z - mean(z)) / sqrt(var(z) + eps) over the features:

        (i, f, g, o) = LN(W_ih x_t) * g_ih + b_ih + LN(W_hh h_{t-1}) * g_hh + b_hh
        c_t = σ(f) * c_{t-1} + σ(i) * tanh(g)
        h_t = σ(o) * tanh(LN(c_t) * g_c + b_c)

    Parameters: torch.nn.LSTM's (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ...) plus
    ln_ih_weight_l0, ln_hh_weight_l0 (4H,), ln_c_weight_l0, ln_c_bias_l0 (H,) per layer and
    direction (suffix _reverse). Always the loop kernel.

    >>> lstm = LayerNormLSTM(8, 16, num_layers=2, bidirectional=True)
    >>> ys, (h, c) = lstm(torch.randn(4, 10, 8), lengths=torch.tensor([10, 3, 7, 1]))
    >>> ys.shape, h.shape, lstm.last_kernel.reason
    (torch.Size([4, 10, 32]), torch.Size([4, 4, 16]), 'layer norm needs the loop kernel')
    """

    norm_step = staticmethod(ln_lstm_step)
    cell_norm = True


class LayerNormGRU(_Normalised, GRU):
    """GRU with layer norm on the input and recurrent projections (Ba et al. 2016), torch's gate order
    and formulation (r, z, n, reset applied after W_hn), arguments, lengths and state of `rnnkit.GRU`:

        a = LN(W_ih x_t) * g_ih + b_ih,   b = LN(W_hh h_{t-1}) * g_hh + b_hh      (each 3H: r, z, n)
        r = σ(a_r + b_r),  z = σ(a_z + b_z),  n = tanh(a_n + r * b_n)
        h_t = (1 - z) * n + z * h_{t-1}

    Parameters: torch.nn.GRU's plus ln_ih_weight_l0, ln_hh_weight_l0 (3H,) per layer and direction.

    >>> gru = LayerNormGRU(8, 16)
    >>> ys, h = gru(torch.randn(4, 10, 8))
    >>> h.shape
    torch.Size([1, 4, 16])
    """

    norm_step = staticmethod(ln_gru_step)
