"""`rnnkit forecast`: train, evaluate and predict time-series forecasters; write the example series."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from rnnkit.cli.common import (
    add_model_flags,
    add_training_flags,
    clear_run_dir,
    model_choice_overrides,
    model_overrides,
    regulariser_overrides,
    report_stop,
    saved_run,
    training_overrides,
)
from rnnkit.data.timeseries import write_example, write_panel_example
from rnnkit.tasks import forecast
from rnnkit.training.plots import plot_anomalies


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("forecast", help="time-series forecasting with baselines side by side",
                                   description="Forecast numeric series from a CSV/TSV with a time column.")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    train = verbs.add_parser("train", help="train a forecaster", formatter_class=argparse.RawDescriptionHelpFormatter,
                             description="Train a forecaster on a table (CSV/TSV, .gz, Parquet with pandas). The split is "
                             "chronological; the scaler, season and linear baseline use the training rows only. At the end "
                             "the test part is evaluated next to persistence, seasonal naive and linear baselines.",
                             epilog="examples:\n"
                             "  rnnkit forecast example demand.csv\n"
                             "  rnnkit forecast train --data demand.csv --time-column time --target demand --known temperature "
                             "--calendar --lookback 168 --horizon 24 --out runs/demand\n"
                             "  rnnkit forecast train --data ETTh1.csv --time-column date --target OT --split-rows 8640,2880,2880 "
                             "--lookback 336 --horizon 96")
    train.add_argument("--data", help="the table (required unless --resume)")
    train.add_argument("--time-column", help="column of timestamps (ISO 8601, 2010/01/31 13:00, 31/01/2010, Jan 31 2010, ...) "
                       "or step numbers")
    train.add_argument("--time-format", help="strptime format of the time column when it is not detected, e.g. '%%d.%%m.%%Y %%H:%%M'")
    order = train.add_mutually_exclusive_group()
    order.add_argument("--dayfirst", dest="dayfirst", action="store_const", const=True,
                       help="numeric dates are day/month/year (needed when no date in the column settles the order)")
    order.add_argument("--monthfirst", dest="dayfirst", action="store_const", const=False, help="numeric dates are month/day/year")
    train.add_argument("--time-unit", choices=["s", "ms"], help="the time column holds Unix times in seconds or milliseconds")
    train.add_argument("--target", nargs="+", help="column(s) to forecast")
    train.add_argument("--id-column", help="a long table of many series: the column naming each row's series (one global model "
                       "over all of them; each split and scaled on its own)")
    train.add_argument("--id-features", action="store_true", help="with --id-column: give the model each series' identity (one-hot)")
    train.add_argument("--covariates", nargs="+", default=[], help="past-only covariate columns (seen in the lookback)")
    train.add_argument("--known", nargs="+", default=[], help="known-future covariate columns (also seen over the horizon)")
    train.add_argument("--calendar", action="store_true", help="add hour/weekday/yearday features from the timestamps")
    train.add_argument("--lookback", type=int, default=96, help="input window length L")
    train.add_argument("--horizon", type=int, default=24, help="steps to forecast H")
    train.add_argument("--stride", type=int, default=1, help="steps between training windows")
    train.add_argument("--split", default="0.7,0.1,0.2", help="train,val,test fractions in time order (default 0.7,0.1,0.2)")
    train.add_argument("--split-rows", help="train,val,test row counts instead of fractions (e.g. 8640,2880,2880)")
    train.add_argument("--val-start", help="first timestamp of validation (with --test-start) instead of fractions; ISO 8601 or the time column's layout")
    train.add_argument("--test-start", help="first timestamp of the test part")
    train.add_argument("--fill", choices=["ffill", "interpolate"], help="fill NaNs and missing time steps (else they are errors)")
    train.add_argument("--season", type=int, help="season length for the seasonal-naive baseline (default: inferred)")
    train.add_argument("--level", type=float, default=0.9, help="prediction-interval level of a Gaussian head (default 0.9)")
    add_model_flags(train, {
        "rnn": "an RNN over the steps (default)",
        "segrnn": "an RNN over segments of the lookback, decoded in parallel, one channel at a time (Lin et al. 2023)",
        "transformer": "a transformer encoder over the window's steps, the future ones read as queries (the baseline)"})
    train.add_argument("--segment", type=int, help="segrnn: steps per segment; must divide --lookback (default 24)")
    train.add_argument("--revin", action="store_true", help="normalise each window by its own lookback mean and spread, undone on "
                       "the forecast (RevIN, Kim et al. 2022)")
    train.add_argument("--head", choices=["direct", "autoregressive"])
    train.add_argument("--loss", choices=["mse", "gaussian", "quantile"], help="point (MSE), Gaussian NLL or quantile loss")
    train.add_argument("--quantiles", help="comma-separated quantiles for --loss quantile (default 0.05,0.5,0.95)")
    train.add_argument("--teacher-forcing", type=float, help="autoregressive head: chance of feeding the true value (default 1)")
    train.add_argument("--no-relative", action="store_true", help="model the level itself, not the change from the last value")
    train.add_argument("--no-highway", action="store_true", help="no linear map from the lookback to the forecast beside the RNN")
    add_training_flags(train)
    train.set_defaults(run=_train)

    evaluate = verbs.add_parser("evaluate", help="metrics of the model and the baselines on the same windows")
    evaluate.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    evaluate.add_argument("--data", help="table to evaluate on (default: the training file), cut by the run's split")
    evaluate.add_argument("--part", choices=["test", "val", "train", "all"], default="test")
    evaluate.add_argument("--stride", type=int, default=1, help="steps between forecast origins (rolling origin)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--device", default="auto")
    evaluate.set_defaults(run=_evaluate)

    predict = verbs.add_parser("predict", help="forecast past the end of the data (CSV on stdout)")
    predict.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    predict.add_argument("--data", required=True, help="table whose last rows are the history (known covariates: trailing rows with empty targets)")
    predict.add_argument("--plot", type=Path, help="save history, forecast and interval as this PNG (a panel: its first series)")
    predict.add_argument("--ids", nargs="+", help="panel runs: forecast only these series (default: every series the run knows)")
    predict.add_argument("--device", default="auto")
    predict.set_defaults(run=_predict)

    detect = verbs.add_parser("detect", help="anomaly score of every time step from the forecaster's errors",
                              description="Score each row by its forecast errors (1..--steps steps ahead) under a Gaussian "
                              "fitted to the errors on the run's validation rows (Malhotra et al. 2015); flag rows above "
                              "--quantile of the validation scores.")
    detect.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    detect.add_argument("--data", help="table to score (default: the training file), with the run's columns")
    detect.add_argument("--labels", metavar="COLUMN", help="a 0/1 column of true anomalies: report AUROC, AUPRC and the best F1")
    detect.add_argument("--steps", type=int, help="forecasts per row, 1 to the horizon (default: the horizon)")
    detect.add_argument("--quantile", type=float, default=0.99, help="flag above this quantile of the validation scores")
    detect.add_argument("--threshold", type=float, help="flag above this score instead")
    detect.add_argument("--out", type=Path, help="CSV of time, score, flag (default: standard output)")
    detect.add_argument("--plot", type=Path, help="PNG of the series, the flags and the score")
    detect.add_argument("--json", action="store_true", help="print one JSON object (the summary) instead of the CSV")
    detect.add_argument("--device", default="auto")
    detect.set_defaults(run=_detect)

    example = verbs.add_parser("example", help="write the generated example series (hourly demand and temperature) as CSV")
    example.add_argument("path", type=Path, metavar="FILE.csv")
    example.add_argument("--days", type=int, default=280)
    example.add_argument("--seed", type=int, default=0)
    example.add_argument("--anomalies", type=int, default=0, help="plant this many anomalous events and add an 'anomaly' column")
    example.add_argument("--series", type=int, help="write a panel of this many series (an id column; each its own level, "
                         "start and length) for --id-column id")
    example.set_defaults(run=_example)


def _numbers(text: str | None, kind, flag: str, count: int | None = None):
    if text is None:
        return None
    try:
        values = tuple(kind(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"{flag} takes comma-separated numbers; got {text!r}") from None
    if count is not None and len(values) != count:
        raise ValueError(f"{flag} takes {count} comma-separated numbers (train, val, test); got {text!r}")
    return values


def _train(args) -> int:
    if args.resume is not None:
        summary = forecast.resume(args.resume, training_overrides(args))
        return _print_summary(summary, args.resume)
    if args.data is None or not args.target:
        raise ValueError("--data FILE and --target COLUMN are required (or --resume RUN_DIR)")
    data = forecast.ForecastDataConfig(
        targets=tuple(args.target), time_column=args.time_column, id_column=args.id_column, id_features=args.id_features, time_format=args.time_format, dayfirst=args.dayfirst,
        time_unit=args.time_unit, covariates=tuple(args.covariates), known=tuple(args.known),
        calendar=args.calendar, lookback=args.lookback, horizon=args.horizon, stride=args.stride,
        split=_numbers(args.split, float, "--split", 3), split_rows=_numbers(args.split_rows, int, "--split-rows", 3),
        val_start=args.val_start, test_start=args.test_start, fill=args.fill, season=args.season, level=args.level,
        **({"batch_size": args.batch_size} if args.batch_size else {}),
    )
    model = model_overrides(args, {"cell": "cell", "hidden_size": "hidden_size", "num_layers": "num_layers", "dropout": "dropout",
                                   "head": "head", "teacher_forcing": "teacher_forcing", "segment": "segment"})
    model.update(model_choice_overrides(args))
    model.update(regulariser_overrides(args))
    if args.loss is not None:
        model["distribution"] = {"mse": "point", "gaussian": "gaussian", "quantile": "quantile"}[args.loss]
    if args.quantiles is not None:
        model["quantiles"] = _numbers(args.quantiles, float, "--quantiles")
    if args.no_relative:
        model["relative"] = False
    if args.no_highway:
        model["highway"] = False
    if args.revin:
        model["revin"] = True
    out = args.out or Path("runs") / "forecast"
    if args.overwrite:
        clear_run_dir(out)
    summary = forecast.train(args.data, data, model, training_overrides(args), out)
    return _print_summary(summary, out)


def _print_summary(summary: dict, out: Path) -> int:
    """Print the run's summary; the exit status (130 when training was interrupted)."""
    if report_stop(summary, "best_val_mse", "best validation MSE (scaled)", "forecast", out):
        return 130
    if "test" in summary:
        print_table(summary["test"])
    else:
        print(f"no test evaluation: {summary.get('test_error')}")
    saved_run(out, f"rnnkit forecast predict {out} --data FILE --plot forecast.png")
    return 0


