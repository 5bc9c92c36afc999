"""`rnnkit speech`: train CTC recognizers, score them (WER, CER, SER), transcribe files, stream,
estimate n-gram models for beam search, and write the generated touch-tone example."""

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
from rnnkit.data.dtmf import SPLITS, write_dtmf_example
from rnnkit.tasks import speech
from rnnkit.tasks.speech import outputs
from rnnkit.tasks.speech.recognize import align_run, stream_file, transcribe, utterances_of

MANIFESTS = "a JSONL manifest (audio_filepath, text), a CSV/TSV with audio and text columns, or a folder of audio files"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("speech", help="speech recognition: CTC over RNNs, WER, timestamps, streaming",
                                   description="Speech to text with recurrent networks trained by CTC.")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    train = verbs.add_parser("train", help="train a recognizer", formatter_class=argparse.RawDescriptionHelpFormatter,
                             description=f"Train on {MANIFESTS}. Without --val, 10%% of --train validates.",
                             epilog="examples:\n"
                             "  rnnkit speech example tones/\n"
                             "  rnnkit speech train --train tones/train.jsonl --val tones/val.jsonl --units word --out runs/tones\n"
                             "  rnnkit speech train --train recordings/ --pattern '{text}_{speaker}_{take}.wav' --units word")
    train.add_argument("--train", help="training manifest (required unless --resume)")
    train.add_argument("--val", help="validation manifest (default: --val-fraction of --train)")
    train.add_argument("--val-fraction", type=float, default=0.1)
    train.add_argument("--test", help="test manifest, scored (greedy) at the end")
    train.add_argument("--units", choices=["char", "word"], default="char", help="output units (word: closed vocabularies)")
    train.add_argument("--keep-case", action="store_true", help="do not lower-case transcripts")
    train.add_argument("--keep-punctuation", action="store_true")
    train.add_argument("--features", choices=["logmel", "mfcc"], default="logmel")
    train.add_argument("--n-mels", type=int, default=40)
    train.add_argument("--n-mfcc", type=int, default=13)
    train.add_argument("--hop-ms", type=float, default=10.0)
    train.add_argument("--window-ms", type=float, default=25.0)
    train.add_argument("--sample-rate", type=int, help="the model's rate; inputs are resampled to it (default: the first file's)")
    train.add_argument("--stack", type=int, help="input frames per output frame (default 3)")
    train.add_argument("--conv-layers", type=int, help="convolution blocks after stacking (default 0)")
    train.add_argument("--conv-kernel", type=int)
    train.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=None,
                       help="--no-bidirectional gives a streamable model")
    train.add_argument("--no-specaugment", action="store_true", help="no frequency or time masking while training")
    train.add_argument("--freq-masks", type=int)
    train.add_argument("--freq-width", type=int)
    train.add_argument("--time-masks", type=int)
    train.add_argument("--time-width", type=int)
    train.add_argument("--lm-order", type=int, default=0, help="also estimate an n-gram model of the training transcripts")
    train.add_argument("--speed-perturb", type=float, nargs="+", metavar="FACTOR",
                       help="use every training utterance at these speeds, e.g. 0.9 1.0 1.1 (three copies)")
    train.add_argument("--utterance-norm", action="store_true",
                       help="subtract each utterance's mean of every feature (cepstral mean normalisation: evens out "
                       "gains and microphones; such a run cannot stream)")
    train.add_argument("--crop-words", type=float, default=0.0, metavar="P",
                       help="with probability P per utterance and epoch, train on a random run of its whole words, cut at "
                       "the pauses between them (needs word times in the manifest, as 'rnnkit speech align' writes)")
    train.add_argument("--crop-fragments", type=float, default=0.0, metavar="Q",
                       help="with probability Q, a word crop that does not start at the first word starts inside the word "
                       "before, its last 10-50%% unlabelled (for recordings that begin mid-word)")
    _input_flags(train)
    add_training_flags(train)
    train.set_defaults(run=_train)

    evaluate = verbs.add_parser("evaluate", help="WER, CER and sentence error rate on a labelled manifest")
    evaluate.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    evaluate.add_argument("--data", required=True, help=MANIFESTS)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--predictions", type=Path, metavar="FILE.jsonl", help="write reference and hypothesis per utterance")
    _input_flags(evaluate)
    _decode_flags(evaluate)
    evaluate.set_defaults(run=_evaluate)

    run = verbs.add_parser("transcribe", help="transcribe audio files, folders or manifests")
    run.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    run.add_argument("inputs", nargs="+", metavar="FILE|DIR|MANIFEST")
    run.add_argument("--format", choices=outputs.FORMATS, default="txt")
    run.add_argument("--timestamps", action="store_true", help="word start and end times (json, srt)")
    run.add_argument("--output-dir", type=Path, help="one file per input (NAME.txt/.json/.srt) instead of standard output")
    run.add_argument("--plot", type=Path, metavar="FILE.png", help="draw the first clip's features, words and posteriors")
    run.add_argument("--pattern", help="for folders: transcripts from file names, e.g. '{text}_{speaker}_{take}.wav'")
    _decode_flags(run)
    run.set_defaults(run=_transcribe)

    stream = verbs.add_parser("stream", help="transcribe a file chunk by chunk, as a live stream (unidirectional models)")
    stream.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    stream.add_argument("file")
    stream.add_argument("--chunk-ms", type=float, default=100.0)
    stream.add_argument("--json", action="store_true", help="JSON lines of partial and final results on standard output")
    stream.add_argument("--device", default="auto")
    stream.set_defaults(run=_stream)

    aligner = verbs.add_parser("align", help="word times of each transcript by forced alignment, as a manifest (JSON lines)",
                               description="Align each utterance's transcript to its audio with a trained run (Viterbi "
                               "over the CTC posteriors) and write a JSONL manifest with each word's start and end "
                               "(seconds) and the path's mean log-probability per frame (align_score).")
    aligner.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    aligner.add_argument("--data", required=True, help=MANIFESTS)
    aligner.add_argument("--out", type=Path, required=True, metavar="ALIGNED.jsonl")
    aligner.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    aligner.add_argument("--device", default="auto")
    _input_flags(aligner)
    aligner.set_defaults(run=_align)

    lm = verbs.add_parser("lm", help="estimate an n-gram model (for --beam with --lm-weight) from text or manifests")
    lm.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    lm.add_argument("--text", nargs="+", required=True, help="text files (one sentence a line) or manifests")
    lm.add_argument("--order", type=int, default=4)
    lm.set_defaults(run=_lm)

    example = verbs.add_parser("example", help="write generated touch-tone key strings: WAVs and train/val/test manifests")
    example.add_argument("directory", type=Path)
    example.add_argument("--seed", type=int, default=0)
    for split, count in SPLITS.items():
        example.add_argument(f"--{split}", type=int, default=count, help=f"utterances (default {count})")
    example.set_defaults(run=_example)


