"""`rnnkit compare`: several models trained on the same data and budget, one table."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rnnkit.cli.common import write_run_report
from rnnkit.tasks import compare


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare", help="train several models on the same data and budget; one table",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train each model on the same data, split, seed and budget (each in its own process and run "
        "directory under --out), then print and save a table: parameters, the task's metric on validation and test, "
        "training time, throughput, peak memory, and for language models milliseconds per generated token. "
        "Flags after -- go to the task's train command unchanged: rnnkit compare TASK [options] -- [TASK_FLAGS].",
        epilog="examples:\n"
        "  rnnkit compare lm --models lstm,gru,transformer --params 200000 --budget-minutes 5 --out runs/cmp\n"
        "  rnnkit compare classify --models lstm,transformer --max-steps 500 --out runs/cmp-sst -- --data train.tsv --test test.tsv\n"
        "  rnnkit compare forecast --models lstm,segrnn,transformer --max-steps 300 --out runs/cmp-ett -- --data ETTh1.csv "
        "--target OT --horizon 24")
    parser.add_argument("task", choices=list(compare.TASKS), help="the task whose train command runs each model")
    parser.add_argument("--models", required=True, help="comma-separated: recurrent cells (lstm, gru, rnn, lnlstm, lngru, "
                        "mingru, minlstm), transformer, and for forecast segrnn")
    parser.add_argument("--max-steps", type=int, help="every model trains for at most N updates")
    parser.add_argument("--budget-minutes", type=float, metavar="M", help="every model trains for M minutes "
                        "(validation included), its cosine schedule decaying over them; alone it lifts the step and epoch "
                        "limits of the task's presets (give --max-steps too to keep a step limit)")
    parser.add_argument("--params", type=int, metavar="N", help="size every model's width to about N parameters")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs") / "compare", help="one run directory per model, the table, "
                        "compare.json and plots/ (default runs/compare)")
    parser.add_argument("--overwrite", action="store_true", help="replace earlier runs of these models under --out")
    parser.add_argument("--json", action="store_true", help="print one JSON object keyed by model name")
    parser.set_defaults(run=_compare, task_args=[], takes_passthrough=True)


def _compare(args) -> int:
    models = compare.parse_models(args.models, args.task)
    budget = compare.Budget(args.max_steps, args.budget_minutes)
    result = compare.compare(args.task, models, args.task_args, budget, args.out, args.seed, args.params, args.overwrite)
    if args.json:
        print(json.dumps(result["models"]))
    else:
        print(compare.table(result))
    written = write_run_report([args.out], args.out / "report.html")
    if not args.json:
        print(f"runs, compare.json, compare.md and plots in {args.out}" + ("" if written is None else f"; report: {written}"))
    if result["failed"]:
        print(f"rnnkit: error: {', '.join(result['failed'])} failed to train; see {args.out / 'logs'}", file=sys.stderr)
        return 1
    return 0