def print_table(metrics: dict) -> None:
    print(f"{metrics['part']} part: {metrics['windows']} forecast origins, horizon {metrics['horizon']}, lookback {metrics['lookback']}, "
          f"season {metrics['season']}")
    print(f"{'':>15} {'MSE':>10} {'MAE':>10} {'MSE(z)':>9} {'MAE(z)':>9} {'sMAPE':>8} {'coverage':>9}")
    for name in ("model", *forecast.BASELINES):
        row = metrics[name]
        smape = "-" if row["smape"] is None else f"{row['smape']:.4f}"
        coverage = f"{row['coverage']:.3f}" if "coverage" in row else "-"
        print(f"{name:>15} {row['mse']:>10.4g} {row['mae']:>10.4g} {row['mse_scaled']:>9.4f} {row['mae_scaled']:>9.4f} {smape:>8} {coverage:>9}")
    if "series" in metrics:
        _print_series(metrics)
    if not metrics["beats_persistence"]:
        print("note: the model does NOT beat persistence (last value) on MSE here" + (" (scaled, pooled)" if "series" in metrics else ""))
    if "plot" in metrics:
        print(f"plot: {metrics['plot']}")


def _print_series(metrics: dict) -> None:
    """Each series of a panel: scaled MSE of the model and the baselines (the pooled rows above)."""
    print(f"all {len(metrics['series'])} series pooled above; each series, MSE(z):")
    print(f"{'series':>15} {'windows':>8} {'model':>9} " + " ".join(f"{name:>14}" for name in forecast.BASELINES))
    for name, row in metrics["series"].items():
        print(f"{name[:15]:>15} {row['windows']:>8} {row['model']['mse_scaled']:>9.4f} "
              + " ".join(f"{row[b]['mse_scaled']:>14.4f}" for b in forecast.BASELINES))
    for name, why in metrics["left_out"].items():
        print(f"left out: {name}: {why}")


