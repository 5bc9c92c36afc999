"""The `rnnkit` command: one subcommand per task, each a thin layer over the task's functions."""

from __future__ import annotations

import argparse
import sys

from rnnkit import __version__
from rnnkit.layers import RECURRENT_LAYERS
from rnnkit.tasks.demo import BASELINE_MSE, DemoConfig, run_demo


def _demo_parser(subparsers) -> None:
    defaults = DemoConfig()
    demo = subparsers.add_parser(
        "demo",
        help="train a small recurrent network on the generated adding problem",
        description="Train a small recurrent network on the adding problem (generated, no download) and "
        "print its loss as it falls. Try --cell rnn to watch a vanilla RNN fail where an LSTM succeeds.",
    )
    demo.add_argument("--cell", choices=sorted(RECURRENT_LAYERS), default=defaults.cell)
    demo.add_argument("--seq-len", type=int, default=defaults.seq_len, help="time steps per sequence")
    demo.add_argument("--hidden-size", type=int, default=defaults.hidden_size)
    demo.add_argument("--batch-size", type=int, default=defaults.batch_size)
    demo.add_argument("--steps", type=int, default=defaults.steps, help="optimizer steps")
    demo.add_argument("--lr", type=float, default=defaults.lr)
    demo.add_argument("--seed", type=int, default=defaults.seed)
    demo.add_argument("--device", default="auto", help="auto (cuda when available), cpu or cuda")
    demo.set_defaults(run=_run_demo)


def _run_demo(args) -> int:
    if args.seq_len < 2 or args.steps < 1 or args.batch_size < 1 or args.hidden_size < 1:
        raise ValueError("--seq-len must be at least 2, and --steps, --batch-size, --hidden-size at least 1")
    device = args.device
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    config = DemoConfig(
        cell=args.cell, seq_len=args.seq_len, hidden_size=args.hidden_size, batch_size=args.batch_size,
        steps=args.steps, lr=args.lr, seed=args.seed, device=device,
    )
    losses = run_demo(config)
    tail = losses[-min(50, len(losses)) :]
    final = sum(tail) / len(tail)
    verdict = "solved" if final < 0.1 * BASELINE_MSE else "not solved"
    print(f"{config.cell}: final mse {final:.4f} vs {BASELINE_MSE:.3f} for always answering 1.0 ({verdict})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnnkit", description="Recurrent neural networks for sequence problems.")
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    subparsers = parser.add_subparsers(dest="task", metavar="TASK")
    _demo_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.task is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.run(args)
    except (ValueError, OSError) as err:
        if args.debug:
            raise
        print(f"rnnkit: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("rnnkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
