"""`rnnkit export`: a trained run directory to ONNX files checked against the eager model."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="export a trained run to ONNX (needs the export extra)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Export a trained run to ONNX: one file per graph (no external weights) with symbolic batch and "
        "time axes, and export.json with the inputs, outputs, state layout, vocabulary or scaler and labels the run "
        "uses, enough to run it with onnxruntime and numpy alone (rnnkit.runtime does). lm: model.onnx (whole "
        "sequences) and step.onnx (one token per row, for generation); classify: model.onnx (padded inputs and "
        "lengths); translate: encoder.onnx and decoder_step.onnx; forecast: model.onnx (scaled windows); speech: "
        "features.onnx (one clip's framed samples) and model.onnx (stacked features and lengths). Before the files are kept, onnxruntime is run at batch "
        "sizes and lengths the trace did not see and compared with the eager model; a difference beyond rtol 1e-4 / "
        "atol 1e-5, or an axis the exporter froze, fails the command. Needs: pip install 'rnnkit[export]'.",
        epilog="examples:\n"
        "  rnnkit export runs/lm                     (writes runs/lm/export/)\n"
        "  rnnkit export runs/sst2 --out deploy/sst2 --json")
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a trained run directory")
    parser.add_argument("--out", type=Path, help="the export folder (default: RUN_DIR/export; an earlier export there is replaced)")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")
    parser.add_argument("--json", action="store_true", help="print export.json instead of a summary")
    parser.set_defaults(run=_export)


def _export(args) -> int:
    from rnnkit.export import export_run

    if args.opset < 14:
        raise ValueError(f"--opset must be 14 or more (the RNN operators with batch-first layout); got {args.opset}")
    quiet = (lambda message: None) if args.json else (lambda message: print(message, file=sys.stderr))
    spec = export_run(args.run_dir, args.out, args.opset, progress=quiet)
    out = args.out or args.run_dir / "export"
    if args.json:
        print(json.dumps(spec, indent=2))
        return 0
    for graph in spec["graphs"].values():
        parity = graph["parity"]
        ports = ", ".join(f"{p['name']} {p['shape']}" for p in graph["inputs"])
        print(f"{out / graph['file']}: {ports}; onnxruntime matches torch to {parity['max_abs_diff']:.1e}")
    if spec.get("whole_sequence"):
        print(spec["whole_sequence"])
    print(f"export.json written to {out}; run it with: python -c \"from rnnkit import runtime; m = runtime.load('{out}')\"")
    return 0
