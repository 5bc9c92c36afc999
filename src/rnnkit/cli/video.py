"""`rnnkit video`: action recognition from pose sequences (skeletons): train, evaluate, predict."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rnnkit.cli.common import add_training_flags, clear_run_dir, model_overrides, report_stop, training_overrides
from rnnkit.data.skeletons import ACTIONS, write_pose_example
from rnnkit.tasks import video

DATA = ("a folder of MSR Action3D skeleton files (aAA_sSS_eEE_skeleton3D.txt), a folder of class subfolders of "
        "pose files, or a manifest CSV path,label[,subject]; pose files hold one frame per row (joints x coordinates "
        "as columns, .txt/.csv) or a .npy array (frames, joints, coordinates)")


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in text.replace(",", " ").split())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas; got {text!r}") from None


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("video", help="video analysis: action recognition from pose sequences",
                                   description="Recognise actions from skeleton (pose) sequences.")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    train = verbs.add_parser("train", help="train an action classifier", formatter_class=argparse.RawDescriptionHelpFormatter,
                             description=f"Train on {DATA}.",
                             epilog="examples:\n"
                             "  rnnkit video train --data MSRAction3DSkeletonReal3D --listing files_used_in_cvpr12_paper.txt "
                             "--test-subjects 2,4,6,8,10 --out runs/msr\n"
                             "  rnnkit video train --data poses.csv --val-fraction 0.2 --architecture parts --parts parts.json")
    train.add_argument("--data", help="the sequences (required unless --resume)")
    train.add_argument("--kind", choices=["pose"], default="pose", help="what the files hold (pose sequences)")
    _data_flags(train)
    train.add_argument("--action-set", choices=["AS1", "AS2", "AS3"], help="MSR Action3D: train on this 8-action subset")
    train.add_argument("--classes", nargs="*", help="train on these labels only")
    train.add_argument("--test-subjects", type=_ints, default=(), help="subjects held out and scored at the end, e.g. 2,4,6,8,10")
    train.add_argument("--val-fraction", type=float, default=0.0,
                       help="stratified share of the training sequences to validate on (default 0: keep the last weights)")
    train.add_argument("--split-seed", type=int, default=0)
    train.add_argument("--architecture", choices=["rnn", "parts"], help="one RNN over all joints (default) or Du et al.'s body-part hierarchy")
    train.add_argument("--parts", type=Path, help="JSON list of five joint-index lists (arm, arm, trunk, leg, leg); MSR's by default")
    train.add_argument("--part-size", type=int, help="width of the body-part RNNs (default 32)")
    train.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=None)
    train.add_argument("--pooling", choices=["mean", "max", "last", "attention"])
    train.add_argument("--velocity", action=argparse.BooleanOptionalAction, default=None,
                       help="add each joint's displacement since the previous frame (default on)")
    train.add_argument("--rotate", type=float, help="augment: random rotation about the vertical axis, up to this many degrees")
    train.add_argument("--scale-jitter", type=float, help="augment: random scale by up to this fraction")
    train.add_argument("--jitter", type=float, help="augment: Gaussian noise of this std on every coordinate")
    train.add_argument("--vertical-axis", type=int, choices=[0, 1, 2], help="the vertical coordinate (default 1: y)")
    add_training_flags(train)
    train.set_defaults(run=_train)

    evaluate = verbs.add_parser("evaluate", help="accuracy, macro-F1, per-class figures, confusion matrix")
    evaluate.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    evaluate.add_argument("--data", required=True, help="labelled sequences, in a layout training read")
    evaluate.add_argument("--subjects", type=_ints, help="score only these subjects")
    evaluate.add_argument("--split", choices=["train", "val", "test"], help="score only the run's own split of --data")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--device", default="auto")
    evaluate.set_defaults(run=_evaluate)

    predict = verbs.add_parser("predict", help="the action of every sequence, with probabilities")
    predict.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    predict.add_argument("--data", required=True, help="sequences: a folder or manifest as for training (labels unused)")
    predict.add_argument("--jsonl", action="store_true", help="JSON lines instead of CSV")
    predict.add_argument("--device", default="auto")
    predict.set_defaults(run=_predict)

    example = verbs.add_parser("example", help="write a generated pose data set (no download)",
                               description="Write stick figures performing six actions over six subjects: DIR/manifest.csv "
                               "and DIR/poses/*.csv, the generic pose layout.")
    example.add_argument("dir", type=Path, metavar="DIR")
    example.add_argument("--per-class", type=int, default=30, help="sequences per action (default 30)")
    example.add_argument("--seed", type=int, default=0)
    example.set_defaults(run=_example)


def _data_flags(parser) -> None:
    group = parser.add_argument_group("pose data")
    group.add_argument("--listing", help="MSR Action3D: file of the sequence names to use (files_used_in_cvpr12_paper.txt)")
    group.add_argument("--joints", type=int, help="generic layout: joints per frame (default: inferred)")
    group.add_argument("--pose-dims", type=int, default=3, help="coordinates per joint (default 3)")
    group.add_argument("--min-frames", type=int, default=2, help="skip sequences with fewer frames (after dropping all-zero ones)")
    group.add_argument("--root-joint", type=int, default=6, help="0-based joint to centre on (default 6: MSR's hip centre)")
    group.add_argument("--scale-joints", type=_ints, default=(6, 2),
                       help="two joints whose mean distance becomes 1 (default 6,2: MSR's hip centre to neck)")
    group.add_argument("--no-scale", action="store_true", help="do not rescale the skeletons")
    group.add_argument("--center", choices=["frame", "sequence", "none"], default="frame",
                       help="subtract the root joint of each frame (default), its mean over the sequence, or nothing")
    group.add_argument("--frames", type=int, help="resample every sequence to this many frames (default: keep lengths, pad and mask)")


def _train(args) -> int:
    if args.resume is not None:
        summary = video.resume(args.resume, training_overrides(args))
        _print_summary(summary, args.resume)
        return 0
    if args.data is None:
        raise ValueError("--data is required (or --resume RUN_DIR)")
    if args.action_set and args.classes:
        raise ValueError("give --action-set or --classes, not both")
    scale = None if args.no_scale else args.scale_joints
    if scale is not None and len(scale) != 2:
        raise ValueError(f"--scale-joints takes two joints; got {scale}")
    classes = video.action_set(args.action_set) if args.action_set else (tuple(args.classes) if args.classes else None)
    data = video.PoseDataConfig(
        listing=args.listing, classes=classes, joints=args.joints, dims=args.pose_dims, min_frames=args.min_frames,
        test_subjects=args.test_subjects, val_fraction=args.val_fraction, split_seed=args.split_seed,
        root=args.root_joint, scale=scale, center=args.center, frames=args.frames,
        **({"batch_size": args.batch_size} if args.batch_size else {}))
    model = model_overrides(args, {"architecture": "architecture", "cell": "cell", "hidden_size": "hidden_size",
                                   "num_layers": "num_layers", "dropout": "dropout", "bidirectional": "bidirectional",
                                   "pooling": "pooling", "part_size": "part_size", "velocity": "velocity",
                                   "rotate": "rotate_degrees", "scale_jitter": "scale", "jitter": "jitter",
                                   "vertical_axis": "vertical_axis"})
    if args.parts is not None:
        model["parts"] = _read_parts(args.parts)
    out = args.out or Path("runs") / "video"
    if args.overwrite:
        clear_run_dir(out)
    summary = video.train(args.data, data, model, training_overrides(args), out)
    _print_summary(summary, out)
    return 0


def _read_parts(path: Path) -> list[list[int]]:
    try:
        parts = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: cannot read the body parts ({err})") from None
    if not isinstance(parts, list) or len(parts) != 5 or not all(isinstance(p, list) for p in parts):
        raise ValueError(f"{path}: expected a JSON list of five joint-index lists (arm, arm, trunk, leg, leg)")
    return parts


def _print_summary(summary: dict, out: Path) -> None:
    if summary["best_val_accuracy"] is None and summary["stop_reason"] != "interrupted":
        print(f"{summary['steps']} steps ({summary['stop_reason']}); no validation data, so the last weights are kept")
    elif report_stop(summary, "best_val_accuracy", "best validation accuracy", "video", out):
        return
    if "test" in summary:
        test = summary["test"]
        print(f"test accuracy {test['accuracy']:.4f}, macro-F1 {test['macro_f1']:.4f} ({test['examples']} sequences)")
    print(f"run saved in {out}; try: rnnkit video evaluate {out} --data DATA")


def _evaluate(args) -> int:
    metrics = video.evaluate_run(args.run_dir, args.data, split_name=args.split, subjects=args.subjects,
                                 device_name=args.device)
    if args.json:
        print(json.dumps(metrics))
        return 0
    print(f"accuracy {metrics['accuracy']:.4f}   macro-F1 {metrics['macro_f1']:.4f}   ({metrics['examples']} sequences)")
    print(f"{'class':>12} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}")
    for name, row in metrics["per_class"].items():
        print(f"{name:>12} {row['precision']:>9.4f} {row['recall']:>9.4f} {row['f1']:>9.4f} {row['support']:>8}")
    print(f"plot: {metrics['confusion_plot']}")
    return 0


def _predict(args) -> int:
    rows = video.predict(args.run_dir, args.data, args.device)
    names = list(rows[0]["probabilities"]) if rows else []
    if not args.jsonl:
        print(",".join(["name", "label", *(f"p_{n}" for n in names)]))
    for row in rows:
        if args.jsonl:
            print(json.dumps(row))
        else:
            print(",".join([row["name"], row["label"], *(f"{p:.6f}" for p in row["probabilities"].values())]))
    return 0


def _example(args) -> int:
    if args.per_class < 2:
        raise ValueError(f"--per-class must be at least 2; got {args.per_class}")
    manifest = write_pose_example(args.dir, args.per_class, args.seed)
    print(f"wrote {args.per_class * len(ACTIONS)} pose sequences ({', '.join(ACTIONS)}) and {manifest}")
    print(f"try: rnnkit video train --data {manifest} --test-subjects 5,6 --out runs/video-example")
    return 0
