"""`rnnkit translate`: train, evaluate (BLEU, chrF) and run translation models; write the demo corpus."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rnnkit.cli.common import (
    add_training_flags,
    clear_run_dir,
    model_overrides,
    regulariser_overrides,
    report_stop,
    saved_run,
    training_overrides,
)
from rnnkit.data.parallel import write_number_corpus
from rnnkit.tasks import translate


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("translate", help="machine translation: encoder-decoder with attention",
                                   description="Translate sentences with an RNN encoder-decoder and attention.")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    train = verbs.add_parser("train", help="train a translation model", formatter_class=argparse.RawDescriptionHelpFormatter,
                             description="Train on line-aligned source/target files (plain or .gz) or a TSV of "
                             "'source<TAB>target' lines (--src only). Without --val-src, 500 training pairs validate.",
                             epilog="examples:\n"
                             "  rnnkit translate example numbers/      # German/English number words, generated\n"
                             "  rnnkit translate train --src numbers/train.de --tgt numbers/train.en --tokenizer char "
                             "--out runs/numbers\n"
                             "  rnnkit translate train --src train.de.gz --tgt train.en.gz --val-src val.de.gz --val-tgt val.en.gz "
                             "--attention additive --out runs/de-en")
    train.add_argument("--src", help="source sentences, one a line (or a TSV of pairs without --tgt)")
    train.add_argument("--tgt", help="target sentences, line-aligned with --src")
    train.add_argument("--val-src")
    train.add_argument("--val-tgt")
    train.add_argument("--test-src", help="evaluated with beam search (BLEU, chrF) at the end, with --test-ref")
    train.add_argument("--test-ref")
    train.add_argument("--tokenizer", choices=["word", "char", "bpe"], help="both sides (default bpe)")
    train.add_argument("--src-tokenizer", choices=["word", "char", "bpe"])
    train.add_argument("--tgt-tokenizer", choices=["word", "char", "bpe"])
    train.add_argument("--vocab-size", type=int, default=8000, help="BPE vocabulary size per side")
    train.add_argument("--min-freq", type=int, default=1, help="word tokenizer: rarer words become <unk>")
    train.add_argument("--lowercase", action="store_true")
    train.add_argument("--shared-vocab", action="store_true", help="one vocabulary (and embedding) for both sides")
    train.add_argument("--max-length", type=int, default=80, help="leave out training pairs longer than this (tokens)")
    train.add_argument("--skip-empty", action="store_true", help="leave out pairs with an empty side")
    train.add_argument("--label-smoothing", type=float, default=0.1)
    train.add_argument("--attention", choices=["additive", "dot", "general", "none"])
    train.add_argument("--unscaled-scores", action="store_true", help="dot and general attention without the 1/sqrt(d) "
                       "scaling of their scores (as runs saved before it had)")
    train.add_argument("--embedding-size", type=int)
    train.add_argument("--teacher-forcing", type=float, help="chance of feeding the gold previous token in training (default 1)")
    train.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=None)
    add_training_flags(train)
    train.set_defaults(run=_train)

    evaluate = verbs.add_parser("evaluate", help="BLEU and chrF (sacrebleu) on a test set")
    evaluate.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    evaluate.add_argument("--src", required=True)
    evaluate.add_argument("--ref", required=True, help="reference translations, line-aligned with --src")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    _decode_flags(evaluate)
    evaluate.set_defaults(run=_evaluate)

    run = verbs.add_parser("run", help="translate text from arguments or standard input")
    run.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    run.add_argument("text", nargs="*", help="sentences to translate; '-' or nothing reads lines from standard input")
    run.add_argument("--attention-plot", type=Path, metavar="FILE.png", help="save the first sentence's attention map")
    _decode_flags(run)
    run.set_defaults(run=_run)

    example = verbs.add_parser("example", help="write German/English number-word pairs (train/val/test .de/.en)")
    example.add_argument("directory", type=Path)
    example.add_argument("--limit", type=int, default=10_000, help="numbers 1 .. limit-1")
    example.set_defaults(run=_example)


def _decode_flags(parser) -> None:
    parser.add_argument("--beam", type=int, default=5, help="beam size; 1 decodes greedily")
    parser.add_argument("--length-penalty", type=float, default=1.0, help="GNMT alpha; 0 ranks by total log-probability")
    parser.add_argument("--max-len-a", type=float, default=1.5, help="at most a * source length + b tokens")
    parser.add_argument("--max-len-b", type=int, default=10)
    parser.add_argument("--device", default="auto")


def _decode_args(args) -> dict:
    return {"beam_size": args.beam, "length_penalty": args.length_penalty, "max_len_a": args.max_len_a, "max_len_b": args.max_len_b}


def _train(args) -> int:
    if args.resume is not None:
        return _print_summary(translate.resume(args.resume, training_overrides(args)), args.resume)
    if args.src is None:
        raise ValueError("--src (and --tgt, unless --src is a TSV of pairs) is required, or --resume RUN_DIR")
    if (args.val_src is None) != (args.val_tgt is None) or (args.test_src is None) != (args.test_ref is None):
        raise ValueError("give --val-src with --val-tgt, and --test-src with --test-ref")
    kind = args.tokenizer or "bpe"
    config = translate.TranslateDataConfig(
        src_tokenizer=args.src_tokenizer or kind, tgt_tokenizer=args.tgt_tokenizer or kind, vocab_size=args.vocab_size,
        min_freq=args.min_freq, lowercase=args.lowercase, shared_vocab=args.shared_vocab, max_length=args.max_length,
        skip_empty=args.skip_empty, label_smoothing=args.label_smoothing, **({"batch_size": args.batch_size} if args.batch_size else {}),
    )
    model = model_overrides(args, {"cell": "cell", "hidden_size": "hidden_size", "num_layers": "num_layers", "dropout": "dropout",
                                   "embedding_size": "embedding_size", "bidirectional": "bidirectional", "attention": "attention",
                                   "teacher_forcing": "teacher_forcing"})
    model.update(regulariser_overrides(args))
    if args.shared_vocab:
        model["share_embeddings"] = True
    if args.unscaled_scores:
        model["scale_scores"] = False
    out = args.out or Path("runs") / "translate"
    if args.overwrite:
        clear_run_dir(out)
    val = (args.val_src, args.val_tgt) if args.val_src else None
    test = (args.test_src, args.test_ref) if args.test_src else None
    return _print_summary(translate.train(args.src, args.tgt, val, test, config, model, training_overrides(args), out), out)


def _print_summary(summary: dict, out: Path) -> int:
    """Print the run's summary; the exit status (130 when training was interrupted)."""
    if report_stop(summary, "best_val_loss", "best validation loss (nats/token)", "translate", out):
        return 130
    if "test" in summary:
        test = summary["test"]
        print(f"test: BLEU {test['bleu']:.2f}, chrF {test['chrf']:.2f} (beam {test['beam']}, {test['sentences']} sentences)")
    saved_run(out, f"rnnkit translate run {out} \"a sentence\" --attention-plot attention.png")
    return 0


