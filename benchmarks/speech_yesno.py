"""yesno (Kaldi's smoke-test corpus, ../shared/data/yesno): 60 files of 8 Hebrew "yes"/"no" words from
one speaker. Split as Kaldi's recipe: the first 31 names (sorted) train, the last 29 (232 words) test.
Kaldi's monophone GMM-HMM: WER 0.00.

The split has a trap for sequence models: every training file starts with "no" and every test file
with "yes". Word units, 13 MFCCs (`--features logmel`: 40 log-mel energies), a unidirectional
2 x GRU 128 with dropout 0.3, 150 epochs of 31 files (`--seeds` runs several). Then, with `--crop-words P`,
as Kaldi's recipes align and retrain, a second pass: the first model aligns the training transcripts
(`rnnkit speech align`) and a fresh model trains with `--crop-words P` on runs of whole words cut at
the pauses, so that not every utterance it hears opens with "no".

    python benchmarks/speech_yesno.py [--features mfcc] [--seeds 0 1 2] [--bidirectional] [--epochs 150] [--crop-words P]
        [--crop-fragments Q] [--align-with RUN_DIR]

Prints the figures (and the utterances it got wrong); asserts nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from speech_common import DATA, line, train_and_score, write_manifest

from rnnkit.data.speech import read_manifest
from rnnkit.tasks.speech import Decoding, evaluate_run
from rnnkit.tasks.speech.recognize import align_run


def manifests(work: Path) -> tuple[Path, Path]:
    folder = DATA / "yesno" / "waves_yesno"
    names = sorted(p.name for p in folder.glob("*.wav"))
    if len(names) != 60:
        raise SystemExit(f"expected 60 WAV files in {folder}; found {len(names)}")
    entry = lambda n: {"audio_filepath": str(folder / n), "text": " ".join("yes" if c == "1" else "no" for c in n[:-4].split("_"))}  # noqa: E731
    return (write_manifest(work / "train.jsonl", [entry(n) for n in names[:31]]),
            write_manifest(work / "test.jsonl", [entry(n) for n in names[31:]]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--features", choices=["mfcc", "logmel"], default="mfcc")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--crop-words", type=float, default=0.0, help="a second pass with this --crop-words (0: none)")
    parser.add_argument("--crop-fragments", type=float, default=0.0, help="the second pass's --crop-fragments")
    parser.add_argument("--align-with", type=Path, help="the run whose model aligns the training transcripts "
                        "(default: the first pass's first seed; given, only the second pass runs)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-yesno"))
    args = parser.parse_args()
    train, test = manifests(args.out / "data")
    aligned = args.out / "data" / "train-aligned.jsonl"
    passes = [] if args.align_with and args.crop_words else [(f"run-seed{seed}", train, 0.0, seed) for seed in args.seeds]
    passes += [(f"run-cropped-seed{seed}", aligned, args.crop_words, seed) for seed in args.seeds] if args.crop_words else []
    for name, manifest, crop, seed in passes:
        if crop and seed == args.seeds[0]:  # the first pass's first model gives the word times
            entries, summary = align_run(args.align_with or args.out / f"run-seed{args.seeds[0]}", read_manifest(train), str(train), "cpu")
            write_manifest(manifest, entries)
            print(f"aligned the training transcripts with the first pass: align score median {summary['align_score_median']:.3f}, "
                  f"lowest {summary['align_score_min']:.3f}")
        result = train_and_score(manifest, None, {"test": test}, args.out / name,
                                 dict(units="word", batch_size=4, val_fraction=0.0, crop_words=crop, features=args.features,
                                      crop_fragments=args.crop_fragments if crop else 0.0),
                                 dict(bidirectional=args.bidirectional, dropout=0.3),
                                 dict(epochs=args.epochs, lr=2e-3, warmup_steps=20, seed=seed),
                                 {"greedy": Decoding(), "beam 8": Decoding(beam=8)})
        print(f"yesno, {args.features}, seed {seed}, {'crop-words ' + str(crop) if crop else 'whole utterances'}: {result['steps']} steps in "
              f"{result['train_seconds']:.0f} s")
        for decoding, metrics in result["test"].items():
            print("  " + line(decoding, metrics))
        _, records = evaluate_run(args.out / name, read_manifest(test), str(test), Decoding(), "cpu")
        for r in records:
            if r["reference"] != r["hypothesis"]:
                print(f"  wrong: {r['reference']!r} -> {r['hypothesis']!r}")


if __name__ == "__main__":
    main()