def _input_flags(parser) -> None:
    parser.add_argument("--pattern", help="for folders: transcripts from file names, e.g. '{text}_{speaker}_{take}.wav'")
    parser.add_argument("--skip-bad", action="store_true",
                        help="leave out unreadable or too-short audio and empty transcripts (counted) instead of stopping")


def _decode_flags(parser) -> None:
    parser.add_argument("--beam", type=int, default=1, help="prefix beam search width; 1 decodes greedily")
    parser.add_argument("--lm-weight", type=float, default=0.0, help="weight of the run's n-gram model in beam search (0: none)")
    parser.add_argument("--bonus", type=float, default=0.0, help="score added per emitted unit (balances the LM's cost)")
    parser.add_argument("--device", default="auto")


def _decoding(args) -> speech.Decoding:
    if args.beam < 1:
        raise ValueError(f"--beam must be at least 1; got {args.beam}")
    return speech.Decoding(args.beam, args.lm_weight, args.bonus)


def _train(args) -> int:
    if args.resume is not None:
        summary = speech.resume(args.resume, training_overrides(args))
        _print_summary(summary, args.resume)
        return 0
    if args.train is None:
        raise ValueError("--train MANIFEST is required (or --resume RUN_DIR)")
    data = {"units": args.units, "lowercase": not args.keep_case, "punctuation": args.keep_punctuation, "features": args.features,
            "n_mels": args.n_mels, "n_mfcc": args.n_mfcc, "hop_ms": args.hop_ms, "window_ms": args.window_ms,
            "sample_rate": args.sample_rate, "skip_bad": args.skip_bad, "pattern": args.pattern, "val_fraction": args.val_fraction,
            "lm_order": args.lm_order, "speeds": tuple(args.speed_perturb or (1.0,)), "crop_words": args.crop_words,
            "crop_fragments": args.crop_fragments,
            "utterance_norm": args.utterance_norm}
    preset = args.preset or "tiny"
    data["batch_size"] = args.batch_size or speech.preset_configs(preset).data["batch_size"]
    model = model_overrides(args, {"cell": "cell", "hidden_size": "hidden_size", "num_layers": "num_layers", "dropout": "dropout",
                                   "bidirectional": "bidirectional", "stack": "stack", "conv_layers": "conv_layers",
                                   "conv_kernel": "conv_kernel", "freq_masks": "freq_masks", "freq_width": "freq_width",
                                   "time_masks": "time_masks", "time_width": "time_width"})
    model.update(regulariser_overrides(args))
    if args.no_specaugment:
        model.update(freq_masks=0, time_masks=0)
    out = args.out or Path("runs") / "speech"
    if args.overwrite:
        clear_run_dir(out)
    summary = speech.train(args.train, args.val, args.test, speech.SpeechDataConfig(**data), model, training_overrides(args), out, preset)
    _print_summary(summary, out)
    return 0


def _print_summary(summary: dict, out: Path) -> None:
    if summary["best"] is None and summary["stop_reason"] != "interrupted":
        print(f"{summary['steps']} steps ({summary['stop_reason']}); no validation data, so the last weights are kept")
    elif report_stop(summary, "best", f"best validation {summary['monitor'].removeprefix('val_').upper()}", "speech", out):
        return
    if "test" in summary:
        test = summary["test"]
        print(f"test WER {test['wer']:.2%}, CER {test['cer']:.2%}, SER {test['ser']:.2%} (greedy, {test['sentences']} utterances)")
    saved_run(out, f"rnnkit speech evaluate {out} --data MANIFEST")