def _evaluate(args) -> int:
    metrics = translate.evaluate_run(args.run_dir, args.src, args.ref, device_name=args.device, **_decode_args(args))
    if args.json:
        print(json.dumps(metrics))
    else:
        print(f"BLEU {metrics['bleu']:.2f}   chrF {metrics['chrf']:.2f}   BLEU (lower-cased) {metrics['bleu_lowercase']:.2f}   "
              f"({metrics['sentences']} sentences, beam {metrics['beam']}, {metrics['decode_seconds']:.1f} s)")
        print(f"sacrebleu {metrics['bleu_signature']}")
    return 0


def _run(args) -> int:
    texts = args.text if args.text and args.text != ["-"] else [line.rstrip("\n") for line in sys.stdin]
    if not texts:
        raise ValueError("nothing to translate: give sentences as arguments or on standard input")
    for line in translate.run(args.run_dir, texts, attention_plot=args.attention_plot, device_name=args.device, **_decode_args(args)):
        print(line)
    if args.attention_plot is not None:
        print(f"attention map: {args.attention_plot}", file=sys.stderr)
    return 0


def _example(args) -> int:
    written = write_number_corpus(args.directory, args.limit)
    print(f"wrote {len(written)} files to {args.directory}: train/val/test .de (German number words) and .en (English)")
    return 0
