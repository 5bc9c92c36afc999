"""The `rnnkit` command: one subcommand per task, each a thin layer that maps flags onto the task's
config dataclasses and calls its functions. No training logic lives here."""

from __future__ import annotations

import argparse
import sys

from rnnkit import __version__
from rnnkit.cli import classify, clinical, compare, demo, export, forecast, lm, report, serve, speech, translate, video


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnnkit", description="Recurrent neural networks for sequence problems.")
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    subparsers = parser.add_subparsers(dest="task", metavar="TASK")
    for task in (lm, classify, translate, forecast, speech, clinical, video, compare, report, export, serve, demo):
        task.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    passthrough = None
    if "--" in argv:  # what follows goes unchanged to another command (rnnkit compare TASK ... -- TASK_FLAGS)
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1:]
    args = parser.parse_args(argv)
    if passthrough is not None:
        if not getattr(args, "takes_passthrough", False):
            parser.error("only 'rnnkit compare' takes flags after --")
        args.task_args = passthrough
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
