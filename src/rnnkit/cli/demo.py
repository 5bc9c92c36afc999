"""`rnnkit demo`: the adding problem, generated, to watch a network learn (or fail to)."""

from __future__ import annotations

from rnnkit.layers import RECURRENT_LAYERS
from rnnkit.tasks.demo import BASELINE_MSE, DemoConfig, run_demo


def add_parser(subparsers) -> None:
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
    from rnnkit.training.distributed import resolve_device

    config = DemoConfig(
        cell=args.cell, seq_len=args.seq_len, hidden_size=args.hidden_size, batch_size=args.batch_size,
        steps=args.steps, lr=args.lr, seed=args.seed, device=str(resolve_device(args.device)),
    )
    losses = run_demo(config)
    tail = losses[-min(50, len(losses)) :]
    final = sum(tail) / len(tail)
    verdict = "solved" if final < 0.1 * BASELINE_MSE else "not solved"
    print(f"{config.cell}: final mse {final:.4f} vs {BASELINE_MSE:.3f} for always answering 1.0 ({verdict})")
    return 0
