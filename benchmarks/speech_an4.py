"""AN4 (CMU census database, ../shared/data/an4): 16 kHz NIST SPHERE, 948 training and 130 test
utterances of spelled letters, digits, names and commands. Character-level CTC.

Validation is ESPnet's `train_dev`: utterance ids formed as {speaker}-{prefix}-{suffix}, sorted, the
first 100; the other 848 train. The test set is never used to choose anything: the checkpoint is
the best validation CER, and the n-gram weight and insertion bonus of beam search are chosen on
train_dev from a small grid, then applied once to test. The n-gram model is estimated from the 848
training transcripts only.

    python benchmarks/speech_an4.py [--preset small] [--epochs 60] [--lm-order 6] [--out runs/bench-an4]

Anchors (test set, 130 utterances, 773 words, 2,565 characters with spaces): ESPnet1 CTC-only BLSTM
CER 12.6; ESPnet2 transformer (BPE 30, speed perturbation, CTC weight 0.3) WER 7.6, CER 3.6.
Prints the figures and writes OUT/results.json; asserts nothing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import time
from pathlib import Path

from speech_common import DATA, line, write_manifest

from rnnkit.data.speech import read_manifest
from rnnkit.tasks import speech
from rnnkit.tasks.speech import Decoding, Recognizer
from rnnkit.training.metrics import error_rates

AN4 = DATA / "an4"
LINE = re.compile(r"^(?:<s> )?(.*?)(?: </s>)? \((\S+)\)$")


def split(name: str) -> list[dict]:
    texts = {}
    for raw in (AN4 / "etc" / f"an4_{name}.transcription").read_text().splitlines():
        if raw.strip():
            match = LINE.match(raw.strip())
            texts[match.group(2)] = match.group(1)
    entries = []
    for fid in (AN4 / "etc" / f"an4_{name}.fileids").read_text().split():
        entries.append({"audio_filepath": str(AN4 / "wav" / f"{fid}.sph"), "text": texts[fid.rsplit("/", 1)[1]], "id": fid.rsplit("/", 1)[1]})
    return entries


def espnet_id(utt: str) -> str:
    prefix, speaker, suffix = utt.split("-")
    return f"{speaker}-{prefix}-{suffix}"


def manifests(work: Path) -> dict[str, Path]:
    train = split("train")
    ordered = sorted(train, key=lambda e: espnet_id(e["id"]).encode())
    dev_ids = {e["id"] for e in ordered[:100]}
    if len(train) != 948 or len(dev_ids) != 100:
        raise SystemExit(f"expected 948 training utterances in {AN4}; found {len(train)}")
    return {"train_nodev": write_manifest(work / "train_nodev.jsonl", [e for e in train if e["id"] not in dev_ids]),
            "train_dev": write_manifest(work / "train_dev.jsonl", [e for e in train if e["id"] in dev_ids]),
            "test": write_manifest(work / "test.jsonl", split("test"))}


def score(recognizer: Recognizer, data, decoding: Decoding) -> dict:
    start = time.perf_counter()
    transcripts, _ = recognizer.transcribe(data, decoding)
    metrics = error_rates(data.texts, [t.text for t in transcripts])
    metrics["real_time_factor"] = (time.perf_counter() - start) / data.seconds
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--lm-order", type=int, default=6)
    parser.add_argument("--beam", type=int, default=8)
    parser.add_argument("--n-mels", type=int, default=40)
    parser.add_argument("--model", default="{}", help="JSON object of model overrides, e.g. '{\"conv_layers\": 2}'")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-an4"))
    parser.add_argument("--skip-training", action="store_true", help="score the run already in OUT/run")
    args = parser.parse_args()
    paths = manifests(args.out / "data")
    run = args.out / "run"
    results: dict = {}
    if not args.skip_training:
        if run.exists():
            import shutil

            shutil.rmtree(run)
        start = time.perf_counter()
        summary = speech.train(str(paths["train_nodev"]), str(paths["train_dev"]), None,
                               speech.SpeechDataConfig(units="char", lm_order=args.lm_order, n_mels=args.n_mels),
                               json.loads(args.model), {"epochs": args.epochs, "progress": False}, run, args.preset)
        results["train_minutes"] = (time.perf_counter() - start) / 60
        results["best_val_cer"] = summary["best"]
        print(f"trained {summary['steps']} steps in {results['train_minutes']:.1f} min; best train_dev CER {summary['best']:.4f}", flush=True)
    recognizer = Recognizer.load(run, "cpu")
    dev = recognizer.load_audio(read_manifest(paths["train_dev"]), "train_dev")
    test = recognizer.load_audio(read_manifest(paths["test"]), "test")
    grid = {}
    for weight, bonus in itertools.product((0.1, 0.2, 0.3, 0.4, 0.6, 0.8), (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)):
        grid[(weight, bonus)] = score(recognizer, dev, Decoding(args.beam, weight, bonus))["cer"]
    weight, bonus = min(grid, key=grid.get)
    print(f"n-gram weight {weight}, bonus {bonus} chosen on train_dev (CER {100 * grid[(weight, bonus)]:.2f}%)")
    decodings = {"greedy": Decoding(), f"beam {args.beam}": Decoding(args.beam),
                 f"beam {args.beam} + {args.lm_order}-gram": Decoding(args.beam, weight, bonus)}
    for split_name, data in (("train_dev", dev), ("test", test)):
        for name, decoding in decodings.items():
            metrics = score(recognizer, data, decoding)
            results[f"{split_name}, {name}"] = metrics
            print(line(f"{split_name}, {name}", metrics), flush=True)
    results["lm_grid_dev_cer"] = {f"{w},{b}": v for (w, b), v in grid.items()}
    (args.out / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
