"""Connected digits built from the Free Spoken Digit Dataset (../shared/data/fsdd, 8 kHz, 6 speakers x
10 digits x 50 takes), and isolated digits on FSDD's official split.

Strings: 1-7 digits drawn uniformly, one speaker per string, distinct takes inside a string, each
take normalised to -20 dBFS and the whole string given a random gain of +-6 dB, gaps of 50-300 ms
and 0-400 ms at the ends (FSDD's takes are trimmed, so a clip may start with speech) filled with low noise (-60 to -50 dBFS), 5 ms fades at take edges. Every
word's true start and end go into the manifest. Generated deterministically from the seed; nothing
is shipped (FSDD is CC BY-SA 4.0).

Protocols:
- official: train strings from takes 10-49 (2,000), validation from takes 5-9 (200), test 500 strings
  from takes 0-4 (FSDD's official test takes); also the 300 official test files themselves (isolated).
- speakers: leave one speaker out (6 folds): train and validate on five speakers as above, test 500
  strings of the sixth speaker's takes; mean and standard deviation over the folds.
- isolated: a recognizer trained on the single takes 5-49 (takes 5-9 validate), tested on takes 0-4.

    python benchmarks/speech_fsdd.py --protocol official [--no-bidirectional] [--epochs 25]
    python benchmarks/speech_fsdd.py --protocol speakers [--folds jackson theo]
    python benchmarks/speech_fsdd.py --protocol isolated

Units are words (the ten digits). Prints WER, SER, greedy vs beam, word-start error and real-time
factor; writes OUT/results.json. Asserts nothing. Context (different data, TIDIGITS): Kaldi's
triphone recipe has 2.64% sentence errors.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
from speech_common import DATA, line, train_and_score, write_manifest

from rnnkit.data.audio import read_audio, write_wav
from rnnkit.tasks.speech import Decoding

FSDD = DATA / "fsdd" / "recordings"
RATE = 8000
SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")


def load_takes() -> dict[tuple[str, int, int], np.ndarray]:
    """(speaker, digit, take) -> samples normalised to -20 dBFS RMS."""
    takes = {}
    for path in sorted(FSDD.glob("*.wav")):
        digit, speaker, take = path.stem.split("_")
        audio = read_audio(path)
        if audio.sample_rate != RATE:
            raise SystemExit(f"{path}: expected {RATE} Hz")
        x = audio.samples[0].double().numpy()
        takes[(speaker, int(digit), int(take))] = x * (0.1 / max(np.sqrt(np.mean(x**2)), 1e-6))
    if len(takes) != 3000:
        raise SystemExit(f"expected 3,000 FSDD recordings in {FSDD}; found {len(takes)}")
    return takes


def assemble(keys: list[tuple[str, int, int]], takes: dict, rng: np.random.Generator) -> tuple[np.ndarray, list[dict]]:
    gain = 10 ** (rng.uniform(-6, 6) / 20)
    fade = int(0.005 * RATE)
    pieces, words = [np.zeros(int(rng.uniform(0.0, 0.4) * RATE))], []
    position = len(pieces[0])
    for i, key in enumerate(keys):
        x = takes[key].copy()
        ramp = min(fade, len(x) // 2)
        x[:ramp] *= np.linspace(0, 1, ramp)
        x[len(x) - ramp :] *= np.linspace(1, 0, ramp)
        pieces.append(x * gain)
        words.append({"word": str(key[1]), "start": round(position / RATE, 4), "end": round((position + len(x)) / RATE, 4)})
        position += len(x)
        gap = np.zeros(int((rng.uniform(0.05, 0.3) if i < len(keys) - 1 else rng.uniform(0.0, 0.4)) * RATE))
        pieces.append(gap)
        position += len(gap)
    signal = np.concatenate(pieces)
    noise = 10 ** (rng.uniform(-60, -50) / 20)
    return signal + rng.normal(0, noise, size=signal.shape), words


def make_strings(takes: dict, speakers, take_range: range, count: int, rng: np.random.Generator, folder: Path) -> Path:
    """`count` strings of 1-7 digits from `speakers`' takes in `take_range`, as WAVs and a manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for i in range(count):
        speaker = speakers[int(rng.integers(len(speakers)))]
        digits = rng.integers(0, 10, size=int(rng.integers(1, 8))).tolist()
        chosen: dict[int, list[int]] = {}
        keys = []
        for d in digits:  # distinct takes of each digit inside a string
            left = [t for t in take_range if t not in chosen.setdefault(d, [])]
            take = int(rng.choice(left))
            chosen[d].append(take)
            keys.append((speaker, d, take))
        samples, words = assemble(keys, takes, rng)
        name = f"{i:04d}.wav"
        write_wav(folder / name, samples, RATE)
        entries.append({"audio_filepath": name, "text": " ".join(w["word"] for w in words), "duration": round(len(samples) / RATE, 3),
                        "speaker": speaker, "words": words})
    return write_manifest(folder / "manifest.jsonl", entries)


