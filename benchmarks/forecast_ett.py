"""ETT forecasting benchmark (the Informer and the long-horizon protocols): the rnnkit forecaster next to persistence, seasonal
naive and linear baselines, univariate (OT -> OT) and multivariate (7 -> 7), at several horizons.

Protocol: rows 0-8639 train (12 months), 8640-11519 validation, 11520-14399 test; z-scores from the
training rows; validation and test windows start `lookback` rows before their part so the first
target lies on the boundary; MSE/MAE on the z-scored scale over every test origin (stride 1).

    python benchmarks/forecast_ett.py --horizons 24 48 168 336 720 --seeds 0 1 2
    python benchmarks/forecast_ett.py --protocol long --model segrnn --segment 48 --lookback 720 --seeds 0 1 2
    python benchmarks/forecast_ett.py --data ../shared/data/ett/ETTh2.csv ...     # ETTh2, the same way

--protocol long is the long-horizon protocol of Autoformer, DLinear, PatchTST and SegRNN: the same
12/4/4-month rows, horizons 96 / 192 / 336 / 720 (lookback 336 or 720). Published figures for it are
not printed: compare them only once checked against their papers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rnnkit.tasks import forecast

COLUMNS = ("HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT")
# Informer (Zhou et al., AAAI 2021), LSTMa baseline, MSE on ETTh1 at horizons 24/48/168/336/720 (recalled figures)
LSTMA = {"uni": {24: 0.114, 48: 0.193, 168: 0.236, 336: 0.590, 720: 0.683},
         "multi": {24: 0.650, 48: 0.702, 168: 1.212, 336: 1.424, 720: 1.960}}


def run_one(path: str, mode: str, horizon: int, seed: int, args) -> dict:
    targets = ("OT",) if mode == "uni" else COLUMNS
    data = forecast.ForecastDataConfig(targets=targets, time_column="date", split_rows=(8640, 2880, 2880), lookback=args.lookback,
                                       horizon=horizon, batch_size=args.batch_size)
    if args.model == "segrnn":
        model = {"model": "segrnn", "segment": args.segment, "hidden_size": args.hidden_size, "dropout": args.dropout}
        if args.cell:
            model["cell"] = args.cell
    else:
        model = {"cell": args.cell or "lstm", "hidden_size": args.hidden_size, "head": args.head, "dropout": args.dropout,
                 "highway": not args.no_highway}
    if args.revin:
        model["revin"] = True
    training = {"epochs": args.epochs, "lr": args.lr, "seed": seed, "progress": False, "device": args.device}
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        summary = forecast.train(path, data, model, training, Path(out) / "run")
        seconds = time.perf_counter() - start
    test = summary["test"]
    return {"mode": mode, "horizon": horizon, "seed": seed, "seconds": seconds, "steps": summary["steps"],
            **{f"{name}_{metric}": test[name][f"{metric}_scaled"] for name in ("model", *forecast.BASELINES) for metric in ("mse", "mae")}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "ett" / "ETTh1.csv"))
    parser.add_argument("--modes", nargs="+", default=["uni", "multi"], choices=["uni", "multi"])
    parser.add_argument("--protocol", choices=["informer", "long"], default="informer",
                        help="informer: horizons 24-720 with LSTMa's figures beside; long: horizons 96-720")
    parser.add_argument("--horizons", nargs="+", type=int, help="default: 24 48 168 336 720 (informer) or 96 192 336 720 (long)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--lookback", type=int, default=336)
    parser.add_argument("--model", choices=["rnn", "segrnn"], default="rnn")
    parser.add_argument("--segment", type=int, default=24, help="segrnn: steps per segment (must divide --lookback)")
    parser.add_argument("--revin", action="store_true", help="reversible instance normalisation of every window")
    parser.add_argument("--cell", help="default: lstm (rnn), gru (segrnn)")
    parser.add_argument("--head", default="direct")
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--no-highway", action="store_true", help="the RNN alone, without the linear highway")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, help="also write every run's figures here")
    args = parser.parse_args()
    args.horizons = args.horizons or ([96, 192, 336, 720] if args.protocol == "long" else [24, 48, 168, 336, 720])
    if not Path(args.data).is_file():
        print(f"{args.data} not found; pass --data (ETTh1.csv or ETTh2.csv)", file=sys.stderr)
        return 1
    rows = []
    for mode in args.modes:
        for horizon in args.horizons:
            for seed in args.seeds:
                rows.append(run_one(args.data, mode, horizon, seed, args))
                r = rows[-1]
                print(f"{mode} H={horizon} seed={seed}: model {r['model_mse']:.4f} persistence {r['persistence_mse']:.4f} "
                      f"linear {r['linear_mse']:.4f} ({r['seconds']:.0f} s)", file=sys.stderr, flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    described = (f"segrnn (segment {args.segment}, {args.cell or 'gru'} {args.hidden_size})" if args.model == "segrnn" else
                 f"{args.cell or 'lstm'} {args.hidden_size} {args.head}{'' if args.no_highway else ' + highway'}")
    print(f"{Path(args.data).stem}, lookback {args.lookback}, {described}{' + RevIN' if args.revin else ''}, seeds {args.seeds}; "
          "MSE / MAE on z-scores (mean ± std over seeds)")
    anchor = "ETTh1" in Path(args.data).name and args.protocol == "informer"
    print("| mode | H | rnnkit MSE | rnnkit MAE | persistence | seasonal naive | linear |" + (" LSTMa (Informer) |" if anchor else "") + " train s |")
    print("|---|---|---|---|---|---|---|" + ("---|" if anchor else "") + "---|")
    for mode in args.modes:
        for horizon in args.horizons:
            group = [r for r in rows if r["mode"] == mode and r["horizon"] == horizon]
            stat = lambda key, group=group: _mean_std([r[key] for r in group])  # noqa: E731
            lstma = f" {LSTMA[mode].get(horizon, '-')} |" if anchor else ""
            print(f"| {mode} | {horizon} | {stat('model_mse')} | {stat('model_mae')} | {stat('persistence_mse')} | "
                  f"{stat('seasonal_naive_mse')} | {stat('linear_mse')} |{lstma} {statistics.mean(r['seconds'] for r in group):.0f} |")
    return 0


def _mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


if __name__ == "__main__":
    raise SystemExit(main())
