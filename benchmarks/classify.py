"""Sequence classification on real data: accuracy and training time over several seeds.

    python benchmarks/classify.py [--seeds 0 1 2] [--only sst2 natops ecg200] [--out runs/bench-classify]

- SST-2, sentence level (../shared/data/sst2/stsa.binary.{train,dev,test}): a word-level BiLSTM with
  randomly initialised embeddings (no pretrained vectors), validated on dev, tested on test.
  Anchors (phrase-level training with GloVe vectors): LSTM 84.9, BiLSTM 87.5.
- NATOPS (UEA, 24 channels x 51 steps, 6 gestures), official TRAIN/TEST; 10% of TRAIN validates.
- ECG200 (UCR, 96 steps), official TRAIN/TEST; 10% of TRAIN validates.
  Anchors: LSTM-FCN 0.87, FCN 0.889.
Each run trains through `rnnkit.tasks.classify.train` (what `rnnkit classify train` runs), keeps the
checkpoint with the best validation accuracy and reports its test accuracy. Prints figures (mean and
standard deviation over the seeds); asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

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
        dict(batch_size=16),
        dict(embedding_size=32, hidden_size=64, bidirectional=True, pooling="mean", dropout=0.2),
        dict(epochs=80, lr=3e-3, clip_norm=5.0),
    ),
}


def run(name: str, seed: int, out: Path) -> tuple[float, float, float]:
    train, val, test, data, model, training = SETUPS[name]
    config = classify.ClassifyDataConfig(**data)
    start = time.perf_counter()
    summary = classify.train(
        str(DATA / train), str(DATA / val) if val else None, str(DATA / test), config, model,
        {**training, "seed": seed, "device": "cpu", "progress": False}, out / f"{name}-seed{seed}",
    )
    return summary["test"]["accuracy"], summary["test"]["macro_f1"], time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    parser.add_argument("--out", type=Path, default=Path("runs/bench-classify"))
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"{DATA} is missing: this benchmark needs the shared data")
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


if __name__ == "__main__":
    main()
