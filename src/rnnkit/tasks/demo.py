"""A first look at rnnkit: the adding problem (Hochreiter & Schmidhuber 1997), generated on the fly.

Each input step holds a random value in [0, 1) and a marker; exactly two steps are marked, one in each
half of the sequence, and the target is the sum of the two marked values. Always answering 1.0 scores
an MSE of about 0.167; solving the task needs memory across the whole sequence, which an LSTM or GRU
learns within a few hundred steps and a vanilla RNN typically does not.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rnnkit.layers import RECURRENT_LAYERS

BASELINE_MSE = 1 / 6  # variance of the sum of two U(0, 1) values: the MSE of always answering 1.0


@dataclass(frozen=True)
class DemoConfig:
    cell: str = "lstm"
    seq_len: int = 50
    hidden_size: int = 64
    batch_size: int = 64
    steps: int = 800
    lr: float = 1e-2
    clip: float = 1.0
    seed: int = 0
    log_every: int = 50
    device: str = "cpu"


def adding_batch(batch_size: int, seq_len: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """x (B, T, 2) of [value, marker] pairs and y (B,), the sum of the two marked values."""
    values = torch.rand(batch_size, seq_len, generator=generator)
    markers = torch.zeros(batch_size, seq_len)
    rows = torch.arange(batch_size)
    half = seq_len // 2
    markers[rows, torch.randint(0, half, (batch_size,), generator=generator)] = 1.0
    markers[rows, torch.randint(half, seq_len, (batch_size,), generator=generator)] = 1.0
    return torch.stack([values, markers], dim=2), (values * markers).sum(dim=1)


class AddingModel(nn.Module):
    """A recurrent layer read out by a linear layer at the last step: (B, T, 2) -> (B,)."""

    def __init__(self, cell: str, hidden_size: int) -> None:
        super().__init__()
        self.rnn = RECURRENT_LAYERS[cell](2, hidden_size)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x: Tensor) -> Tensor:
        ys, _ = self.rnn(x)
        return self.head(ys[:, -1]).squeeze(1)


def run_demo(config: DemoConfig, log: Callable[[str], None] = lambda line: print(line, file=sys.stderr)) -> list[float]:
    """Train on the adding problem; log the loss every `log_every` steps; return every step's loss."""
    if config.cell not in RECURRENT_LAYERS:
        raise ValueError(f"cell must be one of {sorted(RECURRENT_LAYERS)}; got {config.cell!r}")
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    model = AddingModel(config.cell, config.hidden_size).to(config.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    log(
        f"adding problem, T={config.seq_len}: {config.cell.upper()} with {config.hidden_size} units; "
        f"always answering 1.0 scores MSE {BASELINE_MSE:.3f}"
    )
    losses, start = [], time.perf_counter()
    for step in range(1, config.steps + 1):
        x, y = adding_batch(config.batch_size, config.seq_len, generator)
        loss = nn.functional.mse_loss(model(x.to(config.device)), y.to(config.device))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimizer.step()
        losses.append(loss.item())
        if step % config.log_every == 0 or step == config.steps:
            recent = sum(losses[-config.log_every :]) / len(losses[-config.log_every :])
            log(f"step {step:5d}  mse {recent:.4f}  ({time.perf_counter() - start:.0f}s)")
    return losses