def _evaluate(args) -> int:
    metrics = forecast.evaluate_run(args.run_dir, args.data, args.part, args.stride, args.device)
    if args.json:
        print(json.dumps(metrics))
    else:
        print_table(metrics)
    return 0


def _predict(args) -> int:
    result = forecast.predict(args.run_dir, args.data, args.device, args.plot, args.ids)
    series = result["series"] if "series" in result else {None: result}
    first = next(iter(series.values()))
    header = ([] if None in series else ["id"]) + ["time"]
    for name in result["targets"]:
        header += [name] + ([f"{name}_lower", f"{name}_upper"] if first["lower"] is not None else [])
    print(",".join(header))
    for name, forecast_of in series.items():
        for i, when in enumerate(forecast_of["times"]):
            row = ([] if name is None else [name]) + [_time_text(when)]
            for d in range(len(result["targets"])):
                row.append(f"{forecast_of['mean'][i, d]:.6g}")
                if forecast_of["lower"] is not None:
                    row += [f"{forecast_of['lower'][i, d]:.6g}", f"{forecast_of['upper'][i, d]:.6g}"]
            print(",".join(row))
        if "plot" in forecast_of:
            print(f"plot: {forecast_of['plot']}", file=sys.stderr)
    return 0


def _time_text(when) -> str:
    if isinstance(when, float | np.floating) and float(when).is_integer():
        return str(int(when))
    return str(when).replace("T", " ")


