"""In-hospital mortality on PhysioNet/CinC 2012 set A (../shared/data/physionet2012: 4,000 ICU stays,
554 deaths), GRU-D beside GRU-simple and a logistic regression on summary features, on the same
stratified 5-fold cross-validation.

For each seed and fold: the fold is the test set, 10% of the rest (stratified, same seed) validates
(checkpoint of best AUROC, early stopping), the rest trains; statistics and the baseline are fitted
on the training stays only. The split ids are written to OUT/splits/seed{S}-fold{K}.json, so any
other model can be scored on exactly these stays. Prints AUROC, AUPRC, Brier and ECE per fold and
mean +- std over every fold in OUT/results.jsonl (one line per model and fold, appended by each
invocation; the newest line of a model, representation, seed and fold counts). Asserts nothing.

    python benchmarks/clinical_physionet.py [--models grud simple] [--seeds 0] [--folds 0 1 2 3 4] [--epochs 40] [--head-norm --tag +bn]

Anchors (see the data README and the clinical notes): GRU-D paper 0.8424 +- 0.012 AUROC (set A,
5-fold); a summary-feature logistic regression 0.838 +- 0.016 AUROC, 0.471 AUPRC; SAPS-I 0.650.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

import numpy as np

from rnnkit.tasks.clinical import ClinicalDataConfig, evaluate_run, load_cohort, train
from rnnkit.tasks.clinical.training import stratified_split

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "physionet2012"
METRICS = ("auroc", "auprc", "brier", "ece")


def folds(labels: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """Stratified k folds of row indices."""
    rng = np.random.default_rng(seed)
    parts = [[] for _ in range(k)]
    for value in np.unique(labels):
        rows = np.flatnonzero(labels == value)
        rng.shuffle(rows)
        for i, chunk in enumerate(np.array_split(rows, k)):
            parts[i] += chunk.tolist()
    return [np.array(sorted(p)) for p in parts]


def write_split(cohort, test_rows: np.ndarray, seed: int, path: Path) -> Path:
    ids = np.array([s.id for s in cohort.stays])
    rest = np.setdiff1d(np.arange(len(ids)), test_rows)
    inner = stratified_split(cohort.labels[rest], 1 / 9, 0.0, seed)  # 10% of all stays validate
    split = {"train": ids[rest[inner["train"]]].tolist(), "val": ids[rest[inner["val"]]].tolist(), "test": ids[test_rows].tolist()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(split))
    return path


def summary(rows: list[dict], key: str) -> str:
    values = [r[key] for r in rows]
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} +- {spread:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["grud", "simple"], choices=["grud", "simple"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--representation", choices=["raw", "grid"], default="raw")
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--schedule", choices=["constant", "cosine"], default="constant")
    parser.add_argument("--head-norm", action="store_true", help="batch norm before the output layer (the paper's top layer)")
    parser.add_argument("--tag", default="", help="appended to the model's name in the results (a variant)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-physionet"))
    args = parser.parse_args()
    if not (DATA / "set-a").is_dir():
        raise SystemExit(f"PhysioNet 2012 set A not found at {DATA}; see ../shared/data/README.md")
    records, outcomes = str(DATA / "set-a"), str(DATA / "Outcomes-a.txt")
    base = {"representation": args.representation}
    cohort = load_cohort(records, outcomes, ClinicalDataConfig(**base))
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "results.jsonl"
    for seed in args.seeds:
        parts = folds(cohort.labels, 5, seed)
        for k in args.folds:
            split = write_split(cohort, parts[k], seed, args.out / "splits" / f"seed{seed}-fold{k}.json")
            for model in args.models:
                name = model + args.tag
                out = args.out / args.representation / name / f"seed{seed}-fold{k}"
                shutil.rmtree(out, ignore_errors=True)  # a rerun replaces the fold's earlier run
                start = time.perf_counter()
                train(records, outcomes, ClinicalDataConfig(**base, split=str(split)), {"backbone": model, "hidden_size": args.hidden_size, "head_norm": args.head_norm},
                      {"epochs": args.epochs, "seed": seed, "progress": False, "schedule": args.schedule}, out)
                minutes = (time.perf_counter() - start) / 60
                scored = evaluate_run(out, records, outcomes, split="test", cohort=cohort)
                lr = scored["baselines"]["logistic_regression"]
                key = {"representation": args.representation, "seed": seed, "fold": k}
                rows = [{"model": name, **key, **{m: scored[m] for m in METRICS}, "minutes": minutes, "epochs": args.epochs},
                        {"model": "logistic regression", **key, **{m: lr[m] for m in METRICS}}]
                with open(log, "a") as f:
                    f.writelines(json.dumps(r) + "\n" for r in rows)
                for r in rows:
                    print(f"seed {seed} fold {k} {r['model']}: " + "  ".join(f"{m} {r[m]:.4f}" for m in METRICS), flush=True)
    newest = {}
    for line in log.read_text().splitlines():
        r = json.loads(line)
        newest[(r["model"], r["representation"], r["seed"], r["fold"])] = r
    by_model: dict = {}
    for (model, rep, _, _), r in sorted(newest.items()):
        by_model.setdefault(f"{model} ({rep})" if model != "logistic regression" else model, []).append(r)
    print(f"\nall folds in {log}:")
    for name, rows in by_model.items():
        print(f"{name:28} {len(rows)} folds  " + "  ".join(f"{m} {summary(rows, m)}" for m in METRICS))


if __name__ == "__main__":
    main()
