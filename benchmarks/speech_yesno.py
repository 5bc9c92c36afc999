"""yesno (Kaldi's smoke-test corpus, ../shared/data/yesno): 60 files of 8 Hebrew "yes"/"no" words from
one speaker. Split as Kaldi's recipe: the first 31 names (sorted) train, the last 29 (232 words) test.
Kaldi's monophone GMM-HMM: WER 0.00.

The split has a trap for sequence models: every training file starts with "no" and every test file
with "yes". Word units, a unidirectional 2 x GRU 128 with dropout 0.3, 150 epochs of 31 files.

    python benchmarks/speech_yesno.py [--bidirectional] [--epochs 150] [--out runs/bench-yesno]

Prints the figures (and the utterances it got wrong); asserts nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from speech_common import DATA, line, train_and_score, write_manifest

from rnnkit.data.speech import read_manifest
from rnnkit.tasks.speech import Decoding, evaluate_run


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
    parser.add_argument("--out", type=Path, default=Path("runs/bench-yesno"))
    args = parser.parse_args()
    train, test = manifests(args.out / "data")
    result = train_and_score(train, None, {"test": test}, args.out / "run", dict(units="word", batch_size=4, val_fraction=0.0),
                             dict(bidirectional=args.bidirectional, dropout=0.3), dict(epochs=args.epochs, lr=2e-3, warmup_steps=20),
                             {"greedy": Decoding(), "beam 8": Decoding(beam=8)})
    print(f"yesno: {result['steps']} steps in {result['train_seconds']:.0f} s")
    for name, metrics in result["test"].items():
        print("  " + line(name, metrics))
    _, records = evaluate_run(args.out / "run", read_manifest(test), str(test), Decoding(), "cpu")
    for r in records:
        if r["reference"] != r["hypothesis"]:
            print(f"  wrong: {r['reference']!r} -> {r['hypothesis']!r}")


if __name__ == "__main__":
    main()
