"""`rnnkit classify`: train, evaluate, predict sequence classifiers."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

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
from rnnkit.tasks import classify


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("classify", help="sequence classification: text, motion tracks, ECG",
                                   description="Classify whole sequences: text (sentiment, topics) or numeric series.")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    train = verbs.add_parser("train", help="train a classifier", formatter_class=argparse.RawDescriptionHelpFormatter,
                             description="Train a classifier. Text: CSV/TSV with --text-column/--label-column, or lines of "
                             "'label<TAB>text', 'label text' or 'text<TAB>label'. Numeric: UCR/UEA .ts, label-first tables "
                             "(.csv/.tsv/.txt), NPZ with X and y.",
                             epilog="examples:\n"
                             "  rnnkit classify train --data reviews.csv --text-column review --label-column stars --out runs/reviews\n"
                             "  rnnkit classify train --data NATOPS_TRAIN.ts --test NATOPS_TEST.ts --out runs/natops")
    train.add_argument("--data", help="training file (required unless --resume)")
    train.add_argument("--val", help="validation file (default: a stratified --val-fraction of --data)")
    train.add_argument("--val-fraction", type=float, default=0.1,
                       help="share of --data held out to validate when there is no --val (default 0.1); "
                       "0: no validation, the run keeps its last weights")
    train.add_argument("--test", help="test file, evaluated at the end")
    _classify_data_flags(train)
    train.add_argument("--tokenizer", choices=["word", "char", "bpe"], default="word",
                       help="text: words, characters or byte-level BPE subwords (the bpe extra)")
    train.add_argument("--vocab-size", type=int, default=8000, help="BPE vocabulary size (default 8000)")
    train.add_argument("--lowercase", action="store_true")
    train.add_argument("--min-freq", type=int, default=1)
    train.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=None)
    train.add_argument("--pooling", choices=["last", "mean", "max", "attention"])
    train.add_argument("--embedding-size", type=int)
    train.add_argument("--conv-layers", type=int, help="convolution blocks before the RNN (default 0: none)")
    train.add_argument("--conv-kernel", type=int, help="their width in steps, odd (default 5)")
    train.add_argument("--pretrain-epochs", type=int, default=0,
                       help="text: first train the embedding and RNN as a language model on the training texts for N epochs")
    train.add_argument("--word-dropout", type=float, help="text: chance of replacing a token by <unk> while training (default 0)")
    train.add_argument("--class-weights", choices=["none", "balanced"], default="none")
    add_model_flags(train, {"rnn": "a recurrent encoder of --cell (default)",
                            "transformer": "a transformer encoder, pooled the same way (the baseline)"})
    add_training_flags(train)
    train.set_defaults(run=_classify_train)

    evaluate = verbs.add_parser("evaluate", help="accuracy, macro-F1, per-class figures, confusion matrix")
    evaluate.add_argument("run_dir", type=Path, nargs="+", metavar="RUN_DIR", help="a run; several are scored as an ensemble")
    evaluate.add_argument("--data", required=True, help="labelled file, in a format training read")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    _classify_data_flags(evaluate)
    evaluate.add_argument("--device", default="auto")
    evaluate.set_defaults(run=_classify_evaluate)

    predict = verbs.add_parser("predict", help="labels and probabilities for new inputs")
    predict.add_argument("run_dir", type=Path, nargs="+", metavar="RUN_DIR", help="a run; several predict as an ensemble")
    predict.add_argument("--data", required=True, help="file, or '-' for text on standard input (one example a line)")
    predict.add_argument("--jsonl", action="store_true", help="JSON lines instead of CSV")
    predict.add_argument("--device", default="auto")
    predict.set_defaults(run=_classify_predict)


def _classify_data_flags(parser) -> None:
    parser.add_argument("--input", choices=["auto", "text", "numeric"], default="auto")
    parser.add_argument("--format", choices=["auto", "csv", "tsv", "label-text", "text-label"], default="auto")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--skip-bad-rows", action="store_true", help="leave out rows with missing text or label")
    parser.add_argument("--fill-missing", choices=["zero", "ffill"], help="fill NaNs in numeric series")
    parser.add_argument("--encoding-errors", choices=["strict", "replace"], default="strict")


def _classify_data_config(args, **extra) -> classify.ClassifyDataConfig:
    return classify.ClassifyDataConfig(
        input=args.input, format=args.format, text_column=args.text_column, label_column=args.label_column,
        skip_bad_rows=args.skip_bad_rows, fill_missing=args.fill_missing, encoding_errors=args.encoding_errors, **extra,
    )


def _classify_train(args) -> int:
    if args.resume is not None:
        summary = classify.resume(args.resume, training_overrides(args))
        _print_classify_summary(summary, args.resume)
        return 0
    if args.data is None:
        raise ValueError("--data TRAIN_FILE is required (or --resume RUN_DIR)")
    extra = {"tokenizer": args.tokenizer, "vocab_size": args.vocab_size, "lowercase": args.lowercase, "min_freq": args.min_freq,
             "class_weights": args.class_weights, "val_fraction": args.val_fraction, "pretrain_epochs": args.pretrain_epochs}
    if args.batch_size is not None:
        extra["batch_size"] = args.batch_size
    data_config = _classify_data_config(args, **extra)
    model = model_overrides(args, {"cell": "cell", "hidden_size": "hidden_size", "num_layers": "num_layers", "dropout": "dropout",
                                   "embedding_size": "embedding_size", "bidirectional": "bidirectional", "pooling": "pooling",
                                   "conv_layers": "conv_layers", "conv_kernel": "conv_kernel", "word_dropout": "word_dropout"})
    model.update(model_choice_overrides(args))
    model.update(regulariser_overrides(args))
    out = args.out or Path("runs") / "classify"
    if args.overwrite:
        clear_run_dir(out)
    summary = classify.train(args.data, args.val, args.test, data_config, model, training_overrides(args), out)
    _print_classify_summary(summary, out)
    return 0


def _print_classify_summary(summary: dict, out: Path) -> None:
    if summary["best_val_accuracy"] is None and summary["stop_reason"] != "interrupted":
        print(f"{summary['steps']} steps ({summary['stop_reason']}); no validation data, so the last weights are kept")
    elif report_stop(summary, "best_val_accuracy", "best validation accuracy", "classify", out):
        return
    if "test" in summary:
        print(f"test accuracy {summary['test']['accuracy']:.4f}, macro-F1 {summary['test']['macro_f1']:.4f}")
    saved_run(out, f"rnnkit classify evaluate {out} --data FILE")


def _classify_evaluate(args) -> int:
    metrics = classify.evaluate_run(args.run_dir, args.data, _classify_data_config(args), args.device)
    if args.json:
        print(json.dumps(metrics))
        return 0
    print(f"accuracy {metrics['accuracy']:.4f}   macro-F1 {metrics['macro_f1']:.4f}   ({metrics['examples']} examples)")
    print(f"{'class':>12} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}")
    for name, row in metrics["per_class"].items():
        print(f"{name:>12} {row['precision']:>9.4f} {row['recall']:>9.4f} {row['f1']:>9.4f} {row['support']:>8}")
    names = list(metrics["per_class"])
    print("confusion (rows: true, columns: predicted)")
    print(" " * 13 + " ".join(f"{n:>8}" for n in names))
    for name, row in zip(names, metrics["confusion"]):
        print(f"{name:>12} " + " ".join(f"{v:>8}" for v in row))
    print(f"plot: {metrics['confusion_plot']}")
    return 0


def _classify_predict(args) -> int:
    stdin = sys.stdin.read() if args.data == "-" else None
    names, probs = classify.predict(args.run_dir, None if stdin is not None else args.data, stdin, args.device)
    if not args.jsonl:
        print(",".join(["label", *(f"p_{n}" for n in names)]))
    for row in probs.tolist():
        label = names[max(range(len(row)), key=row.__getitem__)]
        if args.jsonl:
            print(json.dumps({"label": label, "probabilities": dict(zip(names, row))}))
        else:
            print(",".join([label, *(f"{p:.6f}" for p in row)]))
    return 0
