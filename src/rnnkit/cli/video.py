"""`rnnkit video`: action recognition from pose sequences (skeletons) or clips (frame folders, GIFs,
video files): train, evaluate, predict, and the generated examples."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

from rnnkit.cli.common import (
    add_training_flags,
    clear_run_dir,
    model_overrides,
    regulariser_overrides,
    report_stop,
    saved_run,
    training_overrides,
)
from rnnkit.data.moving_shapes import MOTIONS, write_clip_example
from rnnkit.data.skeletons import ACTIONS, write_pose_example
from rnnkit.tasks import video
from rnnkit.tasks.video import caption, detect

DATA = ("pose sequences: a folder of MSR Action3D skeleton files (aAA_sSS_eEE_skeleton3D.txt), class subfolders of "
        "pose files, or a manifest CSV path,label[,subject]; a pose file holds one frame per row (joints x coordinates "
        "as columns, .txt/.csv) or a .npy array (frames, joints, coordinates). Clips: class subfolders or a manifest "
        "of frame folders (PNG/JPEG), GIFs, or video files (mp4/avi/... with the video extra)")


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in text.replace(",", " ").split())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas; got {text!r}") from None


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("video", help="video analysis: actions from poses or clips, anomaly scores, captions",
                                   description="Recognise actions from skeleton (pose) sequences or video clips, score "
                                   "anomalies in clips from a frame predictor, and caption clips.")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    train = verbs.add_parser("train", help="train an action classifier, a frame predictor or a captioner", formatter_class=argparse.RawDescriptionHelpFormatter,
                             description=f"Train on {DATA}.",
                             epilog="examples:\n"
                             "  rnnkit video train --data MSRAction3DSkeletonReal3D --listing files_used_in_cvpr12_paper.txt "
                             "--test-subjects 2,4,6,8,10 --out runs/msr\n"
                             "  rnnkit video train --data poses.csv --val-fraction 0.2 --architecture parts --parts parts.json\n"
                             "  rnnkit video train --data clips/manifest.csv --architecture convlstm --test-fraction 0.2")
    train.add_argument("--data", help="the sequences (required unless --resume)")
    train.add_argument("--kind", choices=["auto", "pose", "clips"], default="auto",
                       help="what the files hold (default: told by the files)")
    train.add_argument("--objective", choices=["classify", "predict", "caption"], default="classify",
                       help="classify actions (default); predict the next frame of normal clips, for detect; or "
                       "caption clips (a manifest with a caption column)")
    train.add_argument("--attention", choices=["additive", "dot", "general", "none"], help="caption: the decoder's attention")
    _data_flags(train)
    _clip_flags(train)
    train.add_argument("--action-set", choices=["AS1", "AS2", "AS3"], help="MSR Action3D: train on this 8-action subset")
    train.add_argument("--classes", nargs="*", help="train on these labels only")
    train.add_argument("--test-subjects", type=_ints, default=(), help="subjects held out and scored at the end, e.g. 2,4,6,8,10")
    train.add_argument("--test-fraction", type=float, default=0.0, help="or a stratified share held out and scored at the end")
    train.add_argument("--val-fraction", type=float, default=0.0,
                       help="stratified share of the training sequences to validate on (default 0: keep the last weights)")
    train.add_argument("--split-seed", type=int, default=0)
    train.add_argument("--architecture", choices=["rnn", "parts", "cnn-rnn", "convlstm"],
                       help="pose: one RNN over all joints (default) or Du et al.'s body-part hierarchy; clips: a CNN "
                       "on every frame then an RNN (default), or a ConvLSTM")
    train.add_argument("--parts", type=Path, help="JSON list of five joint-index lists (arm, arm, trunk, leg, leg); MSR's by default")
    train.add_argument("--part-size", type=int, help="width of the body-part RNNs (default 32)")
    train.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=None)
    train.add_argument("--pooling", choices=["mean", "max", "last", "attention"])
    train.add_argument("--velocity", action=argparse.BooleanOptionalAction, default=None,
                       help="add each joint's displacement since the previous frame (default on)")
    train.add_argument("--distances", action=argparse.BooleanOptionalAction, default=None,
                       help="add the distance between every pair of joints (and its change), whole-body RNN only")
    train.add_argument("--rotate", type=float, help="augment: random rotation about the vertical axis, up to this many degrees")
    train.add_argument("--scale-jitter", type=float, help="augment: random scale by up to this fraction")
    train.add_argument("--jitter", type=float, help="augment: Gaussian noise of this std on every coordinate")
    train.add_argument("--vertical-axis", type=int, choices=[0, 1, 2], help="the vertical coordinate (default 1: y)")
    add_training_flags(train)
    train.set_defaults(run=_train)

    evaluate = verbs.add_parser("evaluate", help="accuracy, macro-F1, per-class figures, confusion matrix")
    evaluate.add_argument("run_dir", type=Path, nargs="+", metavar="RUN_DIR",
                          help="a run; several classifiers are scored as an ensemble (mean of probabilities)")
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

    detect = verbs.add_parser("detect", help="anomaly score of every frame from a frame predictor's errors",
                              description="Score every frame of the clips by how badly a frame-prediction run "
                              "(train --objective predict) predicts it: the error, the clip's regularity score "
                              "1 - (e - min e) / max e, and anomaly = 1 - regularity.")
    detect.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    detect.add_argument("--data", required=True, help="clips: a manifest or class folders")
    detect.add_argument("--labels", metavar="COLUMN",
                        help="manifest column of anomalous frame spans start-end (';' between): report AUROC and AUPRC")
    detect.add_argument("--out", type=Path, help="CSV of clip, frame, error, regularity, anomaly (default: standard output)")
    detect.add_argument("--json", action="store_true", help="print one JSON object (the summary) instead of the CSV")
    detect.add_argument("--device", default="auto")
    detect.set_defaults(run=_detect)

    captioner = verbs.add_parser("caption", help="describe every clip in words (a captioning run)")
    captioner.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    captioner.add_argument("--data", required=True, help="clips: a manifest or class folders")
    captioner.add_argument("--beam-size", type=int, default=5)
    captioner.add_argument("--jsonl", action="store_true", help="JSON lines instead of CSV")
    captioner.add_argument("--plot", type=Path, help="PNG of the first clip's attention over its frames, word by word")
    captioner.add_argument("--device", default="auto")
    captioner.set_defaults(run=_caption)

    example = verbs.add_parser("example", help="write generated pose sequences and clips (no download)",
                               description="Write DIR/poses (stick figures performing six actions over six subjects, "
                               "the generic pose layout, manifest.csv) and DIR/clips (GIFs of a shape moving in five "
                               "ways, manifest.csv with label and caption).")
    example.add_argument("dir", type=Path, metavar="DIR")
    example.add_argument("--per-class", type=int, default=30, help="sequences per action and clips per motion (default 30)")
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
    group.add_argument("--frames", type=int, help="pose: resample every sequence to this many frames (default: keep lengths, "
                       "pad and mask); clips: this many frames evenly spaced over each clip (default 16)")


def _clip_flags(parser) -> None:
    group = parser.add_argument_group("clips")
    group.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=(32, 32), help="frame size (default 32 32)")
    group.add_argument("--channels", type=int, choices=[1, 3], default=1, help="1 grey (default) or 3 RGB")
    group.add_argument("--all-frames", action="store_true", help="keep every frame of every clip")
    group.add_argument("--conv-channels", type=_ints, help="widths of the frame CNN's blocks (default 16,32,64)")
    group.add_argument("--hidden-channels", type=int, help="ConvLSTM channels (default 32)")
    group.add_argument("--kernel-size", type=int, help="ConvLSTM kernel (default 3)")


def _train(args) -> int:
    if args.resume is not None:
        summary = video.resume(args.resume, training_overrides(args))
        if "best_val_loss" in summary:
            objective = video.common.read_video_run(args.resume)[1].get("objective")
            _print_predictor_summary(summary, args.resume, "caption" if objective == "caption" else "detect")
        else:
            _print_summary(summary, args.resume)
        return 0
    if args.data is None:
        raise ValueError("--data is required (or --resume RUN_DIR)")
    if args.action_set and args.classes:
        raise ValueError("give --action-set or --classes, not both")
    kind = video.detect_kind(args.data) if args.kind == "auto" else args.kind
    if args.objective == "predict":
        return _train_predictor(args, kind)
    if args.objective == "caption":
        return _train_captioner(args, kind)
    classes = video.action_set(args.action_set) if args.action_set else (tuple(args.classes) if args.classes else None)
    split = {"classes": classes, "test_subjects": args.test_subjects, "test_fraction": args.test_fraction,
             "val_fraction": args.val_fraction, "split_seed": args.split_seed}
    common = {"architecture": "architecture", "cell": "cell", "hidden_size": "hidden_size", "num_layers": "num_layers",
              "dropout": "dropout", "pooling": "pooling"}
    if kind == "pose":
        data = _pose_data_config(args, split)
        model = model_overrides(args, {**common, "bidirectional": "bidirectional", "part_size": "part_size",
                                       "velocity": "velocity", "distances": "distances", "rotate": "rotate_degrees", "scale_jitter": "scale",
                                       "jitter": "jitter", "vertical_axis": "vertical_axis"})
        if args.parts is not None:
            model["parts"] = _read_parts(args.parts)
    else:
        data = _clip_data_config(args, None if args.all_frames else (args.frames or 16), **split)
        model = model_overrides(args, {**common, "conv_channels": "conv_channels", "hidden_channels": "hidden_channels",
                                       "kernel_size": "kernel_size"})
    model.update(regulariser_overrides(args))
    _check_architecture(kind, model.get("architecture"))
    out = args.out or Path("runs") / "video"
    if args.overwrite:
        clear_run_dir(out)
    summary = video.train(kind, args.data, data, model, training_overrides(args), out)
    _print_summary(summary, out)
    return 0


def _train_predictor(args, kind: str) -> int:
    if kind != "clips":
        raise ValueError("--objective predict needs clips (frame folders, GIFs or video files), not pose data")
    if args.frames or args.test_subjects or args.test_fraction or args.classes or args.action_set:
        raise ValueError("--objective predict reads every frame of every clip and holds nothing out for testing; "
                         "drop --frames, --test-*, --classes and --action-set")
    data = _clip_data_config(args, None, val_fraction=args.val_fraction, split_seed=args.split_seed)
    if regulariser_overrides(args):
        raise ValueError("--objective predict runs a ConvLSTM, which takes none of the recurrent regularisers")
    model = model_overrides(args, {"hidden_channels": "hidden_channels", "kernel_size": "kernel_size", "num_layers": "num_layers"})
    out = args.out or Path("runs") / "video-predict"
    if args.overwrite:
        clear_run_dir(out)
    summary = detect.train(args.data, data, model, training_overrides(args), out)
    _print_predictor_summary(summary, out)
    return 0


def _train_captioner(args, kind: str) -> int:
    if kind != "clips":
        raise ValueError("--objective caption needs clips with captions, not pose data")
    if args.test_subjects or args.classes or args.action_set:
        raise ValueError("--objective caption splits clips by --test-fraction and --val-fraction only")
    data = _clip_data_config(args, None if args.all_frames else (args.frames or 16), val_fraction=args.val_fraction,
                             test_fraction=args.test_fraction, split_seed=args.split_seed)
    model = model_overrides(args, {"cell": "cell", "hidden_size": "hidden_size", "dropout": "dropout",
                                   "conv_channels": "conv_channels", "attention": "attention"})
    model.update(regulariser_overrides(args))
    out = args.out or Path("runs") / "video-caption"
    if args.overwrite:
        clear_run_dir(out)
    summary = caption.train(args.data, data, model, training_overrides(args), out)
    _print_predictor_summary(summary, out, "caption")
    if "test" in summary:
        print(f"test BLEU {summary['test']['bleu']:.2f}, exact match {summary['test']['exact_match']:.3f} "
              f"({summary['test']['examples']} clips)")
    return 0


def _print_predictor_summary(summary: dict, out: Path, verb: str = "detect") -> None:
    label = "best validation loss (cross-entropy per word)" if verb == "caption" else "best validation error (MSE per pixel)"
    if summary["best_val_loss"] is None and summary["stop_reason"] != "interrupted":
        print(f"{summary['steps']} steps ({summary['stop_reason']}); no validation clips, so the last weights are kept")
    elif report_stop(summary, "best_val_loss", label, "video", out):
        return
    saved_run(out, f"rnnkit video {verb} {out} --data CLIPS")


def _batch_size(args) -> dict:
    return {"batch_size": args.batch_size} if args.batch_size else {}


def _clip_data_config(args, frames: int | None, **split):
    return video.ClipDataConfig(size=tuple(args.size), channels=args.channels, frames=frames, **split, **_batch_size(args))


def _pose_data_config(args, split: dict):
    scale = None if args.no_scale else args.scale_joints
    if scale is not None and len(scale) != 2:
        raise ValueError(f"--scale-joints takes two joints; got {scale}")
    return video.PoseDataConfig(listing=args.listing, joints=args.joints, dims=args.pose_dims, min_frames=args.min_frames,
                                root=args.root_joint, scale=scale, center=args.center, frames=args.frames, **split,
                                **_batch_size(args))


def _check_architecture(kind: str, architecture: str | None) -> None:
    allowed = {"pose": ("rnn", "parts"), "clips": ("cnn-rnn", "convlstm")}[kind]
    if architecture is not None and architecture not in allowed:
        raise ValueError(f"--architecture {architecture} is not for {kind} data; choose one of {', '.join(allowed)}")


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
    saved_run(out, f"rnnkit video evaluate {out} --data DATA")


def _evaluate(args) -> int:
    metrics = video.evaluate_run(args.run_dir, args.data, split_name=args.split, subjects=args.subjects,
                                 device_name=args.device)
    if args.json:
        print(json.dumps(metrics))
        return 0
    if "bleu" in metrics:
        print(f"BLEU {metrics['bleu']:.2f}   exact match {metrics['exact_match']:.3f}   ({metrics['examples']} clips)")
        return 0
    runs = f", {metrics['runs']} runs" if metrics["runs"] > 1 else ""
    print(f"accuracy {metrics['accuracy']:.4f}   macro-F1 {metrics['macro_f1']:.4f}   ({metrics['examples']} sequences{runs})")
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
    poses = write_pose_example(args.dir / "poses", args.per_class, args.seed)
    clips = write_clip_example(args.dir / "clips", args.per_class, seed=args.seed)
    print(f"wrote {args.per_class * len(ACTIONS)} pose sequences ({', '.join(ACTIONS)}): {poses}")
    print(f"wrote {args.per_class * len(MOTIONS)} clips ({', '.join(MOTIONS)}): {clips}")
    print(f"try: rnnkit video train --data {poses} --test-subjects 5,6 --out runs/video-poses")
    print(f"     rnnkit video train --data {clips} --test-fraction 0.2 --architecture convlstm --out runs/video-clips")
    print(f"     rnnkit video train --data {clips} --objective caption --test-fraction 0.2 --out runs/video-caption")
    print(f"     rnnkit video train --data {clips} --objective predict --out runs/video-predict && "
          f"rnnkit video detect runs/video-predict --data {clips.parent / 'anomaly.csv'} --labels anomalous_frames")
    return 0


def _detect(args) -> int:
    results, summary = detect.detect(args.run_dir, args.data, labels_column=args.labels, device_name=args.device)
    if args.json:
        print(json.dumps(summary))
        return 0
    handle = open(args.out, "w", newline="", encoding="utf-8") if args.out else sys.stdout
    try:
        writer = csv.writer(handle)
        writer.writerow(["clip", "frame", "error", "regularity", "anomaly", *(["label"] if args.labels else [])])
        for clip in results:
            for t in range(len(clip.errors)):
                row = [clip.name, t, *(("" if np.isnan(v) else f"{v:.6g}") for v in
                                       (clip.errors[t], clip.regularity[t], clip.anomaly[t]))]
                writer.writerow(row + ([int(clip.labels[t])] if clip.labels is not None else []))
    finally:
        if args.out:
            handle.close()
    if args.out:
        print(f"wrote {summary['frames']} frames of {summary['clips']} clips to {args.out}")
    if "auroc" in summary:
        print(f"AUROC {summary['auroc']:.4f}, AUPRC {summary['auprc']:.4f} ({summary['anomalous_frames']} anomalous frames); "
              f"raw error AUROC {summary['auroc_raw_error']:.4f}", file=sys.stderr if not args.out else sys.stdout)
    return 0


def _caption(args) -> int:
    rows = caption.caption(args.run_dir, args.data, beam_size=args.beam_size, device_name=args.device,
                           attention_plot=args.plot)
    writer = None if args.jsonl else csv.writer(sys.stdout)
    if writer:
        writer.writerow(["clip", "caption"])
    for name, text in rows:
        if writer:
            writer.writerow([name, text])
        else:
            print(json.dumps({"clip": name, "caption": text}))
    return 0