def _evaluate(args) -> int:
    utterances = utterances_of([args.data], args.pattern)
    if any(u.text is None for u in utterances):
        raise ValueError(f"{args.data}: every utterance needs a transcript to be scored")
    metrics, records = speech.evaluate_run(args.run_dir, utterances, args.data, _decoding(args), args.device, args.skip_bad)
    if args.predictions is not None:
        args.predictions.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    if args.json:
        print(json.dumps(metrics))
        return 0
    decoding = "greedy" if args.beam == 1 and not args.lm_weight else f"beam {args.beam}, LM weight {args.lm_weight}"
    print(f"WER {metrics['wer']:.2%}  ({metrics['word_substitutions']} sub, {metrics['word_deletions']} del, "
          f"{metrics['word_insertions']} ins of {metrics['words']} words)")
    print(f"CER {metrics['cer']:.2%}  ({metrics['chars']} characters)   SER {metrics['ser']:.2%}  ({metrics['sentences']} utterances)")
    print(f"{decoding}; {metrics['audio_seconds']:.1f} s of audio in {metrics['decode_seconds']:.2f} s "
          f"(real-time factor {metrics['real_time_factor']:.4f})")
    if metrics.get("timed_words"):
        print(f"word starts: mean error {metrics['start_error_ms_mean']:.0f} ms, {metrics['start_within_50ms']:.0%} within 50 ms "
              f"({metrics['timed_words']} matched words)")
    return 0


def _transcribe(args) -> int:
    transcripts = transcribe(args.run_dir, args.inputs, _decoding(args), args.timestamps or args.format == "srt", args.device,
                             args.pattern, args.plot)
    if args.output_dir is not None:
        args.output_dir.mkdir(parents=True, exist_ok=True)
        for t in transcripts:
            target = args.output_dir / f"{Path(t.audio).stem}.{args.format}"
            target.write_text(outputs.render(t, args.format), encoding="utf-8")
        print(f"wrote {len(transcripts)} {args.format} file(s) to {args.output_dir}", file=sys.stderr)
        return 0
    if args.format == "srt" and len(transcripts) > 1:
        raise ValueError("SubRip subtitles of several files need --output-dir (one .srt per file)")
    for t in transcripts:
        text = outputs.render(t, args.format)
        sys.stdout.write(f"{t.audio}\t{text}" if args.format == "txt" and len(transcripts) > 1 else text)
    if args.plot is not None:
        print(f"plot: {args.plot}", file=sys.stderr)
    return 0


def _stream(args) -> int:
    for event in stream_file(args.run_dir, args.file, args.chunk_ms, args.device):
        if args.json:
            print(json.dumps({"seconds": round(event.seconds, 3), "text": event.text, "final": event.final}), flush=True)
        elif not event.final:
            print(f"[{event.seconds:7.2f} s] {event.text}", file=sys.stderr, flush=True)
        else:
            print(event.text)
    print(f"rnnkit: {event.seconds:.2f} s of audio in {args.chunk_ms:g} ms chunks, {event.compute_seconds:.3f} s of compute "
          f"(real-time factor {event.compute_seconds / max(event.seconds, 1e-9):.4f})", file=sys.stderr)
    return 0


def _align(args) -> int:
    if args.out.suffix.lower() not in (".jsonl", ".json"):
        raise ValueError(f"--out {args.out}: the aligned manifest is JSON lines; name it .jsonl")
    utterances = utterances_of([args.data], args.pattern)
    entries, summary = align_run(args.run_dir, utterances, args.data, args.device, args.skip_bad)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")
    if args.json:
        print(json.dumps({**summary, "out": str(args.out)}))
        return 0
    left = f"; {summary['left_out']} left out (--skip-bad)" if summary["left_out"] else ""
    print(f"aligned {summary['aligned']} utterance(s){left}; align score (mean log-probability per frame) median "
          f"{summary['align_score_median']:.3f}, lowest {summary['align_score_min']:.3f}; wrote {args.out}")
    print(f"train on runs of words with: rnnkit speech train --train {args.out} --crop-words 0.5 ...")
    return 0


def _lm(args) -> int:
    summary = speech.write_language_model(args.run_dir, args.text, args.order)
    print(f"order-{summary['order']} n-gram model of {summary['sentences']:,} sentences (training perplexity "
          f"{summary['training_perplexity']:.2f}) saved in {args.run_dir / 'lm.json'}; decode with --beam 8 --lm-weight W --bonus B "
          "(choose W and B on validation data; on AN4 characters, 0.2 and 1.5 did best)")
    return 0


def _example(args) -> int:
    manifests = write_dtmf_example(args.directory, {split: getattr(args, split) for split in SPLITS}, seed=args.seed)
    for split, path in manifests.items():
        print(f"{split}: {path}")
    print(f"try: rnnkit speech train --train {manifests['train']} --val {manifests['val']} --test {manifests['test']} "
          "--units word --no-bidirectional --out runs/tones")
    return 0