def isolated_manifest(take_range: range, speakers, path: Path) -> Path:
    entries = [{"audio_filepath": str(FSDD / f"{d}_{s}_{t}.wav"), "text": str(d)} for s in speakers for d in range(10) for t in take_range]
    return write_manifest(path, entries)


def experiment(name: str, train: Path, val: Path, tests: dict, out: Path, args, batch_size: int = 16) -> dict:
    model = {"bidirectional": args.bidirectional}
    training = {"epochs": args.epochs, "seed": args.seed}
    decodings = {"greedy": Decoding(), "beam 8": Decoding(beam=8)}
    data = dict(units="word", batch_size=batch_size, speeds=tuple(args.speed_perturb), utterance_norm=args.utterance_norm)
    result = train_and_score(train, val, tests, out, data, model, training, decodings)
    print(f"{name}: {result['steps']} steps in {result['train_seconds'] / 60:.1f} min", flush=True)
    for test in tests:
        for decoding, metrics in result[test].items():
            print("  " + line(f"{test}, {decoding}", metrics), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocol", choices=["official", "speakers", "isolated"], default="official")
    parser.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--train-strings", type=int, default=2000)
    parser.add_argument("--folds", nargs="*", default=list(SPEAKERS), help="speakers to hold out (speakers protocol)")
    parser.add_argument("--speed-perturb", type=float, nargs="+", default=[1.0], metavar="FACTOR",
                        help="speed factors for the training strings, e.g. 0.9 1.0 1.1")
    parser.add_argument("--utterance-norm", action="store_true", help="per-utterance mean normalisation of the features")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-fsdd"))
    args = parser.parse_args()
    tag = ("bi" if args.bidirectional else "uni") + ("" if args.speed_perturb == [1.0] else "-sp") + ("-cmn" if args.utterance_norm else "")
    out = args.out / f"{args.protocol}-{tag}"
    results = {}
    if args.protocol == "isolated":
        data = out / "data"
        results["isolated"] = experiment("isolated digits", isolated_manifest(range(10, 50), SPEAKERS, data / "train.jsonl"),
                                         isolated_manifest(range(5, 10), SPEAKERS, data / "val.jsonl"),
                                         {"official test (300 files)": isolated_manifest(range(0, 5), SPEAKERS, data / "test.jsonl")},
                                         out / "run", args, batch_size=32)
    else:
        takes = load_takes()
        folds = [None] if args.protocol == "official" else args.folds
        for fold, held_out in enumerate(folds):
            rng = np.random.default_rng([args.seed, fold])
            speakers = [s for s in SPEAKERS if s != held_out]
            data = out / "data" / (held_out or "all")
            train = make_strings(takes, speakers, range(10, 50), args.train_strings, rng, data / "train")
            val = make_strings(takes, speakers, range(5, 10), 200, rng, data / "val")
            if held_out is None:
                tests = {"test strings": make_strings(takes, SPEAKERS, range(0, 5), 500, rng, data / "test"),
                         "official test files": isolated_manifest(range(0, 5), SPEAKERS, data / "isolated.jsonl")}
            else:
                tests = {f"held-out {held_out}": make_strings(takes, [held_out], range(0, 50), 500, rng, data / "test")}
            name = "official take split" if held_out is None else f"speaker {held_out} held out"
            results[held_out or "official"] = experiment(f"{name} ({tag})", train, val, tests, out / "run" / (held_out or "all"), args)
        if args.protocol == "speakers":
            for decoding in ("greedy", "beam 8"):
                wers = [100 * r[f"held-out {s}"][decoding]["wer"] for s, r in results.items()]
                sers = [100 * r[f"held-out {s}"][decoding]["ser"] for s, r in results.items()]
                spread = lambda v: statistics.stdev(v) if len(v) > 1 else 0.0  # noqa: E731
                print(f"leave-one-speaker-out, {decoding}: WER {statistics.mean(wers):.2f} +- {spread(wers):.2f}%, "
                      f"SER {statistics.mean(sers):.2f} +- {spread(sers):.2f}% over {len(wers)} folds")
    (out / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
