"""`rnnkit serve`: trained runs behind an HTTP API (needs the serve extra)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve trained runs over HTTP (needs the serve extra)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Serve one or more trained runs (lm, classify, translate, forecast) over HTTP on this machine. Endpoints: "
        "GET /healthz, GET /readyz (503 until the models are loaded), GET /v1/models, POST /v1/lm (prompt, "
        "max_tokens, temperature, top_k, seed, stream: server-sent events), POST /v1/classify (inputs: texts or "
        "series), POST /v1/translate (texts, beam), POST /v1/forecast (columns: {name: values}); a `model` field picks one of several runs of a task "
        "by its directory name. Bad requests get a 4xx with {\"error\": {\"code\", \"message\", \"field\"}}. "
        "Binds to 127.0.0.1 unless --host says otherwise. Needs: pip install 'rnnkit[serve]'.",
        epilog="examples:\n"
        "  rnnkit serve runs/lm runs/sst2\n"
        "  curl -s localhost:8000/v1/lm -d '{\"prompt\": \"The \", \"max_tokens\": 40}'\n"
        "  rnnkit serve runs/lm --backend onnx        (serves runs/lm/export through onnxruntime)")
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR", help="trained run directories")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--backend", choices=["torch", "onnx"], default="torch",
                        help="eager torch (default) or the run's ONNX export through onnxruntime")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--max-body-bytes", type=int, default=1 << 20, help="larger request bodies get 413 (default 1 MiB)")
    parser.add_argument("--max-items", type=int, default=64, help="texts or series per classify request (default 64)")
    parser.add_argument("--max-chars", type=int, default=20_000, help="characters of a prompt or a text (default 20,000)")
    parser.add_argument("--max-steps", type=int, default=100_000, help="time steps of a series or forecast history (default 100,000)")
    parser.add_argument("--max-tokens", type=int, default=1_000, help="tokens one generation may ask for (default 1,000)")
    parser.add_argument("--max-in-flight", type=int, default=8, help="requests answered at once; more get 503 (default 8)")
    parser.add_argument("--max-batch", type=int, default=1, help="run the rows of concurrent classify requests together, up to "
                        "this many (default 1: each request alone)")
    parser.add_argument("--max-wait-ms", type=float, default=5.0, help="how long a request waits for others to batch with (default 5)")
    parser.add_argument("--max-audio-seconds", type=float, default=60.0, help="length of one speech request's audio (default 60)")
    parser.set_defaults(run=_serve)


def _serve(args) -> int:
    try:
        import uvicorn

        from rnnkit.serve.app import Limits, build_app
    except ImportError as err:
        raise ValueError(f"rnnkit serve needs FastAPI and uvicorn ({err.name} is missing): pip install 'rnnkit[serve]'") from err
    import torch

    from rnnkit.serve import load_service

    for name in ("max_body_bytes", "max_items", "max_chars", "max_steps", "max_tokens", "max_in_flight", "max_batch", "threads"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1; got {getattr(args, name)}")
    names = [run.resolve().name for run in args.runs]
    if len(set(names)) != len(names):
        raise ValueError(f"two runs share a directory name ({names}); the name is how requests pick a model")
    for run in args.runs:
        if not (run / "run.json").is_file():
            raise ValueError(f"{run} is not a run directory (no run.json)")
    torch.set_num_threads(args.threads)
    if not 0 <= args.max_wait_ms <= 1000:
        raise ValueError(f"--max-wait-ms must lie in [0, 1000]; got {args.max_wait_ms}")
    if not args.max_audio_seconds > 0:
        raise ValueError(f"--max-audio-seconds must be positive; got {args.max_audio_seconds}")
    limits = Limits(args.max_body_bytes, args.max_items, args.max_chars, args.max_steps, args.max_tokens, args.max_in_flight,
                    args.max_batch, args.max_wait_ms, args.max_audio_seconds)
    app = build_app(lambda: [load_service(run, args.backend) for run in args.runs], limits)
    if args.host not in LOOPBACK:
        print(f"rnnkit serve: listening on {args.host}, reachable from other machines; there is no authentication", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0
