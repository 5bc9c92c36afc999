"""Multi30k German -> English (train / val / test_2016_flickr): train a translation model, then
BLEU and chrF with sacrebleu (cased, detokenized, 13a) on test2016, greedy and beam search, and the
training wall-clock. Run it once with attention and once with `--attention none` for the comparison.

    python benchmarks/translate_multi30k.py --attention general --epochs 10 --out runs/m30k-general
    python benchmarks/translate_multi30k.py --attention none --epochs 10 --out runs/m30k-none
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rnnkit.tasks import translate

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "multi30k"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--attention", default="general", choices=["additive", "dot", "general", "none"])
    parser.add_argument("--unscaled-scores", action="store_true", help="dot/general scores without 1/sqrt(d)")
    parser.add_argument("--cell", default="gru")
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--embedding-size", type=int, default=256)
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--max-steps", type=int)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    files = {name: args.data / f"{name}.gz" for name in ("train.de", "train.en", "val.de", "val.en", "test_2016_flickr.de", "test_2016_flickr.en")}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        print(f"Multi30k files not found: {missing}; pass --data DIR", file=sys.stderr)
        return 1
    if not (args.out / "run.json").is_file():
        config = translate.TranslateDataConfig(vocab_size=args.vocab_size, batch_size=args.batch_size)
        model = {"attention": args.attention, "cell": args.cell, "hidden_size": args.hidden_size, "embedding_size": args.embedding_size,
                 "dropout": args.dropout, "scale_scores": not args.unscaled_scores}
        training = {"epochs": args.epochs, "max_steps": args.max_steps, "lr": args.lr, "seed": args.seed, "device": args.device,
                    "schedule": "cosine", "min_lr": args.lr / 20}
        start = time.perf_counter()
        summary = translate.train(str(files["train.de"]), str(files["train.en"]), (str(files["val.de"]), str(files["val.en"])), None,
                                  config, model, training, args.out)
        print(f"trained {summary['steps']} steps in {(time.perf_counter() - start) / 60:.1f} min; best validation loss "
              f"{summary['best_val_loss']:.4f}", flush=True)
    results = {}
    for beam in args.beams:
        results[beam] = translate.evaluate_run(args.out, str(files["test_2016_flickr.de"]), str(files["test_2016_flickr.en"]), beam_size=beam,
                                               device_name=args.device)
        r = results[beam]
        print(f"test2016 beam {beam}: BLEU {r['bleu']:.2f}  chrF {r['chrf']:.2f}  BLEU lower-cased {r['bleu_lowercase']:.2f}  "
              f"({r['decode_seconds']:.0f} s to decode {r['sentences']} sentences; {r['unfinished']} cut at the length limit)", flush=True)
    print(f"sacrebleu {results[args.beams[0]]['bleu_signature']}")
    (args.out / "benchmark.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
