"""`rnnkit lm`: train, generate, evaluate language models."""

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
    regularisers,
    saved_run,
    training_overrides,
)
from rnnkit.tasks import lm
from rnnkit.training import TrainConfig


def add_parser(subparsers) -> None:
    presets = "; ".join(f"{name}: {preset.description}" for name, preset in lm.PRESETS.items())
    parser = subparsers.add_parser("lm", help="language modelling and text generation",
                                   description="Train a recurrent language model, evaluate it, generate text.")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    train = verbs.add_parser("train", help="train a language model", formatter_class=argparse.RawDescriptionHelpFormatter,
                             description="Train a language model on your text (--data) or, with no --data, on the English "
                             "reference text that ships with Python.\n\npresets:\n  " + presets.replace("; ", "\n  "),
                             epilog="examples:\n"
                             "  rnnkit lm train --preset tiny --out runs/lm\n"
                             "  rnnkit lm train --data books/ --tokenizer word --min-freq 3 --preset small --out runs/books\n"
                             "  rnnkit lm train --model transformer --out runs/gpt   (the transformer preset)\n"
                             "  rnnkit lm train --resume runs/books --epochs 20")
    train.add_argument("--data", nargs="+", help="UTF-8 text files or directories of them (.txt, .md, .rst, .gz)")
    train.add_argument("--tokenizer", choices=["char", "word", "bpe"], default="char")
    train.add_argument("--lowercase", action="store_true", help="word tokenizer: lower-case the text")
    train.add_argument("--min-freq", type=int, default=1, help="word tokenizer: rarer words become <unk>")
    train.add_argument("--bpe-vocab-size", type=int, default=2000)
    train.add_argument("--encoding-errors", choices=["strict", "replace"], default="strict",
                       help="what to do with bytes that are not UTF-8 (default: stop and say where)")
    train.add_argument("--bptt", type=int, help="truncated-BPTT chunk length in tokens (a transformer's context: it reads "
                       "each chunk on its own)")
    train.add_argument("--embedding-size", type=int)
    train.add_argument("--tie-weights", action="store_true", help="share input embedding and output weights")
    add_model_flags(train, {"rnn": "a recurrent network of --cell (default)",
                            "transformer": "a decoder-only transformer (the baseline; its preset is 'transformer')"})
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
        preset = lm.preset_configs(args.preset or ("transformer" if args.model == "transformer" else "tiny"))
        data = {**preset.data, **model_overrides(args, {"bptt": "bptt", "batch_size": "batch_size"})}
        data_config = lm.LMDataConfig(
            paths=tuple(args.data or ()), tokenizer=args.tokenizer, lowercase=args.lowercase, min_freq=args.min_freq,
            bpe_vocab_size=args.bpe_vocab_size, encoding_errors=args.encoding_errors, **data,
        )
        family = args.model or preset.model.get("model", "rnn")
        # a preset's model settings apply to its own kind of model; its training and batching to any
        model = {**(preset.model if preset.model.get("model", "rnn") == family else {}), "model": family,
                 **model_overrides(args, {"cell": "cell", "hidden_size": "hidden_size", "num_layers": "num_layers",
                                          "dropout": "dropout", "embedding_size": "embedding_size"}),
                 **model_choice_overrides(args)}
        if regulariser_overrides(args):  # on top of the preset's, not instead of them
            model["regularisers"] = {**preset.model.get("regularisers", {}), **regularisers(args)}
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
    saved_run(out, f"rnnkit lm generate {out}")


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