def _detect(args) -> int:
    found = forecast.detect(args.run_dir, args.data, labels=args.labels, steps=args.steps, quantile=args.quantile,
                            threshold=args.threshold, device_name=args.device)
    if args.plot:
        target = forecast.load_run(args.run_dir).data_config.targets[0]
        path = plot_anomalies(found.times, found.values, found.scores, found.threshold, found.flags, args.plot, target, found.labels)
        print(f"rnnkit: scores plotted in {path}", file=sys.stderr)
    if args.out or not args.json:
        lines = ["time,score,flag" + (",label" if found.labels is not None else "")]
        for i, (when, score, flag) in enumerate(zip(found.times, found.scores, found.flags)):
            label = f",{int(found.labels[i])}" if found.labels is not None else ""
            lines.append(f"{_time_text(when)},{'' if np.isnan(score) else f'{score:.6g}'},{'' if np.isnan(score) else int(flag)}{label}")
        text = "\n".join(lines) + "\n"
        if args.out:
            args.out.write_text(text)
        else:
            sys.stdout.write(text)
    s = found.summary
    if args.json:
        print(json.dumps(s))
    else:
        extra = (f"; AUROC {s['auroc']:.3f}, AUPRC {s['auprc']:.3f}, best F1 {s['best_f1']:.3f} on {s['anomalies']} labelled rows"
                 if "auroc" in s else "")
        print(f"rnnkit: {s['flagged']} of {s['scored']} scored rows flagged (threshold {s['threshold']:.3g}; a typical score is "
              f"about {s['typical_score']}){extra}", file=sys.stderr)
    return 0


def _example(args) -> int:
    if args.series is not None:
        if args.series < 1 or args.anomalies:
            raise ValueError("--series takes a positive number of series, without --anomalies")
        path = write_panel_example(args.path, args.series, args.days, args.seed)
        print(f"wrote {path}: {args.series} series (ids site1..site{args.series}) of hourly 'demand' and 'temperature', "
              f"each starting a day later and a week shorter (columns id, time, demand, temperature)")
        return 0
    path = write_example(args.path, args.days, args.seed, args.anomalies)
    extra = ", anomaly" if args.anomalies else ""
    print(f"wrote {path}: hourly 'demand' and 'temperature' over {args.days} days (columns time, demand, temperature{extra})")
    return 0
