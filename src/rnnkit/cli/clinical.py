"""`rnnkit clinical`: train GRU-D (or GRU-simple) on irregular records, score it beside a logistic
regression (also from the first K hours), predict each stay's risk or its risk over time, and write
the generated ward example."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from rnnkit.cli.common import (
    add_training_flags,
    clear_run_dir,
    model_overrides,
    regulariser_overrides,
    report_stop,
    saved_run,
    training_overrides,
)
from rnnkit.data.ward import write_ward_example
from rnnkit.tasks import clinical
from rnnkit.tasks.clinical.scoring import SPLITS
from rnnkit.training.plots import plot_metric_curve, plot_risk_over_time

RECORDS = "a folder with one Time,Parameter,Value file per stay (PhysioNet 2012's layout), or one long CSV with an id column"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("clinical", help="risk from irregular clinical records: GRU-D, risk over time",
                                   description="Outcome risk from irregularly sampled records with missing values.")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    train = verbs.add_parser("train", help="train a risk model", formatter_class=argparse.RawDescriptionHelpFormatter,
                             description=f"Train on {RECORDS}, labelled by --outcomes.",
                             epilog="examples:\n  rnnkit clinical example ward/\n"
                             "  rnnkit clinical train --records ward/records --outcomes ward/outcomes.csv --label died --out runs/ward\n"
                             "  rnnkit clinical train --records set-a --outcomes Outcomes-a.txt --label In-hospital_death")
    train.add_argument("--records", help="the stays (required unless --resume)")
    train.add_argument("--outcomes", help="a CSV with an id column (the first) and the label column")
    train.add_argument("--label", default="In-hospital_death", help="the outcome column (0/1)")
    train.add_argument("--backbone", choices=["grud", "simple"], help="GRU-D (default) or a GRU on last values, mask and delta")
    train.add_argument("--representation", choices=["raw", "grid"], default="raw",
                       help="raw observation times (default) or a regular grid of --bin-hours")
    train.add_argument("--bin-hours", type=float, default=1.0)
    train.add_argument("--window-hours", type=float, default=48.0, help="observations after it are dropped")
    train.add_argument("--edge", choices=["keep", "drop"], default="keep", help="an observation exactly at the window's end")
    train.add_argument("--duplicates", choices=["mean", "last", "first"], default="mean", help="several values of a variable at one time")
    train.add_argument("--missing-code", type=float, nargs="*", default=[-1.0], help="descriptor values meaning 'not recorded'")
    train.add_argument("--ranges", type=Path, help='JSON {"HR": [1, 300], ...} of plausible values (default: PhysioNet names)')
    train.add_argument("--no-ranges", action="store_true", help="keep every value")
    train.add_argument("--static", nargs="*", help="descriptor names recorded at time 0 (default: Age Gender Height ICUType Weight)")
    train.add_argument("--static-table", help="descriptors from a CSV (id first) instead of time-0 rows")
    train.add_argument("--static-mode", choices=["head", "init", "none"], help="descriptors beside the head, into the initial state, or unused")
    train.add_argument("--exclude", nargs="*", default=[], help="variables to leave out")
    train.add_argument("--id-column", help="the id column of a single long table")
    train.add_argument("--time-unit", choices=["hours", "minutes"], default="hours", help="unit of plain-number times")
    train.add_argument("--val-fraction", type=float, default=0.1)
    train.add_argument("--test-fraction", type=float, default=0.1)
    train.add_argument("--split-seed", type=int, default=0)
    train.add_argument("--split", help='JSON {"train": [ids], "val": [ids], "test": [ids]} instead of fractions')
    train.add_argument("--pos-weight", default="none", help="none, balanced (negatives / positives) or a number")
    train.add_argument("--head-dropout", type=float)
    train.add_argument("--head-norm", action=argparse.BooleanOptionalAction, default=None,
                       help="batch norm before the output layer (the GRU-D paper's top layer: batch norm plus dropout)")
    add_training_flags(train)
    train.set_defaults(run=_train)

    evaluate = verbs.add_parser("evaluate", help="AUROC, AUPRC, Brier, ECE beside the logistic regression")
    evaluate.add_argument("run_dir", type=Path)
    _scoring_flags(evaluate)
    evaluate.add_argument("--outcomes", required=True)
    evaluate.add_argument("--hours", type=float, nargs="+", help="score from the first K hours only; several give a curve")
    evaluate.add_argument("--threshold", type=float, default=0.5, help="risk at which sensitivity and specificity are counted")
    evaluate.add_argument("--json", action="store_true", help="one JSON object on stdout")
    evaluate.set_defaults(run=_evaluate)

    predict = verbs.add_parser("predict", help="each stay's risk, or its risk after every step (--over-time)")
    predict.add_argument("run_dir", type=Path)
    _scoring_flags(predict, default_split="all")
    predict.add_argument("--over-time", action="store_true", help="the risk after every observation time (or bin)")
    predict.add_argument("--out", type=Path, help="CSV to write (default: standard output)")
    predict.add_argument("--plot", type=Path, help="PNG of the risk over time of the first --plot-stays stays")
    predict.add_argument("--plot-stays", type=int, default=6)
    predict.set_defaults(run=_predict)

    example = verbs.add_parser("example", help="write the generated ward records and outcomes (no download)")
    example.add_argument("out", type=Path)
    example.add_argument("--stays", type=int, default=1000)
    example.add_argument("--seed", type=int, default=0)
    example.set_defaults(run=_example)


def _scoring_flags(parser, default_split: str = "auto") -> None:
    parser.add_argument("--records", required=True, help=RECORDS)
    parser.add_argument("--split", choices=SPLITS, default=default_split,
                        help="auto: the run's test stays when these are its training records, else all")
    parser.add_argument("--ignore-unknown", action="store_true", help="leave out variables the run was not trained on")
    parser.add_argument("--device", default="auto")


def _train(args) -> int:
    if args.resume is not None:
        summary = clinical.resume(args.resume, training_overrides(args))
        _print_summary(summary, args.resume)
        return 0
    if args.records is None or args.outcomes is None:
        raise ValueError("--records and --outcomes are required (or --resume RUN_DIR)")
    ranges = {} if args.no_ranges else (json.loads(args.ranges.read_text()) if args.ranges else None)
    data = {"label": args.label, "representation": args.representation, "bin_hours": args.bin_hours,
            "window_hours": args.window_hours, "edge": args.edge, "duplicates": args.duplicates,
            "missing_codes": tuple(args.missing_code), "ranges": ranges, "exclude": tuple(args.exclude),
            "id_column": args.id_column, "time_unit": args.time_unit, "static_table": args.static_table,
            "val_fraction": args.val_fraction, "test_fraction": args.test_fraction, "split_seed": args.split_seed,
            "split": args.split, "pos_weight": args.pos_weight}
    if args.static is not None:
        data["static"] = tuple(args.static)
    if args.batch_size:
        data["batch_size"] = args.batch_size
    model = model_overrides(args, {"backbone": "backbone", "cell": "cell", "hidden_size": "hidden_size", "dropout": "dropout",
                                   "head_dropout": "head_dropout", "head_norm": "head_norm",
                                   "static_mode": "static"})
    regularise = regulariser_overrides(args)
    if model.get("backbone", "grud") == "grud":  # GRU-D has the paper's own recurrent dropout and nothing else
        extra = sorted(set(regularise.get("regularisers", {})) - {"recurrent_dropout"})
        if extra:
            raise ValueError(f"GRU-D takes --recurrent-dropout only (its paper's); --{extra[0].replace('_', '-')} needs "
                             f"--backbone simple")
        if "regularisers" in regularise:
            model["recurrent_dropout"] = regularise["regularisers"]["recurrent_dropout"]
    else:
        model.update(regularise)
    out = args.out or Path("runs") / "clinical"
    if args.overwrite:
        clear_run_dir(out)
    summary = clinical.train(args.records, args.outcomes, clinical.ClinicalDataConfig(**data), model, training_overrides(args), out)
    _print_summary(summary, out)
    return 0


def _print_summary(summary: dict, out: Path) -> None:
    if summary["best"] is None and summary["stop_reason"] != "interrupted":
        print(f"{summary['steps']} steps ({summary['stop_reason']}); no validation stays, so the last weights are kept")
    elif report_stop(summary, "best", "best validation AUROC", "clinical", out):
        return
    if "test" in summary:
        _print_metrics(summary["test"])
    saved_run(out, f"rnnkit clinical predict {out} --records RECORDS --over-time")


def _print_metrics(m: dict) -> None:
    lr = m["baselines"]["logistic_regression"]
    print(f"{m['count']} stays ({m['positives']} positive; {m['split']}, first {m['hours']:g} h)")
    print(f"{'':22}{'AUROC':>8}{'AUPRC':>8}{'Brier':>8}{'ECE':>8}{'sens':>8}{'spec':>8}   (at risk >= {m['threshold']:g})")
    for name, row in ((m["backbone"], m), ("logistic regression", lr)):
        print(f"{name:22}" + "".join(f"{row[k]:8.3f}" for k in ("auroc", "auprc", "brier", "ece", "sensitivity", "specificity")))


def _evaluate(args) -> int:
    run = clinical.ClinicalRun.load(args.run_dir)
    cohort = clinical.load_cohort(args.records, args.outcomes, run.config)
    results = [clinical.evaluate_run(run, args.records, args.outcomes, split=args.split, hours=h, threshold=args.threshold,
                                     device_name=args.device, cohort=cohort, ignore_unknown=args.ignore_unknown)
               for h in (args.hours or [None])]
    if len(results) > 1:
        hours = [r["hours"] for r in results]
        path = plot_metric_curve(hours, {results[0]["backbone"]: [r["auroc"] for r in results],
                                         "logistic regression": [r["baselines"]["logistic_regression"]["auroc"] for r in results]},
                                 "hours of data", "AUROC", args.run_dir / "plots" / "early_prediction.png")
        print(f"rnnkit: AUROC against hours plotted in {path}", file=sys.stderr)
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else {"by_hours": results}))
        return 0
    for result in results:
        _print_metrics(result)
    return 0


def _predict(args) -> int:
    rows = clinical.predict(args.run_dir, args.records, over_time=args.over_time, split=args.split, device_name=args.device,
                            ignore_unknown=args.ignore_unknown)
    stream = open(args.out, "w", newline="") if args.out else sys.stdout
    try:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()} for row in rows)
    finally:
        if args.out:
            stream.close()
    if args.plot:
        if not args.over_time:
            raise ValueError("--plot draws the risk over time: add --over-time")
        series: dict = {}
        for row in rows:
            if row["id"] in series or len(series) < args.plot_stays:
                hours, risks = series.setdefault(row["id"], ([], []))
                hours.append(row["hours"])
                risks.append(row["risk"])
        print(f"rnnkit: risk over time plotted in {plot_risk_over_time(series, args.plot)}", file=sys.stderr)
    return 0


def _example(args) -> int:
    paths = write_ward_example(args.out, args.stays, args.seed)
    print(f"records: {paths['records']}\noutcomes: {paths['outcomes']}")
    print(f"try: rnnkit clinical train --records {paths['records']} --outcomes {paths['outcomes']} --label died --out runs/ward")
    return 0
