"""Risk from irregular clinical records: GRU-D (Che et al. 2018) or "GRU-simple" (a GRU or LSTM on
the last observed values, the mask and the time since each variable was observed), a logit per step,
optionally with static descriptors in the initial state or beside the head.

Inputs are `rnnkit.data.clinical`'s layout, (B, T, 3D + S) = [values | mask | delta | static].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from rnnkit.cells.grud import GRUDState
from rnnkit.cells.lstm import LSTMState
from rnnkit.layers import RECURRENT_LAYERS, carries_cell_state, check_regularisers, recurrent_layer
from rnnkit.layers.grud import GRUD
from rnnkit.ops.fill import forward_fill

BACKBONES = ("grud", "simple")
STATIC = ("head", "init", "none")


@dataclass(frozen=True)
class ClinicalModelConfig:
    """`backbone` grud | simple (with `cell` gru | lstm | rnn; its inputs are the forward-filled
    values, the mask and log(1 + delta)); `dropout` on the inputs and `recurrent_dropout` on the
    state, each with one mask per sequence as in the paper (simple: input dropout only);
    `head_dropout` before the output layer, and with `head_norm` batch normalisation before that
    (the paper's top layer: batch norm plus dropout); `static` descriptors go beside the head
    ("head"), into the initial state through a tanh layer ("init"), or nowhere ("none")."""

    num_variables: int
    num_static: int = 0
    backbone: str = "grud"
    cell: str = "gru"
    hidden_size: int = 64
    dropout: float = 0.3
    recurrent_dropout: float = 0.3
    head_dropout: float = 0.5
    head_norm: bool = False
    static: str = "head"

    regularisers: dict = field(default_factory=dict)  # recurrent-layer regularisers (layers.REGULARISERS)

    def __post_init__(self) -> None:
        check_regularisers(self.regularisers)
        if self.num_variables < 1 or self.num_static < 0 or self.hidden_size < 1:
            raise ValueError(f"num_variables and hidden_size must be positive and num_static >= 0; got "
                             f"{self.num_variables}, {self.hidden_size}, {self.num_static}")
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}; got {self.backbone!r}")
        if self.cell not in RECURRENT_LAYERS:
            raise ValueError(f"cell must be one of {sorted(RECURRENT_LAYERS)}; got {self.cell!r}")
        if self.static not in STATIC:
            raise ValueError(f"static must be one of {STATIC}; got {self.static!r}")
        for name in ("dropout", "recurrent_dropout", "head_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1); got {getattr(self, name)}")


class ClinicalModel(nn.Module):
    """`logits = model(inputs, lengths)`: one logit per stay, from its last valid step;
    `model.step_logits(inputs, lengths)` (B, T): the logit after every step (risk over time; the
    value at each row's last step is its `forward`).

    >>> model = ClinicalModel(ClinicalModelConfig(num_variables=3, num_static=2, hidden_size=8))
    >>> model(torch.zeros(4, 5, 3 * 3 + 2), torch.tensor([5, 3, 1, 2])).shape
    torch.Size([4])
    """

    def __init__(self, config: ClinicalModelConfig) -> None:
        super().__init__()
        self.config = config
        d, h = config.num_variables, config.hidden_size
        if config.backbone == "grud":
            self.rnn = GRUD(d, h, config.dropout, config.recurrent_dropout)
        else:
            self.rnn = recurrent_layer(config.cell, 3 * d, h, config.regularisers)
        uses_static = config.num_static > 0 and config.static != "none"
        self.init = nn.Linear(config.num_static, h) if uses_static and config.static == "init" else None
        self.head_dropout = nn.Dropout(config.head_dropout)
        head_inputs = h + (config.num_static if uses_static and config.static == "head" else 0)
        self.head_norm = nn.BatchNorm1d(head_inputs) if config.head_norm else None
        self.head = nn.Linear(head_inputs, 1)

    @classmethod
    def from_config(cls, config: ClinicalModelConfig) -> ClinicalModel:
        return cls(config)

    def split(self, inputs: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        d, s = self.config.num_variables, self.config.num_static
        if inputs.dim() != 3 or inputs.shape[2] != 3 * d + s:
            raise ValueError(f"inputs must have shape (batch, time, 3 * {d} + {s}) = [values | mask | delta | static]; "
                             f"got {tuple(inputs.shape)}")
        return inputs[..., :d], inputs[..., d:2 * d], inputs[..., 2 * d:3 * d], inputs[:, 0, 3 * d:]

    def states(self, inputs: Tensor, lengths: Tensor | None = None, state=None) -> tuple[Tensor, object]:
        """(hidden states (B, T, H), final state)."""
        values, mask, delta, static = self.split(inputs)
        if state is None and self.init is not None:
            h0 = torch.tanh(self.init(static)).unsqueeze(0)  # (1, B, H)
            state = self._initial(h0, values)
        if self.config.backbone == "grud":
            return self.rnn(values, mask, delta, lengths, state)
        filled = forward_fill(values, mask, torch.zeros_like(values[:, 0]))  # the training mean (0) before the first value
        features = torch.cat([filled, mask, torch.log1p(delta)], dim=2)  # hours, up to the window, on a GRU-friendly scale
        if self.training and self.config.dropout > 0:
            features = features * GRUD._dropout_mask(features, self.config.dropout)
        return self.rnn(features, state=state, lengths=lengths)

    def _initial(self, h0: Tensor, values: Tensor):
        if self.config.backbone == "grud":
            return GRUDState(h0, self.rnn.cell.x_mean.to(values.dtype).expand(1, values.shape[0], -1))
        return LSTMState(h0, torch.zeros_like(h0)) if carries_cell_state(self.config.cell) else h0

    def step_logits(self, inputs: Tensor, lengths: Tensor | None = None) -> Tensor:
        """(B, T) logits after each step (meaningless past a row's length)."""
        hidden, _ = self.states(inputs, lengths)
        return self.head_logits(hidden, self.split(inputs)[3])

    def forward(self, inputs: Tensor, lengths: Tensor | None = None) -> Tensor:
        hidden, _ = self.states(inputs, lengths)
        last = (lengths if lengths is not None else torch.full((inputs.shape[0],), inputs.shape[1])).to(hidden.device) - 1
        final = hidden[torch.arange(hidden.shape[0], device=hidden.device), last.clamp(min=0)]  # (B, H)
        return self.head_logits(final.unsqueeze(1), self.split(inputs)[3])[:, 0]

    def head_logits(self, hidden: Tensor, static: Tensor) -> Tensor:
        """Logits (B, T) from hidden states (B, T, H) and the static columns (B, S)."""
        if self.head.in_features > self.config.hidden_size:
            hidden = torch.cat([hidden, static.unsqueeze(1).expand(-1, hidden.shape[1], -1)], dim=2)
        if self.head_norm is not None:
            hidden = self._normalise(hidden)
        return self.head(self.head_dropout(hidden)).squeeze(-1)

    def _normalise(self, hidden: Tensor) -> Tensor:
        """Batch norm over the rows (training: the batch's statistics, updating the running ones;
        evaluation, or a batch of one row, which has no statistics: the running ones)."""
        norm, flat = self.head_norm, hidden.flatten(0, 1)
        if self.training and flat.shape[0] == 1:
            out = nn.functional.batch_norm(flat, norm.running_mean, norm.running_var, norm.weight, norm.bias, eps=norm.eps)
        else:
            out = norm(flat)
        return out.view_as(hidden)
