"""The `rnnkit` command: one subcommand per task, each a thin layer that maps flags onto the task's
config dataclasses and calls its functions. No training logic lives here."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from rnnkit import __version__
from rnnkit.layers import RECURRENT_LAYERS
from rnnkit.tasks import classify, lm
from rnnkit.tasks.demo import BASELINE_MSE, DemoConfig, run_demo
from rnnkit.training import TrainConfig
from rnnkit.training.config import OPTIMIZERS


# -- flags every training verb shares ---------------------------------------------------------------
def add_training_flags(parser: argparse.ArgumentParser) -> None:
    """The common flags (../DESIGN.md); None means "the preset's value"."""
    group = parser.add_argument_group("training")
    group.add_argument("--out", type=Path, help="run directory to create (default: runs/TASK)")
    group.add_argument("--overwrite", action="store_true", help="replace the run directory --out if it holds an earlier run")
    group.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue this run where it stopped")
    group.add_argument("--preset", help="named configuration (see the task's --help)")
    group.add_argument("--seed", type=int)
    group.add_argument("--epochs", type=int)
    group.add_argument("--max-steps", type=int)
    group.add_argument("--batch-size", type=int)
    group.add_argument("--lr", type=float)
    group.add_argument("--optimizer", choices=OPTIMIZERS)
    group.add_argument("--clip", type=float, help="clip gradients to this global norm")
    group.add_argument("--cell", choices=sorted(RECURRENT_LAYERS))
    group.add_argument("--hidden-size", type=int)
    group.add_argument("--num-layers", type=int)
    group.add_argument("--dropout", type=float)
    group.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    group.add_argument("--eval-every", type=int, help="validate every N steps (default: the preset's, or each epoch)")
    group.add_argument("--no-progress", action="store_true", help="no progress bar")


def training_overrides(args) -> dict:
    """TrainConfig fields the flags set."""
    names = {"seed": "seed", "epochs": "epochs", "max_steps": "max_steps", "lr": "lr", "optimizer": "optimizer",
             "clip": "clip_norm", "eval_every": "eval_every"}
    values = {field: getattr(args, flag) for flag, field in names.items() if getattr(args, flag) is not None}
    values["device"] = args.device
    if args.no_progress:
        values["progress"] = False
    return values


def clear_run_dir(path: Path) -> None:
    """Delete an earlier run at `path` (--overwrite); never a directory that is not an rnnkit run."""
    if not path.exists():
        return
    if not (path / "run.json").is_file() and any(path.iterdir()):
        raise ValueError(f"--overwrite refuses to delete {path}: it is not an rnnkit run directory (no run.json)")
    shutil.rmtree(path)


def model_overrides(args, names: dict[str, str]) -> dict:
    return {field: getattr(args, flag) for flag, field in names.items() if getattr(args, flag, None) is not None}


# -- rnnkit lm ----------------------------------------------------------------------------------------
def _lm_parser(subparsers) -> None:
    presets = "; ".join(f"{name}: {preset.description}" for name, preset in lm.PRESETS.items())
    parser = subparsers.add_parser("lm", help="language modelling and text generation",
                                   description="Train a recurrent language model, evaluate it, generate text.")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    train = verbs.add_parser("train", help="train a language model", formatter_class=argparse.RawDescriptionHelpFormatter,
                             description=f"Train a language model on your text (--data) or, with no --data, on the English "
                             f"reference text that ships with Python.\n\npresets:\n  " + presets.replace("; ", "\n  "),
                             epilog="examples:\n"
                             "  rnnkit lm train --preset tiny --out runs/lm\n"
                             "  rnnkit lm train --data books/ --tokenizer word --min-freq 3 --preset small --out runs/books\n"
                             "  rnnkit lm train --resume runs/books --epochs 20")
    train.add_argument("--data", nargs="+", help="UTF-8 text files or directories of them (.txt, .md, .rst, .gz)")
    train.add_argument("--tokenizer", choices=["char", "word", "bpe"], default="char")
    train.add_argument("--lowercase", action="store_true", help="word tokenizer: lower-case the text")
    train.add_argument("--min-freq", type=int, default=1, help="word tokenizer: rarer words become <unk>")
    train.add_argument("--bpe-vocab-size", type=int, default=2000)
    train.add_argument("--encoding-errors", choices=["strict", "replace"], default="strict",
                       help="what to do with bytes that are not UTF-8 (default: stop and say where)")
    train.add_argument("--bptt", type=int, help="truncated-BPTT chunk length in tokens")
    train.add_argument("--embedding-size", type=int)
    train.add_argument("--tie-weights", action="store_true", help="share input embedding and output weights")
    add_training_flags(train)
    train.set_defaults(run=_lm_train)

    generate = verbs.add_parser("generate", help="generate text from a trained model")
    generate.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    generate.add_argument("--prompt", default="", help="text to continue ('-' reads standard input)")
    generate.add_argument("--max-tokens", type=int, default=200)
    generate.add_argument("--temperature", type=float, default=0.8, help="0 for greedy decoding")
    generate.add_argument("--top-k", type=int, help="sample among the k most likely tokens")
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--device", default="auto")
    generate.set_defaults(run=_lm_generate)

    evaluate = verbs.add_parser("evaluate", help="perplexity and bits per character on held-out text")
    evaluate.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    evaluate.add_argument("--data", nargs="+", help="held-out text (default for runs on the embedded corpus: its test split)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object of metrics")
    evaluate.add_argument("--encoding-errors", choices=["strict", "replace"], default="strict")
    evaluate.add_argument("--device", default="auto")
    evaluate.set_defaults(run=_lm_evaluate)


def _lm_train(args) -> int:
    if args.resume is not None:
        summary = lm.resume(args.resume, training_overrides(args))
        out = args.resume
    else:
        preset = lm.preset_configs(args.preset or "tiny")
        data = {**preset.data, **model_overrides(args, {"bptt": "bptt", "batch_size": "batch_size"})}
        data_config = lm.LMDataConfig(
            paths=tuple(args.data or ()), tokenizer=args.tokenizer, lowercase=args.lowercase, min_freq=args.min_freq,
            bpe_vocab_size=args.bpe_vocab_size, encoding_errors=args.encoding_errors, **data,
        )
        model = {**preset.model, **model_overrides(args, {"cell": "cell", "hidden_size": "hidden_size", "num_layers": "num_layers",
                                                          "dropout": "dropout", "embedding_size": "embedding_size"})}
        if args.tie_weights:
            model["tie_weights"] = True
        train_config = TrainConfig(**{**preset.training, **training_overrides(args)})
        out = args.out or Path("runs") / "lm"
        if args.overwrite:
            clear_run_dir(out)
        summary = lm.train(data_config, model, train_config, out)
    _print_summary(summary, out)
    return 130 if summary["stop_reason"] == "interrupted" else 0


def _print_summary(summary: dict, out: Path) -> None:
    parts = [f"{summary['steps']} steps ({summary['stop_reason']})"]
    for key in ("loss", "perplexity", "bits_per_char"):
        if key in summary:
            parts.append(f"validation {key.replace('_', ' ')} {summary[key]:.4f}")
    print("; ".join(parts))
    print(f"run saved in {out}; try: rnnkit lm generate {out}")


def _lm_generate(args) -> int:
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    sys.stdout.write(prompt)
    for piece in lm.generate(args.run_dir, prompt, args.max_tokens, args.temperature, args.top_k, args.seed, args.device):
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0


def _lm_evaluate(args) -> int:
    metrics = lm.evaluate_run(args.run_dir, args.data or [], args.encoding_errors, args.device)
    if args.json:
        print(json.dumps(metrics))
    else:
        for key, value in metrics.items():
            print(f"{key:>14}  {value:.4f}" if isinstance(value, float) else f"{key:>14}  {value}")
    return 0


# -- rnnkit classify ----------------------------------------------------------------------------------
def _classify_parser(subparsers) -> None:
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
    train.add_argument("--val", help="validation file (default: a stratified 10%% of --data)")
    train.add_argument("--test", help="test file, evaluated at the end")
    _classify_data_flags(train)
    train.add_argument("--tokenizer", choices=["word", "char"], default="word")
    train.add_argument("--lowercase", action="store_true")
    train.add_argument("--min-freq", type=int, default=1)
    train.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=None)
    train.add_argument("--pooling", choices=["last", "mean", "max", "attention"])
    train.add_argument("--embedding-size", type=int)
    train.add_argument("--class-weights", choices=["none", "balanced"], default="none")
    add_training_flags(train)
    train.set_defaults(run=_classify_train)

    evaluate = verbs.add_parser("evaluate", help="accuracy, macro-F1, per-class figures, confusion matrix")
    evaluate.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    evaluate.add_argument("--data", required=True, help="labelled file, in a format training read")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    _classify_data_flags(evaluate)
    evaluate.add_argument("--device", default="auto")
    evaluate.set_defaults(run=_classify_evaluate)

    predict = verbs.add_parser("predict", help="labels and probabilities for new inputs")
    predict.add_argument("run_dir", type=Path, metavar="RUN_DIR")
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
    extra = {"tokenizer": args.tokenizer, "lowercase": args.lowercase, "min_freq": args.min_freq, "class_weights": args.class_weights}
    if args.batch_size is not None:
        extra["batch_size"] = args.batch_size
    data_config = _classify_data_config(args, **extra)
    model = model_overrides(args, {"cell": "cell", "hidden_size": "hidden_size", "num_layers": "num_layers", "dropout": "dropout",
                                   "embedding_size": "embedding_size", "bidirectional": "bidirectional", "pooling": "pooling"})
    out = args.out or Path("runs") / "classify"
    if args.overwrite:
        clear_run_dir(out)
    summary = classify.train(args.data, args.val, args.test, data_config, model, training_overrides(args), out)
    _print_classify_summary(summary, out)
    return 0


def _print_classify_summary(summary: dict, out: Path) -> None:
    line = f"{summary['steps']} steps ({summary['stop_reason']}); best validation accuracy {summary['best_val_accuracy']:.4f}"
    if "test" in summary:
        line += f"; test accuracy {summary['test']['accuracy']:.4f}, macro-F1 {summary['test']['macro_f1']:.4f}"
    print(line)
    print(f"run saved in {out}; try: rnnkit classify evaluate {out} --data FILE")


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


# -- rnnkit demo --------------------------------------------------------------------------------------
def _demo_parser(subparsers) -> None:
    defaults = DemoConfig()
    demo = subparsers.add_parser(
        "demo",
        help="train a small recurrent network on the generated adding problem",
        description="Train a small recurrent network on the adding problem (generated, no download) and "
        "print its loss as it falls. Try --cell rnn to watch a vanilla RNN fail where an LSTM succeeds.",
    )
    demo.add_argument("--cell", choices=sorted(RECURRENT_LAYERS), default=defaults.cell)
    demo.add_argument("--seq-len", type=int, default=defaults.seq_len, help="time steps per sequence")
    demo.add_argument("--hidden-size", type=int, default=defaults.hidden_size)
    demo.add_argument("--batch-size", type=int, default=defaults.batch_size)
    demo.add_argument("--steps", type=int, default=defaults.steps, help="optimizer steps")
    demo.add_argument("--lr", type=float, default=defaults.lr)
    demo.add_argument("--seed", type=int, default=defaults.seed)
    demo.add_argument("--device", default="auto", help="auto (cuda when available), cpu or cuda")
    demo.set_defaults(run=_run_demo)


def _run_demo(args) -> int:
    if args.seq_len < 2 or args.steps < 1 or args.batch_size < 1 or args.hidden_size < 1:
        raise ValueError("--seq-len must be at least 2, and --steps, --batch-size, --hidden-size at least 1")
    from rnnkit.training.distributed import resolve_device

    config = DemoConfig(
        cell=args.cell, seq_len=args.seq_len, hidden_size=args.hidden_size, batch_size=args.batch_size,
        steps=args.steps, lr=args.lr, seed=args.seed, device=str(resolve_device(args.device)),
    )
    losses = run_demo(config)
    tail = losses[-min(50, len(losses)) :]
    final = sum(tail) / len(tail)
    verdict = "solved" if final < 0.1 * BASELINE_MSE else "not solved"
    print(f"{config.cell}: final mse {final:.4f} vs {BASELINE_MSE:.3f} for always answering 1.0 ({verdict})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnnkit", description="Recurrent neural networks for sequence problems.")
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    subparsers = parser.add_subparsers(dest="task", metavar="TASK")
    _lm_parser(subparsers)
    _classify_parser(subparsers)
    _demo_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.task is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.run(args)
    except (ValueError, OSError) as err:
        if args.debug:
            raise
        print(f"rnnkit: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("rnnkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
