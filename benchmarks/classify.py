"""Sequence classification on real data: accuracy and training time over several seeds.

    python benchmarks/classify.py [--seeds 0 1 2] [--only sst2 natops ecg200] [--out runs/bench-classify]
    python benchmarks/classify.py --select ecg200 [--folds 5] [--seeds 0 1 2]   # how ECG200's configuration was chosen
    python benchmarks/classify.py --only sst2 --seeds $(seq 0 14) --ensemble 5    # three disjoint 5-model ensembles

- SST-2, sentence level (../shared/data/sst2/stsa.binary.{train,dev,test}): a word-level BiLSTM with
  randomly initialised embeddings (no pretrained vectors), validated on dev, tested on test.
  Anchors (phrase-level training with GloVe vectors): LSTM 84.9, BiLSTM 87.5.
- NATOPS (UEA, 24 channels x 51 steps, 6 gestures), official TRAIN/TEST; 10% of TRAIN validates.
- ECG200 (UCR, 96 steps, 100 training series), official TRAIN/TEST. A 10% holdout would be 10
  series, too few to choose a checkpoint by, so the configuration and its number of epochs were chosen
  by stratified k-fold cross-validation on TRAIN (`--select ecg200` reruns that choice; TEST is not
  read), and the final model trains on all of TRAIN and keeps its last weights.
  Anchors: LSTM-FCN 0.87, FCN 0.889.
Each run trains through `rnnkit.tasks.classify.train` (what `rnnkit classify train` runs), keeps the
checkpoint with the best validation accuracy (the last one without validation) and reports its test
accuracy; groups of seeds are then scored as ensembles (`rnnkit classify evaluate RUN RUN ...`).
Prints figures (mean and standard deviation over seeds and over groups); asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from rnnkit.data.series import read_series  # noqa: E402
from rnnkit.tasks import classify  # noqa: E402

DATA = ROOT.parent / "shared" / "data"

# name -> (train, val, test, data settings, model settings, training settings)
SETUPS = {
    "sst2": (
        "sst2/stsa.binary.train", "sst2/stsa.binary.dev", "sst2/stsa.binary.test",
        dict(format="label-text", batch_size=32),
        dict(embedding_size=200, hidden_size=150, bidirectional=True, pooling="max", dropout=0.5),
        dict(epochs=6, lr=2e-3, clip_norm=5.0, weight_decay=0.0),
    ),
    "natops": (
        "natops/NATOPS_TRAIN.ts", None, "natops/NATOPS_TEST.ts",
        dict(batch_size=16),
        dict(embedding_size=64, hidden_size=64, bidirectional=True, pooling="mean", dropout=0.2),
        dict(epochs=80, lr=3e-3, clip_norm=5.0),
    ),
    "ecg200": (
        "ecg200/ECG200_TRAIN.txt", None, "ecg200/ECG200_TEST.txt",
        dict(batch_size=16, val_fraction=0.0),
        dict(embedding_size=128, hidden_size=64, bidirectional=True, pooling="mean", dropout=0.3, conv_layers=3, conv_kernel=7),
        dict(epochs=100, lr=1e-3, clip_norm=5.0, schedule="cosine"),
    ),
}

# Candidates compared by cross-validation on the training file (--select); the winner is in SETUPS.
# ECG200, 5 folds x seeds 0-2 (`--select ecg200`): bilstm 0.747, conv3x5-64 0.844, conv3x7-128 0.843,
# conv3x7-128-long 0.864.
NUMERIC_BILSTM = dict(hidden_size=64, bidirectional=True, pooling="mean")
CANDIDATES = {
    "ecg200": [
        ("bilstm", dict(NUMERIC_BILSTM, embedding_size=32, dropout=0.2), dict(epochs=60, lr=3e-3)),
        ("conv3x5-64", dict(NUMERIC_BILSTM, embedding_size=64, dropout=0.2, conv_layers=3, conv_kernel=5), dict(epochs=60, lr=3e-3)),
        ("conv3x7-128", dict(NUMERIC_BILSTM, embedding_size=128, dropout=0.3, conv_layers=3, conv_kernel=7), dict(epochs=60, lr=3e-3)),
        ("conv3x7-128-long", dict(NUMERIC_BILSTM, embedding_size=128, dropout=0.3, conv_layers=3, conv_kernel=7), dict(epochs=100, lr=1e-3)),
    ],
}


def run(name: str, seed: int, out: Path) -> tuple[float, float, float]:
    train, val, test, data, model, training = SETUPS[name]
    config = classify.ClassifyDataConfig(**data)
    run_dir = out / f"{name}-seed{seed}"
    shutil.rmtree(run_dir, ignore_errors=True)
    start = time.perf_counter()
    summary = classify.train(
        str(DATA / train), str(DATA / val) if val else None, str(DATA / test), config, model,
        {**training, "seed": seed, "device": "cpu", "progress": False}, run_dir,
    )
    return summary["test"]["accuracy"], summary["test"]["macro_f1"], time.perf_counter() - start


def folds(path: Path, k: int, seed: int, into: Path) -> list[tuple[Path, Path]]:
    """Stratified k folds of a numeric file's examples, written as (train, held-out) files in `into`
    (header lines kept, examples in file order)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    is_header = [not line.strip() or line.lstrip()[0] in "#@" for line in lines]
    header = [line for line, head in zip(lines, is_header) if head]
    examples = [line for line, head in zip(lines, is_header) if not head]
    labels = read_series(path).labels
    assign: dict[int, int] = {}
    rng = random.Random(seed)
    for label in sorted(set(labels)):
        rows = [j for j, y in enumerate(labels) if y == label]
        rng.shuffle(rows)
        assign.update({row: n % k for n, row in enumerate(rows)})
    pairs = []
    for fold in range(k):
        parts = []
        for held in (False, True):
            chosen = [line for j, line in enumerate(examples) if (assign[j] == fold) == held]
            part = into / f"fold{fold}-{'val' if held else 'train'}{path.suffix}"
            part.write_text("\n".join(header + chosen) + "\n", encoding="utf-8")
            parts.append(part)
        pairs.append((parts[0], parts[1]))
    return pairs


