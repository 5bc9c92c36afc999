"""Forward+backward throughput of rnnkit's recurrent layers (fused and loop kernels) next to torch.nn.

    python benchmarks/layers.py [--device cpu|cuda] [--cells lstm,gru,rnn,lnlstm,lngru] [--repeats 7] [--json FILE]

For each shape and cell the three implementations share one set of weights and one input, and are
timed in turns (torch.nn, fused, loop, torch.nn, ...) so that drifts in machine load hit all alike.
Each figure is the median over the repeats (each repeat at least 0.1 s of back-to-back passes) of one
forward+backward pass, given as tokens (B*T) per
second, with the ratio to torch.nn. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from layer_timing import race  # noqa: E402

import rnnkit  # noqa: E402

# (B, T, I, H, layers), from the foundation issue
SHAPES = [(32, 100, 8, 64, 1), (64, 128, 128, 512, 2), (64, 64, 1024, 1024, 1)]
CELLS = {"lstm": (rnnkit.LSTM, torch.nn.LSTM), "gru": (rnnkit.GRU, torch.nn.GRU), "rnn": (rnnkit.RNN, torch.nn.RNN),
         # layer-norm cells have no fused kernel: their "fused" column is empty, "loop" is the layer itself
         "lnlstm": (rnnkit.LayerNormLSTM, torch.nn.LSTM), "lngru": (rnnkit.LayerNormGRU, torch.nn.GRU)}
NO_FUSED = {"lnlstm", "lngru"}


def bench(cell: str, shape, device, repeats: int, warmup: int, loop_repeats: int, dtype) -> dict:
    batch, steps, inputs, hidden, layers = shape
    ours_cls, torch_cls = CELLS[cell]
    reference = torch_cls(inputs, hidden, num_layers=layers, batch_first=True).to(device, dtype)
    loop = ours_cls(inputs, hidden, num_layers=layers, kernel="loop").to(device, dtype)
    loop.load_state_dict(reference.state_dict(), strict=cell not in NO_FUSED)  # layer norm adds its gains
    contenders = {"torch.nn": reference, "loop": loop}
    if cell not in NO_FUSED:
        contenders["fused"] = ours_cls(inputs, hidden, num_layers=layers, kernel="fused").to(device, dtype)
        contenders["fused"].load_state_dict(reference.state_dict())
    x = torch.randn(batch, steps, inputs, device=device, dtype=dtype, requires_grad=True)
    grad = torch.randn(batch, steps, hidden, device=device, dtype=dtype)
    speeds = race(contenders, x, grad, device, repeats, warmup=warmup, fewer={"loop": loop_repeats})
    result = {"cell": cell, "shape": dict(zip(("B", "T", "I", "H", "layers"), shape)), "fused": float("nan")}
    result.update(speeds)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cells", default="lstm,gru,rnn")
    parser.add_argument("--shapes", default="0,1,2", help="indices into the shape list")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--loop-repeats", type=int, default=3, help="the loop kernel is slow; time it fewer times")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {where}, {args.dtype}; forward+backward, tokens/s (median of {args.repeats})")
    header = f"{'cell':6} {'B':>3} {'T':>4} {'I':>5} {'H':>5} {'L':>2} | {'torch.nn':>10} {'fused':>10} {'loop':>10} | {'fused/nn':>8} {'loop/nn':>8}"
    print(header)
    print("-" * len(header))
    results = []
    for index in map(int, args.shapes.split(",")):
        for cell in args.cells.split(","):
            r = bench(cell, SHAPES[index], device, args.repeats, args.warmup, args.loop_repeats, dtype)
            results.append(r)
            s = r["shape"]
            print(
                f"{cell:6} {s['B']:>3} {s['T']:>4} {s['I']:>5} {s['H']:>5} {s['layers']:>2} | "
                f"{r['torch.nn']:>10,.0f} {r['fused']:>10,.0f} {r['loop']:>10,.0f} | "
                f"{r['fused'] / r['torch.nn']:>8.3f} {r['loop'] / r['torch.nn']:>8.3f}",
                flush=True,
            )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
