"""The long-sequence cost of RNNs and transformers, measured: per-token generation latency and the
memory a model keeps between tokens, against the context length.

    python benchmarks/scaling.py                                   # contexts 128 ... 8192, ~1M parameters
    python benchmarks/scaling.py --contexts 128 1024 --params 200000 --threads 1

For each context length L, each arm runs in a fresh process (so its peak resident memory is its own):
the model reads L tokens of context once (not timed), then generates: 10 warm-up tokens, then the
median and 90th percentile over 64 tokens at batch 1. Arms: an LSTM and a GRU (one step with the
carried state: constant work and memory per token), the transformer with its key/value cache (each
token attends to all L cached ones: work and cache grow with L) and without a cache (each token
re-reads the whole context: up to --no-cache-max). Models are untrained (latency does not depend on
the weights), sized to --params by rnnkit's --params rule, char-level vocabulary of 66. "kept" is
the state or cache in bytes; "peak RSS" is the process's high-water mark. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

VOCAB = 66
ARMS = ("lstm", "gru", "transformer", "transformer-no-cache")


def build(arm: str, params: int, context: int):
    from rnnkit.models.choice import build_model
    from rnnkit.tasks.lm import LANGUAGE_MODELS

    if arm.startswith("transformer"):
        settings = {"model": "transformer", "max_len": context + 128, "positions": "sinusoidal"}
    else:
        settings = {"model": "rnn", "cell": arm, "num_layers": 2}
    return build_model(LANGUAGE_MODELS, {**settings, "params": params}, vocab_size=VOCAB).eval()


def kept_bytes(state) -> int:
    import torch

    if isinstance(state, torch.Tensor):
        return state.numel() * state.element_size()
    if isinstance(state, (tuple, list)):
        return sum(kept_bytes(part) for part in state)
    if isinstance(state, dict):
        return sum(kept_bytes(part) for part in state.values())
    return 0


def measure(arm: str, params: int, context: int, threads: int) -> dict:
    """One arm at one context length, in this process."""
    import torch

    from rnnkit.models.choice import parameter_count

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build(arm, params, context)
    prompt = torch.randint(1, VOCAB, (1, context))
    token = torch.randint(1, VOCAB, (1, 1))
    times = []
    with torch.no_grad():
        if arm == "transformer-no-cache":
            window = prompt
            for _ in range(74):
                start = time.perf_counter()
                model(window)[0][:, -1]
                times.append(time.perf_counter() - start)
            kept = kept_bytes(window)
        else:
            _, state = model.step(prompt)
            for _ in range(74):
                start = time.perf_counter()
                _, state = model.step(token, state)
                times.append(time.perf_counter() - start)
            if arm == "transformer":  # the cache the next token would read: history tokens plus keys and values
                kept = kept_bytes(state[1])
            else:
                kept = kept_bytes(state)
    times = sorted(times[10:])  # after 10 warm-up tokens
    return {"arm": arm, "context": context, "parameters": parameter_count(model),
            "median_ms": 1000 * statistics.median(times), "p90_ms": 1000 * times[int(0.9 * len(times))],
            "kept_bytes": kept, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contexts", type=int, nargs="+", default=[128, 512, 2048, 8192])
    parser.add_argument("--params", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    parser.add_argument("--no-cache-max", type=int, default=2048, help="longest context the cacheless transformer re-reads")
    parser.add_argument("--one", nargs=2, metavar=("ARM", "CONTEXT"), help=argparse.SUPPRESS)  # a child process
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], args.params, int(args.one[1]), args.threads)))
        return

    rows = []
    print(f"batch 1, {args.threads} thread(s), ~{args.params:,} parameters; each row a fresh process", flush=True)
    print(f"{'arm':>22} {'context':>8} {'params':>10} {'median ms':>10} {'p90 ms':>8} {'kept':>10} {'peak RSS':>9}")
    for context in args.contexts:
        for arm in args.arms:
            if arm == "transformer-no-cache" and context > args.no_cache_max:
                continue
            done = subprocess.run([sys.executable, __file__, "--one", arm, str(context), "--params", str(args.params),
                                   "--threads", str(args.threads)], capture_output=True, text=True)
            if done.returncode != 0:
                print(f"{arm:>22} {context:>8} failed: {done.stderr.strip().splitlines()[-1:]}", flush=True)
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(row)
            kept = row["kept_bytes"]
            kept_text = f"{kept / 2**20:.2f} MiB" if kept >= 2**20 else f"{kept / 1024:.1f} KiB"
            print(f"{arm:>22} {context:>8} {row['parameters']:>10,} {row['median_ms']:>10.2f} {row['p90_ms']:>8.2f} "
                  f"{kept_text:>10} {row['peak_rss_mib']:>6.0f} MiB", flush=True)
    rnn = {r["context"]: r["median_ms"] for r in rows if r["arm"] == "lstm"}
    cached = {r["context"]: r["median_ms"] for r in rows if r["arm"] == "transformer"}
    passed = [c for c in sorted(cached) if c in rnn and cached[c] > rnn[c]]
    if rnn and cached:
        print("the cached transformer's per-token cost passes the LSTM's " +
              (f"by context {passed[0]}" if passed else f"at no context measured (up to {max(cached)})"))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
