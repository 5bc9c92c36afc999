"""Forward+backward throughput of every rnnkit cell and regulariser next to torch.nn, in one run.

    python benchmarks/cells.py [--part cells|scan|both] [--repeats 5] [--rows fused,weight_drop,...]
                               [--scan-steps 256,1024,4096,16384] [--scan-input 256] [--device cpu|cuda] [--json FILE]

Part "cells": at (B=32, T=100, I=8, H=64, 1 layer) and (B=64, T=128, I=128, H=512, 2 layers), training
mode, each layer against torch.nn.LSTM of the same shape: rnnkit's LSTM (fused), with weight_drop=0.5,
with variational_dropout=0.3 (between layers: a no-op at 1 layer), with recurrent_dropout=0.3 and
zoneout=0.1 (both on the loop kernel), LayerNormLSTM, GRU, LayerNormGRU, MinGRU and MinLSTM.
Part "scan": MinGRU and MinLSTM (parallel scan) next to torch.nn.GRU at B=8, H=256, I=--scan-input,
for each T of --scan-steps.

Contenders of one row share one input and are timed in turns, so drifts in machine load hit all
alike; each figure is the median over the repeats of one forward+backward pass (a repeat lasts at
least 0.1 s), as tokens (B*T) per second and as a ratio to the torch.nn reference. Prints figures;
asserts nothing. Run it alone: other processes on the machine distort every figure.
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

CELL_SHAPES = [(32, 100, 8, 64, 1), (64, 128, 128, 512, 2)]  # (B, T, I, H, layers)
CELL_ROWS = {  # name -> (class, keyword arguments)
    "lstm (fused)": (rnnkit.LSTM, {}),
    "lstm weight_drop=0.5": (rnnkit.LSTM, {"weight_drop": 0.5}),
    "lstm variational_dropout=0.3": (rnnkit.LSTM, {"variational_dropout": 0.3}),
    "lstm recurrent_dropout=0.3": (rnnkit.LSTM, {"recurrent_dropout": 0.3}),
    "lstm zoneout=0.1": (rnnkit.LSTM, {"zoneout": 0.1}),
    "lnlstm": (rnnkit.LayerNormLSTM, {}),
    "gru (fused)": (rnnkit.GRU, {}),
    "lngru": (rnnkit.LayerNormGRU, {}),
    "mingru (scan)": (rnnkit.MinGRU, {}),
    "minlstm (scan)": (rnnkit.MinLSTM, {}),
}


def cells_part(device, dtype, repeats: int, rows: list[str] | None = None) -> list[dict]:
    results = []
    for batch, steps, inputs, hidden, layers in CELL_SHAPES:
        torch.manual_seed(0)
        contenders = {"torch.nn.LSTM": torch.nn.LSTM(inputs, hidden, num_layers=layers, batch_first=True)}
        for name, (cls, kwargs) in CELL_ROWS.items():
            if rows is None or any(row in name for row in rows):
                contenders[name] = cls(inputs, hidden, num_layers=layers, **kwargs)
        contenders = {name: layer.to(device, dtype).train() for name, layer in contenders.items()}
        x = torch.randn(batch, steps, inputs, device=device, dtype=dtype, requires_grad=True)
        grad = torch.randn(batch, steps, hidden, device=device, dtype=dtype)
        speeds = race(contenders, x, grad, device, repeats)
        kernels = {name: getattr(layer, "last_kernel", None) for name, layer in contenders.items()}
        print(f"\nB={batch} T={steps} I={inputs} H={hidden} layers={layers}")
        print(f"{'layer':30} {'tokens/s':>12} {'/ nn.LSTM':>10}  kernel")
        for name, speed in speeds.items():
            kernel = kernels[name].name if kernels[name] is not None else "torch.nn"
            print(f"{name:30} {speed:>12,.0f} {speed / speeds['torch.nn.LSTM']:>10.3f}  {kernel}", flush=True)
        results.append({"shape": dict(B=batch, T=steps, I=inputs, H=hidden, layers=layers), "tokens_per_s": speeds})
    return results


def scan_part(device, dtype, repeats: int, steps_list: list[int], inputs: int) -> list[dict]:
    batch, hidden = 8, 256
    print(f"\nB={batch} H={hidden} I={inputs}: parallel scan against torch.nn.GRU")
    print(f"{'T':>6} {'nn.GRU':>12} {'MinGRU':>12} {'MinLSTM':>12} {'MinGRU/GRU':>11} {'MinLSTM/GRU':>12}")
    results = []
    for steps in steps_list:
        torch.manual_seed(0)
        contenders = {"torch.nn.GRU": torch.nn.GRU(inputs, hidden, batch_first=True), "MinGRU": rnnkit.MinGRU(inputs, hidden),
                      "MinLSTM": rnnkit.MinLSTM(inputs, hidden)}
        contenders = {name: layer.to(device, dtype) for name, layer in contenders.items()}
        x = torch.randn(batch, steps, inputs, device=device, dtype=dtype, requires_grad=True)
        grad = torch.randn(batch, steps, hidden, device=device, dtype=dtype)
        s = race(contenders, x, grad, device, repeats)
        print(f"{steps:>6} {s['torch.nn.GRU']:>12,.0f} {s['MinGRU']:>12,.0f} {s['MinLSTM']:>12,.0f} "
              f"{s['MinGRU'] / s['torch.nn.GRU']:>11.2f} {s['MinLSTM'] / s['torch.nn.GRU']:>12.2f}", flush=True)
        results.append({"T": steps, "B": batch, "H": hidden, "I": inputs, "tokens_per_s": s})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["cells", "scan", "both"], default="both")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows", help="only the cells-part rows whose names contain one of these (comma-separated)")
    parser.add_argument("--scan-steps", default="256,1024,4096,16384")
    parser.add_argument("--scan-input", type=int, default=256, help="input size of the scan rows")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {where}, {args.dtype}; forward+backward, tokens/s (median of {args.repeats})")
    results = {}
    if args.part in ("cells", "both"):
        results["cells"] = cells_part(device, dtype, args.repeats, args.rows.split(",") if args.rows else None)
    if args.part in ("scan", "both"):
        results["scan"] = scan_part(device, dtype, args.repeats, [int(t) for t in args.scan_steps.split(",")], args.scan_input)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
