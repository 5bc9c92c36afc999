"""The generated clips of `rnnkit video example` (shapes moving in five ways, 32x32 grey): accuracy of
the per-frame CNN + LSTM (LRCN) and the ConvLSTM classifiers with their training speed in frames per
second, the frame predictor's anomaly AUROC on the anomaly clips, and captioning BLEU. Every run
goes through the task functions as the command line does; seeds vary the weights and the data.
Prints one JSON line per run and a summary; asserts nothing.

    python benchmarks/video_clips.py [--seeds 0 1 2] [--per-class 40] [--out runs/bench-clips]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

import torch

from rnnkit.data.moving_shapes import write_clip_example
from rnnkit.tasks.video import ClipDataConfig, caption, detect, train


def timed(fn, *args):
    start = time.time()
    result = fn(*args)
    return result, time.time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-clips"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = []
    for seed in args.seeds:
        data_dir = args.out / f"data-seed{seed}"
        shutil.rmtree(data_dir, ignore_errors=True)
        manifest = write_clip_example(data_dir, args.per_class, seed=seed)
        training = {"epochs": args.epochs, "seed": seed, "progress": False, "device": "cpu"}
        split = ClipDataConfig(test_fraction=0.2, split_seed=seed)
        for architecture in ("cnn-rnn", "convlstm"):
            out = args.out / f"{architecture}-seed{seed}"
            shutil.rmtree(out, ignore_errors=True)
            summary, seconds = timed(train, "clips", str(manifest), split, {"architecture": architecture}, training, out)
            frames = summary["sequences"]["train"] * split.frames * args.epochs
            rows.append({"run": architecture, "seed": seed, "accuracy": summary["test"]["accuracy"],
                         "frames_per_second": round(frames / seconds), "seconds": round(seconds, 1)})
            print(json.dumps(rows[-1]), flush=True)
        out = args.out / f"predict-seed{seed}"
        shutil.rmtree(out, ignore_errors=True)
        _, seconds = timed(detect.train, str(manifest), ClipDataConfig(frames=None), {}, {**training, "epochs": 20}, out)
        _, found = detect.detect(out, str(data_dir / "anomaly.csv"), labels_column="anomalous_frames", device_name="cpu")
        rows.append({"run": "predict", "seed": seed, "auroc": found["auroc"], "auroc_raw_error": found["auroc_raw_error"],
                     "auprc": found["auprc"], "seconds": round(seconds, 1)})
        print(json.dumps(rows[-1]), flush=True)
        out = args.out / f"caption-seed{seed}"
        shutil.rmtree(out, ignore_errors=True)
        summary, seconds = timed(caption.train, str(manifest), split, {}, {**training, "epochs": 40}, out)
        rows.append({"run": "caption", "seed": seed, "bleu": summary["test"]["bleu"],
                     "exact_match": summary["test"]["exact_match"], "seconds": round(seconds, 1)})
        print(json.dumps(rows[-1]), flush=True)
    print()
    for run, keys in (("cnn-rnn", ("accuracy", "frames_per_second")), ("convlstm", ("accuracy", "frames_per_second")),
                      ("predict", ("auroc", "auroc_raw_error", "auprc")), ("caption", ("bleu", "exact_match"))):
        parts = []
        for key in keys:
            values = [r[key] for r in rows if r["run"] == run]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            parts.append(f"{key} {statistics.mean(values):.3f} +- {spread:.3f}")
        print(f"{run:>9}: " + ", ".join(parts))


if __name__ == "__main__":
    main()
