"""Character-level language modelling on Tiny Shakespeare: validation loss (nats per character) against
wall-clock time on this machine, plus training and generation throughput.

    python benchmarks/lm_tinyshakespeare.py --cell lstm --minutes 45 --max-steps 15000 --out runs/ts-lstm
    python benchmarks/lm_tinyshakespeare.py --preset awd --minutes 45 --out runs/ts-awd      # any preset, any cell

Data: ../shared/data/tinyshakespeare/input.txt (read in place), split as nanoGPT does: the first 90% of
the characters train, the last 10% validate (rnnkit's --data split). Anchors: a uniform model over 65
characters scores ln 65 = 4.17; nanoGPT's small transformer 1.47 on a GPU, its CPU toy configuration
about 1.88. Training stops at --max-steps or after --minutes, whichever comes first; the cosine
schedule is planned over --max-steps, so choose it to fit the time. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from rnnkit.layers import RECURRENT_LAYERS  # noqa: E402
from rnnkit.tasks import lm  # noqa: E402
from rnnkit.training import StopTraining, TrainConfig  # noqa: E402
from rnnkit.training.plots import _pyplot, _save  # noqa: E402
from rnnkit.training.runlog import read_metrics  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "tinyshakespeare" / "input.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--cell", choices=sorted(RECURRENT_LAYERS), help="default: the preset's (lstm)")
    parser.add_argument("--minutes", type=float, default=45.0)
    parser.add_argument("--max-steps", type=int, default=15000)
    parser.add_argument("--eval-every", type=int, default=1000)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if not args.data.is_file():
        sys.exit(f"{args.data} is missing: this benchmark needs the shared Tiny Shakespeare file")

    preset = lm.preset_configs(args.preset)
    data = lm.LMDataConfig(paths=(str(args.data),), **preset.data)
    args.cell = args.cell or preset.model["cell"]
    model = {**preset.model, "cell": args.cell}
    training = {**preset.training, "max_steps": args.max_steps, "epochs": 10_000, "eval_every": args.eval_every, "device": "cpu"}
    deadline = time.perf_counter() + args.minutes * 60

    def stop_at_deadline(record):
        if time.perf_counter() > deadline:
            raise StopTraining

    start = time.perf_counter()
    summary = lm.train(data, model, TrainConfig(**training), args.out, callbacks=[stop_at_deadline])
    wall = time.perf_counter() - start
    records = read_metrics(args.out)
    val = [r for r in records if r["split"] == "val"]
    train_rates = [r["tokens_per_s"] for r in records if r["split"] == "train"]

    print(f"\n{args.cell} / preset {args.preset}: {summary['steps']} steps in {wall / 60:.1f} min ({summary['stop_reason']})")
    print(f"{'minutes':>8} {'step':>6} {'val loss':>9} {'bits/char':>9}")
    for r in val:
        print(f"{r['elapsed_s'] / 60:>8.1f} {r['step']:>6} {r['loss']:>9.4f} {r['bits_per_char']:>9.4f}")
    if not val:
        print(f"no validation before the run stopped ({summary['steps']} steps): give more --minutes or a smaller "
              f"--eval-every")
        return
    best = min(val, key=lambda r: r["loss"])
    print(f"best validation loss {best['loss']:.4f} nats/char at {best['elapsed_s'] / 60:.1f} min (step {best['step']})")
    for target in (1.60, 1.50):
        reached = next((r for r in val if r["loss"] <= target), None)
        print(f"<= {target:.2f}: " + (f"after {reached['elapsed_s'] / 60:.1f} min" if reached else "not reached"))
    print(f"training throughput: {sum(train_rates) / len(train_rates):,.0f} tokens/s (mean of logged windows)")

    tokens, start = 0, time.perf_counter()
    for piece in lm.generate(args.out, "ROMEO:\n", max_tokens=1000, temperature=0.8, seed=0, device_name="cpu"):
        tokens += len(piece)
    print(f"generation: {tokens / (time.perf_counter() - start):,.0f} characters/s (1000 tokens, batch 1, CPU)")
    print("".join(lm.generate(args.out, "ROMEO:\n", max_tokens=300, temperature=0.8, seed=1, device_name="cpu")))

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["elapsed_s"] / 60 for r in val], [r["loss"] for r in val], "o-", label=f"{args.cell} ({args.preset})")
    for y, label in ((1.88, "nanoGPT CPU toy"), (1.47, "nanoGPT baby GPT (GPU)")):
        ax.axhline(y, ls="--", lw=1, color="gray")
        ax.text(0, y, label, fontsize=8, va="bottom")
    ax.set_xlabel("minutes on this machine")
    ax.set_ylabel("validation loss (nats/char)")
    ax.grid(alpha=0.3)
    ax.legend()
    print(f"plot: {_save(fig, plt, args.out / 'plots' / 'val_vs_time.png')}")


if __name__ == "__main__":
    main()
