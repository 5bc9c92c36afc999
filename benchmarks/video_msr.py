"""Action recognition on MSR Action3D skeletons (../shared/data/msr_action3d), cross-subject: subjects
1, 3, 5, 7, 9 train and 2, 4, 6, 8, 10 test, on the 557 sequences of files_used_in_cvpr12_paper.txt.
Protocols: the three 8-action subsets AS1, AS2, AS3 (Li et al. 2010) and all 20 actions.

Each run goes through `rnnkit.tasks.video.train` exactly as `rnnkit video train` does, with a fixed
number of epochs and no validation split (the test subjects are never used to choose anything), and
its last weights are scored on the test subjects. Prints accuracy per protocol and seed and
mean +- std over seeds, and the accuracy of the seeds' runs as one ensemble (mean of probabilities,
as `rnnkit video evaluate RUN1 RUN2 ...` scores it); appends one line per run to OUT/results.jsonl.
Asserts nothing.

    python benchmarks/video_msr.py [--protocols AS1 AS2 AS3 all] [--seeds 0 1 2] [--architecture rnn] [--epochs 60]

Anchors (recalled in the data README, not checked): hierarchical bidirectional RNN (Du et al. 2015)
93.33 / 94.64 / 95.50 on AS1 / AS2 / AS3, mean 94.49; Lie group (Vemulapalli et al. 2014) 89.48 on 20
classes. Chance: 12.5% on a subset, 5% on all 20.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

import torch

from rnnkit.tasks.video import PoseDataConfig, action_set, evaluate_run, train

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "msr_action3d"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocols", nargs="+", default=["AS1", "AS2", "AS3", "all"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--architecture", choices=["rnn", "parts"], default="rnn")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--rotate", type=float, default=0.0)
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--cell", default="lstm", help="lstm, gru, lnlstm, lngru, rnn")
    parser.add_argument("--center", default="frame")
    parser.add_argument("--distances", action="store_true", help="add the pairwise joint distances (whole-body RNN)")
    parser.add_argument("--tag", default="", help="names a variant in results.jsonl")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-msr"))
    args = parser.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"MSR Action3D is not at {DATA}")
    torch.set_num_threads(2)
    args.out.mkdir(parents=True, exist_ok=True)
    results, ensembles = [], {}
    for protocol in args.protocols:
        outs = []
        for seed in args.seeds:
            data = PoseDataConfig(listing=str(DATA / "files_used_in_cvpr12_paper.txt"),
                                  classes=None if protocol == "all" else action_set(protocol),
                                  test_subjects=(2, 4, 6, 8, 10), center=args.center)
            model = {"architecture": args.architecture, "hidden_size": args.hidden_size, "rotate_degrees": args.rotate,
                     "dropout": args.dropout, "cell": args.cell, "distances": args.distances}
            training = {"epochs": args.epochs, "seed": seed, "weight_decay": args.weight_decay,
                        "optimizer": "adamw" if args.weight_decay else "adam", "progress": False, "device": "cpu"}
            out = args.out / f"{protocol}-{args.architecture}{args.tag}-seed{seed}"
            outs.append(out)
            shutil.rmtree(out, ignore_errors=True)
            start = time.time()
            summary = train("pose", str(DATA / "MSRAction3DSkeletonReal3D"), data, model, training, out)
            row = {"protocol": protocol, "seed": seed, "architecture": args.architecture, "tag": args.tag,
                   "accuracy": summary["test"]["accuracy"], "macro_f1": summary["test"]["macro_f1"],
                   "test": summary["test"]["examples"], "train": summary["sequences"]["train"],
                   "seconds": round(time.time() - start, 1), "epochs": args.epochs, "hidden_size": args.hidden_size,
                   "weight_decay": args.weight_decay, "rotate": args.rotate, "center": args.center,
                   "dropout": args.dropout, "cell": args.cell, "distances": args.distances}
            print(json.dumps(row), flush=True)
            with open(args.out / "results.jsonl", "a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")
            results.append(row)
        if len(outs) > 1:  # the seeds' runs as one ensemble (mean of probabilities), as `rnnkit video evaluate` scores it
            ensembles[protocol] = 100 * evaluate_run(outs, str(DATA / "MSRAction3DSkeletonReal3D"), split_name="test",
                                                     device_name="cpu")["accuracy"]
    print(f"\n{'protocol':>8} {'accuracy (mean +- std over seeds)':>36}")
    means = {}
    for protocol in args.protocols:
        values = [100 * r["accuracy"] for r in results if r["protocol"] == protocol]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        means[protocol] = statistics.mean(values)
        ensemble = f"   ensemble of the seeds {ensembles[protocol]:.2f}" if protocol in ensembles else ""
        print(f"{protocol:>8} {means[protocol]:>28.2f} +- {spread:.2f}   ({len(values)} seeds){ensemble}")
    subsets = [means[p] for p in ("AS1", "AS2", "AS3") if p in means]
    if len(subsets) == 3:
        joint = [ensembles[p] for p in ("AS1", "AS2", "AS3") if p in ensembles]
        extra = f"   ensemble of the seeds {statistics.mean(joint):.2f}" if len(joint) == 3 else ""
        print(f"{'AS mean':>8} {statistics.mean(subsets):>28.2f}{extra}")


if __name__ == "__main__":
    main()
