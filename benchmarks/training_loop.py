"""Overhead of rnnkit's training loop: steps/s of `fit` next to a minimal hand-written PyTorch loop
training the same model on the same batches (truncated BPTT over a token stream, Adam).

    python benchmarks/training_loop.py [--device cpu|cuda] [--repeats 3] [--steps 60]

The two are run in turns, each from the same initial weights; each is timed from the end of its
`--warmup`th step to the end of its last (steady state, set-up excluded), and the median of the
repeats is reported. The hand-written loop does what such a loop must (zero_grad, forward with the carried
state, loss, backward, step, detach, loss.item()); `fit` adds its guards, gradient-norm statistics,
scheduling and bookkeeping, without a run directory. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from rnnkit.data import StreamBatches  # noqa: E402
from rnnkit.layers import LSTM  # noqa: E402
from rnnkit.ops.state import detach_state  # noqa: E402
from rnnkit.training import TrainConfig, fit, masked_cross_entropy, model_loss  # noqa: E402

SIZES = {"small": (64, 32, 32), "medium": (256, 32, 64)}  # hidden, batch, bptt


class LM(nn.Module):
    def __init__(self, vocab: int, hidden: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        self.rnn = LSTM(hidden, hidden)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, ids, state=None, lengths=None):
        ys, state = self.rnn(self.embed(ids), state, lengths=lengths)
        return self.out(ys), state


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


class Clock:
    """Marks the end of the warm-up step and of the last step; steps/s in between."""

    def __init__(self, device, warmup: int, steps: int) -> None:
        self.device, self.warmup, self.steps, self.marks = device, warmup, steps, {}

    def tick(self, step: int) -> None:
        if step in (self.warmup, self.steps):
            _sync(self.device)
            self.marks[step] = time.perf_counter()

    def rate(self) -> float:
        return (self.steps - self.warmup) / (self.marks[self.steps] - self.marks[self.warmup])


def hand_loop(model, data, clock: Clock, lr: float) -> float:
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    state, done = None, 0
    while done < clock.steps:
        for batch in data.batches(0, 0):
            batch = batch.to(clock.device)
            optimizer.zero_grad(set_to_none=True)
            logits, new_state = model(batch.inputs, state, lengths=batch.lengths)
            loss = masked_cross_entropy(logits, batch.targets, batch.lengths)
            loss.backward()
            optimizer.step()
            state = detach_state(new_state)
            loss.item()
            done += 1
            clock.tick(done)
            if done == clock.steps:
                break
        state = None
    return clock.rate()


def fit_loop(model, data, clock: Clock, lr: float) -> float:
    config = TrainConfig(epochs=10_000, max_steps=clock.steps, lr=lr, device=str(clock.device), progress=False, log_every=50)
    fit(model, data, config, loss_fn=model_loss(masked_cross_entropy), callbacks=[lambda record: clock.tick(record["step"])])
    return clock.rate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    device = torch.device(args.device)
    vocab = 65
    tokens = torch.randint(0, vocab, (200_000,), generator=torch.Generator().manual_seed(0))
    print(f"torch {torch.__version__}, {device}; steps/s, median of {args.repeats}")
    print(f"{'size':7} {'H':>4} {'B':>3} {'bptt':>4} | {'hand loop':>9} {'fit':>9} | {'fit/hand':>8}")
    for name, (hidden, batch, bptt) in SIZES.items():
        data = StreamBatches([(tokens[:-1], tokens[1:])], batch_size=batch, bptt=bptt)
        torch.manual_seed(0)
        initial = LM(vocab, hidden).state_dict()
        results = {"hand": [], "fit": []}
        for _ in range(args.repeats):
            for label, runner in (("hand", hand_loop), ("fit", fit_loop)):
                model = LM(vocab, hidden)
                model.load_state_dict(initial)
                model.to(device)
                results[label].append(runner(model, data, Clock(device, args.warmup, args.steps), 1e-3))
        hand, ours = statistics.median(results["hand"]), statistics.median(results["fit"])
        print(f"{name:7} {hidden:>4} {batch:>3} {bptt:>4} | {hand:>9.2f} {ours:>9.2f} | {ours / hand:>8.3f}", flush=True)


if __name__ == "__main__":
    main()
