"""Panels on the ETT data: one global forecaster over several series against one model per series, and
against the multivariate model that forecasts the same channels jointly.

    python benchmarks/forecast_panel.py --part pair      # ETTh1 and ETTh2 OT as a two-series panel vs a model per series
    python benchmarks/forecast_panel.py --part columns   # ETTh1's seven columns as seven series vs the 7 -> 7 model

Protocol (Informer's rows, by dates so that a panel can use them): rows 0-8639 train, 8640-11519
validation (from 2017-06-26), 11520-14399 test (from 2017-10-24); later rows are not used. Each
series is z-scored with its own training rows; MSE/MAE on that scale over every test origin (stride
1); "pooled" is the mean over every window of every series, which for the seven-series panel is the
multivariate model's MSE over its seven channels. The panel files are written to a temporary folder.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from rnnkit.tasks import forecast  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "ett"
COLUMNS = ("HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT")
ROWS = 14400


def read(name: str) -> tuple[list[str], list[list[str]]]:
    with open(DATA / name, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1 : ROWS + 1]


def write_long(path: Path, series: dict[str, tuple[list[str], list[str]]]) -> Path:
    """series: {id: (times, values)} -> a long CSV id,date,value."""
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["id", "date", "value"])
        for name, (times, values) in series.items():
            out.writerows([name, t, v] for t, v in zip(times, values))
    return path


def train(path: Path, targets, horizon: int, args, out: Path, id_column: str | None = None, id_features: bool = False) -> dict:
    data = forecast.ForecastDataConfig(targets=tuple(targets), time_column="date", id_column=id_column, id_features=id_features,
                                       val_start="2017-06-26", test_start="2017-10-24", lookback=args.lookback, horizon=horizon,
                                       stride=args.stride, batch_size=args.batch_size)
    model = {"hidden_size": args.hidden_size}
    training = {"epochs": args.epochs, "lr": args.lr, "seed": args.seed, "progress": False, "device": "cpu"}
    start = time.perf_counter()
    summary = forecast.train(str(path), data, model, training, out)
    summary["seconds"] = time.perf_counter() - start
    return summary


def row(label: str, test: dict, seconds: float) -> str:
    return (f"{label:<34} {test['model']['mse_scaled']:>8.4f} {test['model']['mae_scaled']:>8.4f} "
            f"{test['persistence']['mse_scaled']:>8.4f} {test['linear']['mse_scaled']:>8.4f} {seconds:>7.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["pair", "columns"], default="pair")
    parser.add_argument("--horizons", nargs="+", type=int, default=[24, 168])
    parser.add_argument("--lookback", type=int, default=336)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--stride", type=int, default=1, help="steps between training windows")
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--id-features", action="store_true", help="give the global model each series' identity")
    args = parser.parse_args()
    if not (DATA / "ETTh1.csv").is_file():
        sys.exit(f"{DATA} is missing: this benchmark needs the shared ETT files")
    header, rows = read("ETTh1.csv")
    times = [r[0] for r in rows]
    print(f"{'':<34} {'MSE(z)':>8} {'MAE(z)':>8} {'persist':>8} {'linear':>8} {'seconds':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.part == "pair":
            _, rows2 = read("ETTh2.csv")
            series = {"ETTh1": (times, [r[header.index("OT")] for r in rows]), "ETTh2": ([r[0] for r in rows2], [r[header.index("OT")] for r in rows2])}
        else:
            series = {name: (times, [r[header.index(name)] for r in rows]) for name in COLUMNS}
        panel = write_long(tmp / "panel.csv", series)
        for horizon in args.horizons:
            print(f"-- horizon {horizon}")
            summary = train(panel, ["value"], horizon, args, tmp / f"panel-{horizon}", "id", args.id_features)
            test = summary["test"]
            print(row(f"global model, {len(series)} series (pooled)", test, summary["seconds"]))
            for name, metrics in test["series"].items():
                print(row(f"  {name}", metrics, 0))
            if args.part == "pair":
                for name in series:
                    single = write_long(tmp / f"{name}.csv", {name: series[name]})
                    alone = train(single, ["value"], horizon, args, tmp / f"{name}-{horizon}", "id")
                    print(row(f"one model for {name} alone", alone["test"]["series"][name], alone["seconds"]))
            else:
                wide = DATA / "ETTh1.csv"
                trimmed = tmp / "ETTh1-rows.csv"
                trimmed.write_text("\n".join(wide.read_text().splitlines()[: ROWS + 1]) + "\n")
                multi = train(trimmed, COLUMNS, horizon, args, tmp / f"multi-{horizon}")
                print(row("multivariate 7 -> 7 model", multi["test"], multi["seconds"]))


if __name__ == "__main__":
    main()
