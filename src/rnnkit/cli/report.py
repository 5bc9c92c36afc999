"""`rnnkit report`: one self-contained HTML page for run directories and compare directories."""

from __future__ import annotations

import argparse
from pathlib import Path

from rnnkit.tasks import report


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "report", help="write one self-contained HTML page for runs or a comparison",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write one HTML file that needs nothing but itself (figures inlined, no scripts, no links out) "
        "for one or more run directories or compare directories: each run's configuration, data, results next to "
        "its baselines, loss, learning-rate, gradient and throughput curves, the task's own figures, a generated "
        "sample for language models and its checkpoints with sha256; several runs or a compare directory add a "
        "comparison table. Every train and compare writes RUN_DIR/report.html at the end already.",
        epilog="examples:\n"
        "  rnnkit report runs/lm                       (writes runs/lm/report.html)\n"
        "  rnnkit report runs/compare -o compare.html\n"
        "  rnnkit report runs/lstm runs/gru -o both.html")
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR", help="run directories or compare directories")
    parser.add_argument("-o", "--output", type=Path, help="the HTML file (default: report.html inside the one directory "
                        "given, else ./report.html)")
    parser.add_argument("--sample-tokens", type=int, default=300, help="length of a language model's sample (0: none)")
    parser.set_defaults(run=_report)


def _report(args) -> int:
    if args.sample_tokens < 0:
        raise ValueError(f"--sample-tokens must be 0 or more; got {args.sample_tokens}")
    print(f"report written to {report.write_report(args.runs, args.output, args.sample_tokens)}")
    return 0