def select(name: str, k: int, seeds: list[int]) -> None:
    """Cross-validate each candidate on the training file, once per seed (the seed sets the folds and
    the initial weights): train on k-1 folds for the candidate's epochs, score the last weights on
    the held-out fold (as the final run keeps its last weights)."""
    train, _, _, data, _, training = SETUPS[name]
    print(f"{name}: {k}-fold cross-validation on {train}, seeds {seeds}; the test file is not read")
    print(f"{'candidate':18} {'cv accuracy':>12} {'per seed':>24} {'seconds':>8}")
    for label, model, extra in CANDIDATES[name]:
        start, per_seed = time.perf_counter(), []
        for seed in seeds:
            with tempfile.TemporaryDirectory() as tmp:
                accs = []
                for fold, (fit_file, held_file) in enumerate(folds(DATA / train, k, seed, Path(tmp))):
                    summary = classify.train(
                        str(fit_file), None, str(held_file), classify.ClassifyDataConfig(**{**data, "val_fraction": 0.0}), model,
                        {**training, **extra, "seed": seed, "device": "cpu", "progress": False}, Path(tmp) / f"{label}-{fold}",
                    )
                    accs.append(summary["test"]["accuracy"])
                per_seed.append(statistics.mean(accs))
        print(f"{label:18} {statistics.mean(per_seed):>12.4f} {' '.join(f'{a:.3f}' for a in per_seed):>24} "
              f"{time.perf_counter() - start:>8.0f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    parser.add_argument("--out", type=Path, default=Path("runs/bench-classify"))
    parser.add_argument("--select", choices=list(CANDIDATES), help="cross-validate the candidate configurations instead")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--ensemble", type=int, metavar="K",
                        help="also score disjoint groups of K consecutive seeds as ensembles (default: all seeds as one)")
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"{DATA} is missing: this benchmark needs the shared data")
    if args.select:
        select(args.select, args.folds, args.seeds)
        return
    print(f"{'data':8} {'seed':>4} {'test acc':>9} {'macro-F1':>9} {'seconds':>8}")
    for name in args.only:
        results = []
        for seed in args.seeds:
            accuracy, f1, seconds = run(name, seed, args.out)
            results.append((accuracy, f1, seconds))
            print(f"{name:8} {seed:>4} {accuracy:>9.4f} {f1:>9.4f} {seconds:>8.1f}", flush=True)
        accs = [r[0] for r in results]
        spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(f"{name:8} mean {statistics.mean(accs):.4f} ± {spread:.4f} (std over {len(accs)} seeds); "
              f"mean training time {statistics.mean(r[2] for r in results):.0f} s", flush=True)
        size = args.ensemble or len(args.seeds)
        groups = [args.seeds[i:i + size] for i in range(0, len(args.seeds) - size + 1, size)] if size > 1 else []
        ensembles = []
        for group in groups:
            metrics = classify.evaluate_run([args.out / f"{name}-seed{seed}" for seed in group], str(DATA / SETUPS[name][2]), device_name="cpu")
            ensembles.append(metrics["accuracy"])
            print(f"{name:8} ensemble of seeds {group} (probabilities averaged): accuracy {metrics['accuracy']:.4f}, "
                  f"macro-F1 {metrics['macro_f1']:.4f}", flush=True)
        if len(ensembles) > 1:
            print(f"{name:8} ensembles of {size}: mean {statistics.mean(ensembles):.4f} ± {statistics.stdev(ensembles):.4f} "
                  f"(std over {len(ensembles)} disjoint groups of seeds)", flush=True)


if __name__ == "__main__":
    main()
